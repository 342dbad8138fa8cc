"""A nightly run whose worker died mid-way is found by its lack of progress and finished, once (issue 17, item 31)."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from loyalty.celery import app as celery_app
from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.tiers.test_nightly import (  # noqa: F401 - small_chunks is a fixture
    PARTNERS,
    nightly_scores,
    populate,
    program,
    run_of,
    small_chunks,
    today_in,
)
from tiers.models import EvaluationRun, TierChange
from tiers.services import evaluation_chunk, evaluation_runs_resume_stalled, evaluation_start
from tiers.tasks import resume_stalled_evaluations

STALL = 25  # settings.EVALUATION_STALL_MINUTES


def cut_off_after_one_chunk(world: World) -> tuple[EvaluationRun, list[list[int]]]:
    """Open today's run and score its first chunk; the worker holding the other chunks' messages dies."""
    with tenant_context(world.tenant):
        run, chunks = evaluation_start(evaluated_on=today_in(world))
        evaluation_chunk(run=run, partner_ids=chunks[0])
    return run, chunks


def last_progress(run: EvaluationRun, minutes_ago: int) -> None:
    EvaluationRun.all_tenants.filter(pk=run.pk).update(progressed_at=timezone.now() - timedelta(minutes=minutes_ago))


@pytest.mark.usefixtures("small_chunks")
def test_a_stalled_run_has_its_missing_chunks_resent_and_completes_once(acme: World) -> None:
    """Issue 17, item 31: a worker killed during the nightly evaluation left the run "running" at half its partners
    until the broker's visibility timeout (1 h) or a manual restart."""
    program(acme)
    ids = populate(acme)
    run, chunks = cut_off_after_one_chunk(acme)
    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    progressed = run_of(acme, run.evaluated_on).progressed_at
    assert timezone.now() - progressed < timedelta(minutes=1)  # a chunk's commit is progress

    last_progress(run, minutes_ago=STALL - 1)
    assert resume_stalled_evaluations.delay().get() == 0  # slow is not stalled
    assert run_of(acme, run.evaluated_on).done == 10

    last_progress(run, minutes_ago=STALL + 1)
    assert resume_stalled_evaluations.delay().get() == 1

    run = run_of(acme, run.evaluated_on)
    assert (run.status, run.done, run.total) == (EvaluationRun.Status.COMPLETED, PARTNERS, PARTNERS)
    assert run.errors == [f"No progress for {STALL} minutes: re-sent 2 chunk(s) of 15 partner(s)."]
    assert nightly_scores(acme, run.evaluated_on) == Counter(ids)
    assert Counter(TierChange.all_tenants.values_list("partner_id", flat=True)) == Counter(ids)
    last_progress(run, minutes_ago=STALL + 1)
    assert resume_stalled_evaluations.delay().get() == 0  # a completed run is left alone


@pytest.mark.usefixtures("small_chunks")
def test_a_stalled_run_is_claimed_by_one_watchdog_only(acme: World) -> None:
    """Issue 17, item 31: re-sending is idempotent: a second watchdog (or the next tick) sends nothing again."""
    program(acme)
    populate(acme)
    run, _chunks = cut_off_after_one_chunk(acme)
    last_progress(run, minutes_ago=STALL + 1)
    sent = []
    with tenant_context(acme.tenant):
        first = evaluation_runs_resume_stalled(stall_minutes=STALL, dispatch=lambda run, chunk: sent.append(chunk))
        second = evaluation_runs_resume_stalled(stall_minutes=STALL, dispatch=lambda run, chunk: sent.append(chunk))
    assert [resumed.pk for resumed in first] == [run.pk]
    assert second == []
    assert [len(chunk) for chunk in sent] == [10, 5]
    assert run_of(acme, run.evaluated_on).status == EvaluationRun.Status.RUNNING  # the re-sent chunks finish it


def test_the_stalled_run_watchdog_is_scheduled_every_five_minutes(db: None) -> None:
    """Issue 17, item 31: beat runs the watchdog (editable in the platform admin)."""
    task = PeriodicTask.objects.get(task="tiers.resume_stalled_evaluations")
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour) == ("*/5", "*")
    assert "tiers.resume_stalled_evaluations" in celery_app.tasks
