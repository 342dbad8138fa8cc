"""Chaos: a real `celery worker` process SIGKILLed mid-task (the nightly evaluation, a webhook delivery, points expiry),
then a new worker started. Every partner ends scored exactly once, every delivery delivered at least once, every
expired lot expired once: nothing doubled, nothing lost.

The workers run with a visibility timeout of a few seconds (TIERLINE_CELERY_VISIBILITY_TIMEOUT), so Redis hands
the killed worker's message to the new one within the test instead of within the hour.
"""

import os
import re
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from loyalty.celery import app as celery_app
from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount, PointsLot
from loyalty.ledger.tasks import expire_points_all_tenants
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant
from partners.models import Partner
from tests.conftest import World
from tests.ledger.factories import set_expiry_rule
from tests.rewards.factories import give_points
from tests.support import CeleryProcess, wait_for
from tests.tiers.test_nightly import nightly_scores, populate, program, today_in
from tests.webhooks.conftest import Receiver
from tiers.models import EvaluationRun, PartnerScore, PartnerTier, TierChange
from tiers.tasks import evaluate_all_tenants
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_test_send
from webhooks.tasks import sweep

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="real worker processes share the test database"),
]

VISIBILITY_TIMEOUT = "6"
CHAOS_CHUNK_SIZE = 500


@pytest.fixture
def broker(settings) -> Iterator[None]:
    """The real Redis broker, emptied (the test's own Redis database): tasks published here go to the workers."""
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (set by .ci/run)")
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    celery_app.conf.task_always_eager = False  # the autouse _tasks_in_process fixture restores it
    yield
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture
def workers(tmp_path: Path, broker: None) -> Iterator[list[CeleryProcess]]:
    """Start workers with `start(name)`; every one still running at the end is killed."""
    started: list[CeleryProcess] = []
    yield started
    for worker in started:
        worker.kill()


def start_worker(workers: list[CeleryProcess], tmp_path: Path) -> CeleryProcess:
    worker = CeleryProcess(
        ["worker", "--pool", "prefork", "--concurrency", "1", "--loglevel", "info", "-n", f"chaos-{uuid.uuid4().hex}"],
        tmp_path / f"worker-{len(workers)}.log",
        TIERLINE_CELERY_VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT,
        # Chunks small enough to finish well within the visibility timeout on a loaded machine (a 5,000-partner
        # chunk took 16-20 s at load 10 and was handed out again while still running).
        TIERLINE_EVALUATION_CHUNK_SIZE=str(CHAOS_CHUNK_SIZE),
        TIERLINE_WEBHOOKS_ALLOW_HTTP="1",
        TIERLINE_WEBHOOKS_ALLOW_PRIVATE="1",
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
    )
    workers.append(worker)
    assert wait_for(lambda: "ready." in worker.log, seconds=60), worker.log
    return worker


class RowLock:
    """A row held FOR UPDATE by a connection of the test's own, so a worker touching it waits, mid-task."""

    def __init__(self, table: str, pk: int) -> None:
        self.connection = connection.get_new_connection(connection.get_connection_params())
        with self.connection.cursor() as cursor:
            # A bare connection carries no tenant: read as the platform, or row-level security hides the row.
            cursor.execute("SELECT set_config('tierline.platform', 'on', true)")
            cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [pk])  # noqa: S608 - a model's table
            assert cursor.rowcount == 1, "the row to hold was not found"

    def release(self) -> None:
        self.connection.rollback()
        self.connection.close()


def a_worker_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("killed", ["worker", "pool process"])
def test_nightly_evaluation_killed_mid_chunk_completes_after_restart_scoring_everyone_once(
    acme: World, workers: list[CeleryProcess], tmp_path: Path, killed: str
) -> None:
    """ "worker": the whole worker dies (its message comes back after the visibility timeout, to a new worker);
    "pool process": the process running the task dies (the OOM killer's pick; the worker hands it back at once)."""
    chunk_size = CHAOS_CHUNK_SIZE  # the workers'; two chunks, the second cut off by the kill
    program(acme)
    partner_ids = populate(acme, count=chunk_size + 40)
    with tenant_context(acme.tenant):
        give_points(acme.partner, 500, "chaos-earn")
        entries_before = list(LedgerEntry.objects.order_by("pk").values_list("pk", "points"))
    evaluated_on = today_in(acme)
    # The second chunk's last partner is held, so its chunk is mid-transaction (rows locked, nothing written)
    # when the worker dies.
    lock = RowLock(Partner._meta.db_table, partner_ids[-1])
    try:
        first = start_worker(workers, tmp_path)
        evaluate_all_tenants.delay()  # what beat sends at night
        assert wait_for(a_worker_waits_on_a_lock, seconds=120), first.log
        with tenant_context(acme.tenant):
            run = EvaluationRun.objects.get(evaluated_on=evaluated_on)
        assert (run.status, run.done, run.total) == ("running", chunk_size, len(partner_ids))
        if killed == "worker":
            first.kill()
        else:
            (pool_process,) = first.children()
            os.kill(pool_process, signal.SIGKILL)
    finally:
        lock.release()

    if killed == "worker":
        start_worker(workers, tmp_path)
    assert wait_for(lambda: run_status(acme, run.pk) == "completed", seconds=120), [w.log for w in workers]
    # Three chunk messages received: the first chunk, the second, and the second again after the kill.
    received = sum(len(re.findall(r"Task tiers\.evaluate_chunk\[[^]]+\] received", w.log)) for w in workers)
    assert received == 3, [w.log for w in workers]

    run.refresh_from_db()
    assert (run.done, run.total) == (len(partner_ids), len(partner_ids))
    assert nightly_scores(acme, evaluated_on) == Counter(dict.fromkeys(partner_ids, 1))
    with tenant_context(acme.tenant):
        changes = Counter(TierChange.objects.filter(evaluated_on=evaluated_on).values_list("partner_id", flat=True))
        tiered = PartnerScore.objects.filter(evaluated_on=evaluated_on, tier__isnull=False).count()
        # A first evaluation: one change per partner that reached a tier, none twice.
        assert set(changes.values()) == {1}
        assert len(changes) == tiered == PartnerTier.objects.count()
        assert list(LedgerEntry.objects.order_by("pk").values_list("pk", "points")) == entries_before
    call_command("ledger_verify")  # raises on any breach


def run_status(world: World, run_id: int) -> str:
    with tenant_context(world.tenant):
        return EvaluationRun.objects.get(pk=run_id).status


def test_webhook_delivery_killed_mid_send_is_delivered_after_restart_and_the_rest_once(
    acme: World, workers: list[CeleryProcess], tmp_path: Path
) -> None:
    receiver = Receiver()
    receiver.thread.start()
    receiver.delay_seconds = 3  # the first POST hangs; the worker is killed while it waits
    try:
        with tenant_context(acme.tenant):
            endpoint = WebhookEndpoint.objects.create(url=receiver.url, events=["webhook.test"])
        first = start_worker(workers, tmp_path)
        with tenant_context(acme.tenant):
            deliveries = [webhook_test_send(endpoint=endpoint).pk for _ in range(4)]
        assert wait_for(lambda: attempts(acme)[deliveries[0]] == 1, seconds=30), first.log
        first.kill()  # mid-send: claimed (attempt 1 recorded), the POST in flight, no outcome written
        receiver.delay_seconds = 0
        assert [status for status, _attempts in statuses(acme)] == ["pending"] * 4

        second = start_worker(workers, tmp_path)
        # The three never tried are sent by the new worker; the killed one waits for its retry time.
        assert wait_for(lambda: [row[0] for row in statuses(acme)] == ["pending"] + ["succeeded"] * 3), second.log
        with tenant_context(acme.tenant):  # its retry time comes (a minute in production)
            WebhookDelivery.objects.filter(pk=deliveries[0]).update(next_attempt_at=timezone.now())
        sweep.delay()  # beat's minute
        assert wait_for(lambda: statuses(acme) == [("succeeded", 2)] + [("succeeded", 1)] * 3), second.log
        assert wait_for(lambda: len(receiver.received) >= 5, seconds=10)  # the killed try's POST lands late
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    event_ids = Counter(item.json["id"] for item in receiver.received)
    with tenant_context(acme.tenant):
        expected = {str(delivery.event_id): delivery.pk for delivery in WebhookDelivery.objects.all()}
    assert set(event_ids) == set(expected)  # every delivery delivered at least once
    assert sorted(event_ids.values()) == [1, 1, 1, 2]  # only the killed one twice: its lost try and its retry
    assert event_ids[next(key for key, pk in expected.items() if pk == deliveries[0])] == 2


def attempts(world: World) -> dict[int, int]:
    with tenant_context(world.tenant):
        return dict(WebhookDelivery.objects.values_list("pk", "attempts"))


def statuses(world: World) -> list[tuple[str, int]]:
    with tenant_context(world.tenant):
        return list(WebhookDelivery.objects.order_by("pk").values_list("status", "attempts"))


def test_points_expiry_killed_mid_run_expires_each_lot_once_after_restart(
    acme: World, workers: list[CeleryProcess], tmp_path: Path
) -> None:
    set_expiry_rule(acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
    with tenant_context(acme.tenant):
        partners = [acme.partner, acme.unmanaged_partner]
        for number in range(6):
            give_points(partners[number % 2], 10 + number, f"old-{number}", days_ago=40 + number)
        give_points(acme.partner, 100, "recent")
        expired_lots = list(PointsLot.objects.filter(expires_at__lte=timezone.now()).order_by("pk"))
    assert len(expired_lots) == 6
    # The fourth lot to expire is held: three lots are expired (each in its own transaction) when the worker dies.
    lock = RowLock(PointsLot._meta.db_table, expired_lots[3].pk)  # points_expire_due goes by pk
    try:
        first = start_worker(workers, tmp_path)
        expire_points_all_tenants.delay()  # what beat sends at night
        assert wait_for(a_worker_waits_on_a_lock, seconds=60), first.log
        assert expire_entries(acme) == 3
        first.kill()
    finally:
        lock.release()

    second = start_worker(workers, tmp_path)
    assert wait_for(lambda: expire_entries(acme) == 6, seconds=90), second.log
    assert not wait_for(lambda: expire_entries(acme) > 6, seconds=2)
    with tenant_context(acme.tenant):
        expiries = LedgerEntry.objects.filter(kind=EntryKind.EXPIRE)
        assert sorted(expiries.values_list("expired_lot_id", flat=True)) == sorted(lot.pk for lot in expired_lots)
        assert sorted(expiries.values_list("points", flat=True)) == [-15, -14, -13, -12, -11, -10]
        assert PointsLot.objects.filter(remaining__gt=0).count() == 1  # the recent lot
        assert sum(PointsAccount.objects.values_list("balance", flat=True)) == 100
    call_command("ledger_verify")


def expire_entries(world: World) -> int:
    with tenant_context(world.tenant):
        return LedgerEntry.objects.filter(kind=EntryKind.EXPIRE).count()
