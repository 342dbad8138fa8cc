"""A single beat: two real `celery beat` processes on the test database send a due evaluation once, and the
standby takes over when the leader is SIGKILLed (loyalty/beat.py)."""

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from loyalty.beat import LockedDatabaseScheduler
from loyalty.celery import app as celery_app
from tests.support import CeleryProcess, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the beat lock is a PostgreSQL advisory lock"),
]

LEADER = re.compile(r"Beat lock acquired \(process (\d+)\)")
STANDBY = "Beat lock held by another beat"


@pytest.fixture
def queue(settings) -> Iterator[tuple[str, redis.Redis]]:
    """A queue of the test's own on the real Redis, so counting its messages counts what the beats sent."""
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (set by .ci/run)")
    name = f"beat-test-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield name, client
    client.delete(name)


def evaluation_due_now(queue_name: str) -> PeriodicTask:
    """The nightly evaluation, hourly here and last run two hours ago: due once at start, then not for an hour."""
    PeriodicTask.objects.update(enabled=False)
    every_hour, _created = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    return PeriodicTask.objects.create(
        name="test: nightly evaluation",
        task="tiers.evaluate_all_tenants",
        interval=every_hour,
        queue=queue_name,
        last_run_at=timezone.now() - timedelta(hours=2),
    )


def start_beat(tmp_path: Path, name: str) -> CeleryProcess:
    # --max-interval 1: the standby polls the lock every second instead of every five.
    return CeleryProcess(["beat", "-l", "info", "--max-interval", "1"], tmp_path / f"{name}.log")


def beat_logs(beats: list[CeleryProcess]) -> str:
    """Both beats' whole logs, for a failure message (pytest shortens a list's repr to its first lines)."""
    return "\n\n".join(f"--- {beat.log_path.name}\n{beat.log}" for beat in beats)


def test_a_schedule_change_while_the_heap_fills_does_not_send_a_due_task_twice() -> None:
    """The double send CI caught once: another beat starting writes its entries while the leader's first tick fills
    its heap; the next tick refilled the heap from the entry as it was before it was sent, still due."""
    periodic = evaluation_due_now("beat-test-unused")
    scheduler = LockedDatabaseScheduler(app=celery_app)
    sent: list[str] = []
    scheduler.producer = None  # nothing reaches a broker: apply_async below records what would be sent
    scheduler.apply_async = lambda entry, producer=None, advance=True, **kwargs: sent.append(entry.name)
    scheduler.schedule_changed()  # the scheduler notes the schedule's last change, as at its start
    schedule_read = scheduler.all_as_schedule
    another_beat_started = False

    def read_while_another_beat_starts() -> dict:
        """What another beat's start writes, once, between the first two reads of the schedule in the first tick."""
        nonlocal another_beat_started
        schedule = schedule_read()
        if not another_beat_started:
            PeriodicTasks.update_changed()
            another_beat_started = True
        return schedule

    scheduler.all_as_schedule = read_while_another_beat_starts
    try:
        for _ in range(4):
            scheduler.tick()
    finally:
        scheduler.close()
    assert sent == [periodic.name]
    periodic.refresh_from_db()
    assert periodic.total_run_count == 1


def test_two_beats_send_a_due_evaluation_once_and_the_standby_takes_over(
    tmp_path: Path, queue: tuple[str, redis.Redis]
) -> None:
    queue_name, client = queue
    periodic = evaluation_due_now(queue_name)
    beats = [start_beat(tmp_path, "first"), start_beat(tmp_path, "second")]
    try:
        assert wait_for(lambda: all(LEADER.search(beat.log) or STANDBY in beat.log for beat in beats), seconds=30), (
            beat_logs(beats)
        )
        leaders = [beat for beat in beats if LEADER.search(beat.log)]
        assert len(leaders) == 1, beat_logs(beats)
        leader, standby = leaders[0], next(beat for beat in beats if beat is not leaders[0])
        # The leader's first tick loads the schedule from the database; on a loaded CI machine that took over 20 s.
        assert wait_for(lambda: client.llen(queue_name) >= 1, seconds=45), beat_logs(beats)
        assert not wait_for(lambda: client.llen(queue_name) > 1, seconds=4), beat_logs(beats)  # several ticks each
        periodic.refresh_from_db()
        assert periodic.total_run_count == 1  # written at once, not at the next periodic sync

        leader.kill()
        assert wait_for(lambda: LEADER.search(standby.log), seconds=20), beat_logs(beats)
        assert LEADER.search(standby.log).group(1) == str(standby.pid)
        # The new leader read the run the old one wrote: nothing is sent twice…
        assert not wait_for(lambda: client.llen(queue_name) > 1, seconds=3), beat_logs(beats)
        # …and it does send what comes due.
        periodic.last_run_at = timezone.now() - timedelta(hours=2)
        periodic.save(update_fields=["last_run_at"])
        assert wait_for(lambda: client.llen(queue_name) >= 2, seconds=20), beat_logs(beats)
        assert not wait_for(lambda: client.llen(queue_name) > 2, seconds=3), beat_logs(beats)
    finally:
        for beat in beats:
            beat.kill()
