"""The nightly tier evaluation: fan-out in a real worker, resumable and idempotent runs, failures, the
`evaluate` command, beat's schedule, and the instant re-score after an approval."""

import re
import threading
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from celery.signals import task_postrun
from dateutil.relativedelta import relativedelta
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

import tiers.services
from earning.services import activity_approve
from loyalty.celery import app as celery_app
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ActivityKind, Partner, PartnerType
from partners.services import activity_record
from tests.conftest import World
from tests.support import wait_for
from tiers.demo import _build_model
from tiers.models import EvaluationRun, PartnerScore, PartnerTier, Tier, TierChange, TierModel
from tiers.services import evaluation_chunk, evaluation_start, tenant_evaluate, tier_model_publish
from tiers.tasks import evaluate_all_tenants, evaluate_tenant

PARTNERS = 25  # per tenant, active; each tenant also has one suspended partner
CHUNK = 10  # so a tenant spans three chunks


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiers.services, "CHUNK_SIZE", CHUNK)


def today_in(world: World) -> date:
    with tenant_context(world.tenant):
        return timezone.localdate()


def program(world: World) -> TierModel:
    """The demo scorecard (four tiers, two pathways), active since a year ago, for the world's tenant."""
    with tenant_context(world.tenant):
        PartnerType.objects.get_or_create(code="installer", defaults={"name": "Installer"})
        model = _build_model(
            name="Program",
            version=1,
            effective_from=timezone.localdate() - relativedelta(years=1, days=10),
            score_shift=Decimal(0),
            revenue_scale=Decimal(1),
        )
        return tier_model_publish(model=model, actor=world.manager)


def approved(world: World, partner_id: int, kind: str, days_ago: int, **fields) -> Activity:
    return Activity(
        tenant_id=world.tenant.pk,
        partner_id=partner_id,
        kind=kind,
        occurred_at=timezone.now() - timedelta(days=days_ago),
        source=Activity.Source.ADMIN,
        status=Activity.Status.APPROVED,
        # bulk_create skips save(): an amount in USD is its own converted amount
        amount_converted=fields.get("amount"),
        **fields,
    )


def populate(world: World, count: int = PARTNERS) -> list[int]:
    """Grow the world to `count` active partners of two types with a spread of scores, plus a suspended one."""
    with tenant_context(world.tenant):
        types = list(PartnerType.objects.order_by("code"))  # installer, reseller
        Partner.objects.bulk_create(
            [
                Partner(
                    tenant_id=world.tenant.pk,
                    external_id=f"GEN-{index:03d}",
                    name=f"Generated {index}",
                    partner_type=types[index % 2],
                )
                for index in range(count - 2)
            ]
            + [
                Partner(
                    tenant_id=world.tenant.pk,
                    external_id="GEN-GONE",
                    name="Gone",
                    partner_type=types[0],
                    status=Partner.Status.SUSPENDED,
                )
            ]
        )
        ids = list(Partner.objects.filter(status=Partner.Status.ACTIVE).order_by("pk").values_list("pk", flat=True))
        activities = []
        for index, partner_id in enumerate(ids):
            activities.append(
                approved(world, partner_id, ActivityKind.SALE, 20, amount=Decimal(12000 * index + 1), currency="USD")
            )
            activities += [approved(world, partner_id, ActivityKind.TRAINING, 30 + n) for n in range(index % 7)]
            activities += [
                approved(world, partner_id, ActivityKind.CERTIFICATION, 40, code=f"CERT-{n}") for n in range(index % 4)
            ]
            activities += [approved(world, partner_id, ActivityKind.DEAL_REGISTRATION, 5) for _ in range(index % 9)]
        Activity.objects.bulk_create(activities)
    assert len(ids) == count
    return ids


def nightly_scores(world: World, evaluated_on: date) -> Counter:
    with tenant_context(world.tenant):
        return Counter(
            PartnerScore.objects.filter(evaluated_on=evaluated_on, source=PartnerScore.Source.NIGHTLY).values_list(
                "partner_id", flat=True
            )
        )


def run_of(world: World, evaluated_on: date) -> EvaluationRun:
    return EvaluationRun.all_tenants.get(tenant=world.tenant, evaluated_on=evaluated_on)


def tier_named(world: World, name: str) -> Tier:
    return Tier.all_tenants.get(tenant=world.tenant, model__status=TierModel.Status.ACTIVE, name=name)


def state_of(world: World, partner: Partner) -> PartnerTier:
    return PartnerTier.all_tenants.select_related("tier").get(tenant=world.tenant, partner=partner)


# The nightly fan-out in a real worker ----------------------------------------------------------------------------


def test_fan_out_in_a_worker_evaluates_every_active_partner_once_and_a_rerun_adds_nothing(
    worker: None, small_chunks: None, acme: World, globex: World, request: pytest.FixtureRequest
) -> None:
    worlds = (acme, globex)
    ids = {}
    for world in worlds:
        program(world)
        ids[world.tenant.slug] = populate(world)
    ran: list[tuple[str, int]] = []

    def record(sender, kwargs, **_extra) -> None:  # noqa: ANN001 - celery's signal arguments
        ran.append((sender.name, kwargs.get("tenant_id", 0)))

    task_postrun.connect(record, weak=False)
    request.addfinalizer(lambda: task_postrun.disconnect(record))
    evaluate_all_tenants.delay()

    def completed() -> bool:
        runs = EvaluationRun.all_tenants.filter(status=EvaluationRun.Status.COMPLETED)
        return runs.count() == len(worlds)

    assert wait_for(completed), list(EvaluationRun.all_tenants.values("tenant__slug", "status", "done", "total"))
    for world in worlds:
        today = today_in(world)
        run = run_of(world, today)
        assert (run.status, run.done, run.total) == (EvaluationRun.Status.COMPLETED, PARTNERS, PARTNERS)
        assert run.finished_at is not None
        assert run.errors == []
        assert nightly_scores(world, today) == Counter(ids[world.tenant.slug])  # each active partner exactly once
        assert set(PartnerScore.all_tenants.filter(run=run).values_list("partner_id", flat=True)) == set(
            ids[world.tenant.slug]
        )
    tiers_reached = Counter(PartnerTier.all_tenants.values_list("tenant__slug", "tier__name"))
    assert {slug for slug, _name in tiers_reached} == {"acme", "globex"}
    assert len({name for _slug, name in tiers_reached}) >= 3, tiers_reached  # the data spreads over tiers
    assert wait_for(lambda: len(ran) == 1 + 2 + 2 * 3), ran  # fan-out, one per tenant, three chunks each
    assert Counter(ran) == {
        ("tiers.evaluate_all_tenants", 0): 1,
        ("tiers.evaluate_tenant", acme.tenant.pk): 1,
        ("tiers.evaluate_tenant", globex.tenant.pk): 1,
        ("tiers.evaluate_chunk", acme.tenant.pk): 3,
        ("tiers.evaluate_chunk", globex.tenant.pk): 3,
    }
    scores, changes = PartnerScore.all_tenants.count(), TierChange.all_tenants.count()
    assert (scores, changes) == (2 * PARTNERS, 2 * PARTNERS)  # one score and one first assignment per partner

    finished = {run.pk: run.finished_at for run in EvaluationRun.all_tenants.all()}
    evaluate_all_tenants.delay()

    def rerun_finished() -> bool:
        runs = list(EvaluationRun.all_tenants.all())
        return all(run.status == EvaluationRun.Status.COMPLETED and run.finished_at > finished[run.pk] for run in runs)

    assert wait_for(rerun_finished)
    assert wait_for(lambda: len(ran) == 9 + 3)
    assert [name for name, _tenant in ran[9:]].count("tiers.evaluate_chunk") == 0  # nothing left to chunk
    assert (PartnerScore.all_tenants.count(), TierChange.all_tenants.count()) == (scores, changes)
    assert EvaluationRun.all_tenants.count() == len(worlds)
    for world in worlds:
        run = run_of(world, today_in(world))
        assert (run.done, run.total) == (PARTNERS, PARTNERS)


# Resumable and idempotent ----------------------------------------------------------------------------------------


def test_a_run_cut_off_after_its_first_chunk_resumes_without_duplicates(small_chunks: None, acme: World) -> None:
    program(acme)
    ids = populate(acme)
    today = today_in(acme)
    with tenant_context(acme.tenant):
        run, chunks = evaluation_start(evaluated_on=today)
        assert [len(chunk) for chunk in chunks] == [10, 10, 5]
        assert evaluation_chunk(run=run, partner_ids=chunks[0]).evaluated == 10  # then the worker dies
        run.refresh_from_db()
        assert (run.status, run.done, run.total) == (EvaluationRun.Status.RUNNING, 10, PARTNERS)
        assert evaluation_chunk(run=run, partner_ids=chunks[0]).evaluated == 0  # a redelivered chunk adds nothing
        run.refresh_from_db()
        assert run.done == 10
        assert evaluation_start(evaluated_on=today)[1] == chunks[1:]  # only what is missing is left
    first_changes = set(TierChange.all_tenants.values_list("partner_id", flat=True))
    assert first_changes == set(chunks[0])

    evaluate_tenant.delay(tenant_id=acme.tenant.pk, evaluated_on=today.isoformat())

    run.refresh_from_db()
    assert (run.status, run.done, run.total) == (EvaluationRun.Status.COMPLETED, PARTNERS, PARTNERS)
    assert nightly_scores(acme, today) == Counter(ids)
    changes = Counter(TierChange.all_tenants.values_list("partner_id", "evaluated_on"))
    assert changes == Counter((partner_id, today) for partner_id in ids)  # one first assignment each, no repeats
    evaluate_tenant.delay(tenant_id=acme.tenant.pk, evaluated_on=today.isoformat())
    assert nightly_scores(acme, today) == Counter(ids)
    assert TierChange.all_tenants.count() == PARTNERS


def test_a_failing_chunk_marks_the_run_failed_with_the_error_and_a_rerun_completes_it(
    small_chunks: None, acme: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    program(acme)
    ids = populate(acme)
    today = today_in(acme)
    calls = []

    def flaky(real):  # noqa: ANN001, ANN202
        def scoring(**kwargs):  # noqa: ANN003, ANN202 - the scoring's keyword arguments
            calls.append(len(kwargs["partners"]))
            if len(calls) == 2:
                raise RuntimeError("metrics database went away")
            return real(**kwargs)

        return scoring

    # The nightly run scores in SQL on PostgreSQL, with the engine elsewhere: the second chunk fails either way.
    for name in ("evaluate_partners", "chunk_score"):
        monkeypatch.setattr(tiers.services, name, flaky(getattr(tiers.services, name)))
    with pytest.raises(RuntimeError, match="went away"):
        evaluate_tenant.delay(tenant_id=acme.tenant.pk, evaluated_on=today.isoformat())
    run = run_of(acme, today)
    assert run.status == EvaluationRun.Status.FAILED
    assert run.errors == ["RuntimeError: metrics database went away"]
    assert (run.done, run.total) == (10, PARTNERS)  # the failed chunk wrote nothing
    assert sum(nightly_scores(acme, today).values()) == 10
    assert run.finished_at is None

    evaluate_tenant.delay(tenant_id=acme.tenant.pk, evaluated_on=today.isoformat())
    run.refresh_from_db()
    assert (run.status, run.done, run.total) == (EvaluationRun.Status.COMPLETED, PARTNERS, PARTNERS)
    assert run.errors == ["RuntimeError: metrics database went away"]  # kept for the admin
    assert run.finished_at is not None
    assert nightly_scores(acme, today) == Counter(ids)
    assert TierChange.all_tenants.count() == PARTNERS


def test_a_chunk_delivered_twice_at_once_leaves_the_run_completed(transactional_db: None, acme: World) -> None:
    """acks_late redelivers a chunk whose first delivery is still running: the copies overlap in time."""
    if connection.vendor != "postgresql":
        pytest.skip("two concurrent transactions need PostgreSQL")
    program(acme)
    ids = populate(acme)
    today = today_in(acme)
    with tenant_context(acme.tenant):
        run, [chunk] = evaluation_start(evaluated_on=today)
    barrier = threading.Barrier(2, timeout=30)
    failures: list[BaseException] = []

    def copy() -> None:
        try:
            with tenant_context(acme.tenant):
                barrier.wait()
                evaluation_chunk(run=EvaluationRun.objects.get(pk=run.pk), partner_ids=chunk)
        except BaseException as error:  # noqa: BLE001 - asserted below
            failures.append(error)
        finally:
            connection.close()

    # The chunk's partner rows are locked first: the copies run one after the other, the second finds all done.
    threads = [threading.Thread(target=copy) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    run.refresh_from_db()
    assert nightly_scores(acme, today) == Counter(ids)
    assert TierChange.all_tenants.count() == PARTNERS
    assert (run.done, run.total) == (PARTNERS, PARTNERS)
    assert run.status == EvaluationRun.Status.COMPLETED, (run.status, run.errors)


# The `evaluate` command -----------------------------------------------------------------------------------------

SUMMARY = re.compile(r"^evaluated (\d+) partners: (\d+) up, (\d+) down, (\d+) same in \d+\.\d s$")


def evaluate(*args: str) -> str:
    out = StringIO()
    call_command("evaluate", *args, stdout=out)
    return out.getvalue()


def test_evaluate_command_prints_its_summary_and_honours_date(acme: World) -> None:
    program(acme)
    ids = populate(acme)
    today = today_in(acme)
    month_ago = today - timedelta(days=60)  # before every generated activity: everyone qualifies Registered

    output = evaluate("--tenant", "acme", "--date", month_ago.isoformat())
    assert SUMMARY.match(output.rstrip("\n")), output
    assert output.endswith(" s\n")
    assert output.count("\n") == 1
    assert SUMMARY.match(output.rstrip("\n")).groups() == (str(PARTNERS), "0", "0", str(PARTNERS))
    assert nightly_scores(acme, month_ago) == Counter(ids)
    assert run_of(acme, month_ago).status == EvaluationRun.Status.COMPLETED
    assert set(PartnerTier.all_tenants.values_list("tier__name", flat=True)) == {"Registered"}

    output = evaluate("--tenant", "acme")
    evaluated, up, down, same = map(int, SUMMARY.match(output.rstrip("\n")).groups())
    with tenant_context(acme.tenant):
        upgraded = TierChange.objects.filter(evaluated_on=today, from_tier__isnull=False).count()
        above_entry = PartnerTier.objects.exclude(tier__name="Registered").count()
    assert upgraded == above_entry > 0
    assert (evaluated, up, down, same) == (PARTNERS, upgraded, 0, PARTNERS - upgraded)
    assert nightly_scores(acme, today) == Counter(ids)

    assert SUMMARY.match(evaluate("--tenant", "acme").rstrip("\n")).groups() == tuple(
        map(str, (PARTNERS, upgraded, 0, PARTNERS - upgraded))
    )  # a re-run reports the day's run and writes nothing more
    assert TierChange.all_tenants.filter(evaluated_on=today).count() == upgraded


def test_evaluate_command_refuses_an_unknown_tenant(acme: World) -> None:
    with pytest.raises(CommandError, match="No tenant with slug 'nobody'"):
        evaluate("--tenant", "nobody")


def test_evaluate_command_refuses_when_no_model_is_in_force(acme: World, globex: World) -> None:
    program(acme)
    with pytest.raises(CommandError, match="No tier model is in force on that date."):
        evaluate("--tenant", "globex")  # globex has no model at all
    before = (today_in(acme) - relativedelta(years=2)).isoformat()
    with pytest.raises(CommandError, match="No tier model is in force on that date."):
        evaluate("--tenant", "acme", "--date", before)  # acme's model starts a year ago
    assert not EvaluationRun.all_tenants.exists()
    assert not PartnerScore.all_tenants.exists()


def test_evaluate_command_rejects_a_malformed_date(acme: World) -> None:
    with pytest.raises(CommandError, match="date"):
        evaluate("--tenant", "acme", "--date", "31/12/2024")


# Beat's schedule --------------------------------------------------------------------------------------------------


def test_nightly_evaluation_is_scheduled_in_beat(db: None) -> None:
    task = PeriodicTask.objects.get(task="tiers.evaluate_all_tenants")
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "3", "*")
    assert "tiers.evaluate_all_tenants" in celery_app.tasks


# Instant re-score on approval --------------------------------------------------------------------------------------


def approve(world: World, capture, *, kind: str = ActivityKind.SALE, rescore: bool = True, **fields) -> None:  # noqa: ANN001
    """Record a pending activity for the world's partner and approve it; the re-score runs on commit."""
    fields = {"occurred_at": timezone.now() - timedelta(hours=2), "source": Activity.Source.ADMIN} | fields
    if kind in {ActivityKind.SALE, ActivityKind.DEAL_REGISTRATION}:
        fields.setdefault("currency", "USD")
    with tenant_context(world.tenant):
        activity = activity_record(partner=world.partner, kind=kind, **fields).activity
        if rescore:
            with capture(execute=True):
                activity_approve(activity=activity, actor=world.manager)
        else:  # the re-score task is lost (its on-commit callback never runs)
            activity_approve(activity=activity, actor=world.manager)


def nightly(world: World) -> None:
    with tenant_context(world.tenant):
        tenant_evaluate(
            evaluated_on=timezone.localdate(), dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
        )


def instant_score(world: World) -> PartnerScore:
    return PartnerScore.all_tenants.get(tenant=world.tenant, partner=world.partner, source=PartnerScore.Source.INSTANT)


def test_approval_that_crosses_the_next_minimum_upgrades_at_once(
    acme: World, django_capture_on_commit_callbacks
) -> None:
    program(acme)
    nightly(acme)
    assert state_of(acme, acme.partner).tier.name == "Registered"
    changes_before = TierChange.all_tenants.count()

    approve(acme, django_capture_on_commit_callbacks, amount=Decimal("240000"))  # 32: not yet Silver (40)
    assert state_of(acme, acme.partner).tier.name == "Registered"
    assert (instant_score(acme).score, instant_score(acme).qualified_tier.name) == (Decimal("32.00"), "Registered")
    assert TierChange.all_tenants.count() == changes_before
    approve(acme, django_capture_on_commit_callbacks, amount=Decimal("60000"))  # exactly the Silver minimum

    state = state_of(acme, acme.partner)
    assert (state.tier.name, state.since) == ("Silver", today_in(acme))
    score = instant_score(acme)  # the previous instant score of the day is replaced
    assert (score.score, score.tier.name, score.qualified_tier.name) == (Decimal("40.00"), "Silver", "Silver")
    assert score.evaluated_on == today_in(acme)
    assert score.run is None
    change = TierChange.all_tenants.order_by("-pk").first()
    assert TierChange.all_tenants.count() == changes_before + 1
    assert (change.partner_id, change.from_tier.name, change.to_tier.name, change.cause) == (
        acme.partner.pk,
        "Registered",
        "Silver",
        TierChange.Cause.INSTANT,
    )
    assert change.score_id == score.pk
    assert PartnerScore.all_tenants.filter(partner=acme.partner, source=PartnerScore.Source.NIGHTLY).count() == 1


def test_approval_never_downgrades(acme: World, django_capture_on_commit_callbacks) -> None:
    program(acme)
    nightly(acme)
    gold = tier_named(acme, "Gold")
    PartnerTier.all_tenants.filter(partner=acme.partner).update(tier=gold)  # held above what it qualifies for
    changes_before = TierChange.all_tenants.count()

    approve(acme, django_capture_on_commit_callbacks, kind=ActivityKind.TRAINING, amount=None)

    state = state_of(acme, acme.partner)
    assert (state.tier, state.below_since) == (gold, None)  # no downgrade, and no grace clock started by it
    score = instant_score(acme)
    assert (score.score, score.qualified_tier.name, score.tier) == (Decimal("2.50"), "Registered", gold)
    assert TierChange.all_tenants.count() == changes_before


def test_first_instant_score_of_a_new_partner_is_recorded_as_instant(
    acme: World, django_capture_on_commit_callbacks
) -> None:
    program(acme)  # no nightly run yet: the partner has no tier state
    approve(acme, django_capture_on_commit_callbacks, amount=Decimal("300000"))
    assert state_of(acme, acme.partner).tier.name == "Silver"
    change = TierChange.all_tenants.get(partner=acme.partner)
    assert (change.from_tier, change.to_tier.name) == (None, "Silver")
    assert change.cause == TierChange.Cause.INSTANT


def test_nightly_upgrade_after_a_first_instant_score_the_same_day_completes(
    acme: World, django_capture_on_commit_callbacks
) -> None:
    program(acme)
    approve(acme, django_capture_on_commit_callbacks, amount=Decimal("300000"))  # instant: Silver
    for number in range(3):  # Gold's score and gate, approved while the re-score task is lost
        approve(acme, None, kind=ActivityKind.CERTIFICATION, code=f"CERT-{number}", rescore=False)
    for _ in range(8):
        approve(acme, None, kind=ActivityKind.DEAL_REGISTRATION, amount=Decimal(100), rescore=False)

    nightly(acme)  # the nightly run must catch up: Silver -> Gold

    run = run_of(acme, today_in(acme))
    assert (run.status, run.errors) == (EvaluationRun.Status.COMPLETED, [])
    assert state_of(acme, acme.partner).tier.name == "Gold"
    moves = list(
        TierChange.all_tenants.filter(partner=acme.partner).order_by("pk").values_list("to_tier__name", flat=True)
    )
    assert moves == ["Silver", "Gold"]
