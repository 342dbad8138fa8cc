"""An evaluation run in place in two streams (PostgreSQL): the same rows as one stream running the chunks in order,
each chunk in its own transaction, and a failing chunk stops the run as one stream would leave it."""

import threading
from collections import Counter

import pytest
from django.db import connection

import tiers.services
from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.tiers.test_nightly import CHUNK, PARTNERS, nightly_scores, populate, program, run_of, today_in
from tiers.models import EvaluationRun, PartnerScore, PartnerTier, TierChange
from tiers.services import tenant_evaluate

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="streams need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiers.services, "CHUNK_SIZE", CHUNK)


def stored(world: World) -> tuple:
    """What a night wrote, without ids and times."""
    with tenant_context(world.tenant):
        scores = sorted(
            PartnerScore.objects.values_list(
                "partner_id", "score", "breakdown", "gaps", "pathway_id", "qualified_tier_id", "tier_id", "forecast"
            ),
            key=lambda row: row[0],
        )
        states = sorted(PartnerTier.objects.values_list("partner_id", "tier_id", "since", "below_since"))
        changes = sorted(TierChange.objects.values_list("partner_id", "cause", "from_tier_id", "to_tier_id", "note"))
        run = EvaluationRun.objects.values_list("status", "total", "done", "upgrades", "downgrades", "errors").get()
    return scores, states, changes, run


def forget(world: World) -> None:
    with tenant_context(world.tenant):
        TierChange.objects.all().delete()
        PartnerTier.objects.all().delete()
        PartnerScore.objects.all().delete()
        EvaluationRun.objects.all().delete()


def test_two_streams_write_what_one_writes(small_chunks: None, acme: World, settings) -> None:
    program(acme)
    ids = populate(acme)
    today = today_in(acme)
    seen = set()
    real = tiers.services.evaluation_chunk

    def chunk_seen(**kwargs):  # noqa: ANN003, ANN202 - evaluation_chunk's keywords
        seen.add(threading.get_ident())
        return real(**kwargs)

    tiers.services.evaluation_chunk = chunk_seen
    try:
        settings.EVALUATION_STREAMS = 2
        with tenant_context(acme.tenant):
            summary = tenant_evaluate(evaluated_on=today)
        assert len(seen) == 2  # three chunks, two threads (neither of them this one)
        assert threading.get_ident() not in seen
        two = stored(acme)
        forget(acme)
        seen.clear()
        settings.EVALUATION_STREAMS = 1
        with tenant_context(acme.tenant):
            assert tenant_evaluate(evaluated_on=today).evaluated == summary.evaluated == PARTNERS
        assert seen == {threading.get_ident()}
    finally:
        tiers.services.evaluation_chunk = real
    one = stored(acme)
    assert nightly_scores(acme, today) == Counter(ids)
    assert two == one
    assert two[3][:3] == (EvaluationRun.Status.COMPLETED, PARTNERS, PARTNERS)


def test_a_failing_chunk_in_two_streams_fails_the_run_and_a_rerun_completes_it(
    small_chunks: None, acme: World, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    program(acme)
    ids = populate(acme)
    today = today_in(acme)
    settings.EVALUATION_STREAMS = 2
    real = tiers.services.chunk_score
    failing = {"first": True}
    guard = threading.Lock()

    def scoring(**kwargs):  # noqa: ANN003, ANN202 - the scoring's keyword arguments
        with guard:
            fail, failing["first"] = failing["first"], False
        if fail:
            raise RuntimeError("metrics database went away")
        return real(**kwargs)

    monkeypatch.setattr(tiers.services, "chunk_score", scoring)
    with tenant_context(acme.tenant), pytest.raises(RuntimeError, match="went away"):
        tenant_evaluate(evaluated_on=today)
    run = run_of(acme, today)
    assert run.status == EvaluationRun.Status.FAILED
    assert run.errors == ["RuntimeError: metrics database went away"]
    # The failed chunk wrote nothing; the other stream's chunk, already taken, committed.
    assert CHUNK <= run.done == sum(nightly_scores(acme, today).values()) < PARTNERS
    monkeypatch.setattr(tiers.services, "chunk_score", real)
    with tenant_context(acme.tenant):
        tenant_evaluate(evaluated_on=today)
    run.refresh_from_db()
    assert (run.status, run.done, run.total) == (EvaluationRun.Status.COMPLETED, PARTNERS, PARTNERS)
    assert nightly_scores(acme, today) == Counter(ids)
    assert TierChange.all_tenants.count() == PARTNERS
