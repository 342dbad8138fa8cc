"""Query budgets: a chunk costs the same number of queries whatever its size (set-based metrics, bulk writes)."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ActivityKind, Partner
from tests.conftest import World
from tests.tiers.factories import at_noon, demo_like_program
from tiers.engine import evaluate_partners, scorecard_load
from tiers.metrics import qualification_window
from tiers.models import EvaluationRun, PartnerScore, PartnerTier, TierChange
from tiers.services import ChunkResult, partners_evaluate

DAY = date(2025, 3, 1)
NEXT_DAY = date(2025, 3, 2)
SMALL, LARGE = 5, 60  # 60 stays within one bulk INSERT batch on SQLite too (999 variables / 13 columns = 76 rows)

# The demo-like model's metrics: one aggregate over the chunk's approved activities for revenue, deal
# registrations, trainings, valid certifications (also Gold's gate) and marketing together; one for points earned;
# one for the deals app's registrations (they add to the deal registrations metric).
METRIC_QUERIES = 3
# The forecasts measure the last 90 days and the twelve month slices of the window in as many queries again:
# one aggregate over activities for every window, one for points earned, one for the deals app's registrations.
FORECAST_QUERIES = 3
# The nightly scoring in SQL (PostgreSQL, tiers/scoring_sql.py): points earned and the deals app's registrations
# (their own queries, joined as arrays); SET LOCAL jit = off; CREATE the chunk's scores table in one statement (the
# activity aggregate, the tracks, the tier, breakdown and gaps); SELECT back what the decisions and forecasts read;
# DROP it after the INSERT. Elsewhere the engine: the metric queries.
SCORING_QUERIES = 2 + 1 + 1 + 1 + 1 if connection.vendor == "postgresql" else METRIC_QUERIES


def bulk_partners(world: World, prefix: str, count: int) -> list[Partner]:
    """`count` partners of the world's tenant, each with a sale, a training and a certification: three INSERTs."""
    with tenant_context(world.tenant):
        partners = Partner.objects.bulk_create(
            Partner(
                tenant=world.tenant,
                external_id=f"{prefix}-{index:03d}",
                name=f"{prefix} partner {index}",
                partner_type=world.partner_type,
            )
            for index in range(count)
        )
        add_activities(world, partners, sale_amount="1000")
    return partners


def add_activities(world: World, partners: list[Partner], *, sale_amount: str) -> None:
    rows = []
    for partner in partners:
        for kind, code in ((ActivityKind.SALE, ""), (ActivityKind.TRAINING, ""), (ActivityKind.CERTIFICATION, "C1")):
            rows.append(
                Activity(
                    tenant=world.tenant,
                    partner=partner,
                    kind=kind,
                    code=code,
                    occurred_at=at_noon(date(2025, 2, 1)),
                    amount=Decimal(sale_amount) if kind == ActivityKind.SALE else None,
                    amount_converted=Decimal(sale_amount) if kind == ActivityKind.SALE else None,  # bulk: no save()
                    currency="USD" if kind == ActivityKind.SALE else "",
                    source=Activity.Source.ADMIN,
                    status=Activity.Status.APPROVED,
                )
            )
    Activity.objects.bulk_create(rows)


@pytest.fixture
def chunks(acme: World) -> tuple[list[Partner], list[Partner]]:
    return bulk_partners(acme, "SMALL", SMALL), bulk_partners(acme, "LARGE", LARGE)


def test_evaluating_a_chunk_costs_the_same_queries_for_5_and_60_partners(
    acme: World, chunks: tuple[list[Partner], list[Partner]], django_assert_num_queries
) -> None:
    with tenant_context(acme.tenant):
        model = demo_like_program()
        scorecard = scorecard_load(model=model)
        run = EvaluationRun.objects.create(evaluated_on=DAY, tier_model=model, total=SMALL + LARGE)
        counts = []
        # First evaluation: every partner gets a first tier (Registered: 1,000 of sales is 0.13 points).
        for partners in chunks:
            with django_assert_num_queries(
                1  # SAVEPOINT (partners_evaluate is atomic)
                + 1  # SELECT … FOR UPDATE: lock the chunk's active partners, reading their types
                + SCORING_QUERIES  # the metrics and scores, set-based (see above)
                + 1  # SELECT the chunk's current tier states
                + FORECAST_QUERIES  # the same aggregates over the pace window and the month slices
                + 1  # INSERT the scores (bulk, skipping any already written, returning the ids written)
                + 1  # INSERT the new tier states (bulk)
                + 1  # INSERT the tier changes (bulk)
                + 1  # SELECT the tenant's active webhook endpoints (none listen: no deliveries to write)
                + 1  # UPDATE the run's counters
                + 1  # RELEASE SAVEPOINT
            ) as captured:
                result = partners_evaluate(
                    scorecard=scorecard, partner_ids=[partner.pk for partner in partners], evaluated_on=DAY, run=run
                )
            assert result == ChunkResult(evaluated=len(partners), upgrades=0, downgrades=0)
            counts.append(len(captured.captured_queries))
        assert counts == [9 + SCORING_QUERIES + FORECAST_QUERIES] * 2

        # The next day everyone has 300,000 more sales, a second training (and the same certification again):
        # resellers 40 + 15·(2/6) + 15·(1/3) = 50.00 → Silver for every partner.
        small, large = chunks
        add_activities(acme, small + large, sale_amount="300000")
        counts = []
        for partners in chunks:
            with django_assert_num_queries(
                1  # SAVEPOINT
                + 1  # SELECT … FOR UPDATE: lock the chunk's active partners, reading their types
                + SCORING_QUERIES  # the metrics and scores, set-based (see above)
                + 1  # SELECT the chunk's current tier states
                + FORECAST_QUERIES  # the same aggregates over the pace window and the month slices
                + 1  # INSERT the scores (bulk)
                + 1  # UPDATE the changed tier states (one bulk_update statement; no new states: no INSERT)
                + 1  # INSERT the tier changes (bulk)
                + 1  # SELECT the tenant's active webhook endpoints (none listen: no deliveries to write)
                + 1  # SELECT the moved tiers' names and ranks, for the upgrade notifications
                + 1  # SELECT those tiers' benefits (prefetched: the upgrade notification lists them)
                + 1  # SELECT the moved partners' members, their preferences joined (none here: nothing written)
                + 3  # badges for the upgrades: SAVEPOINT, SELECT the active tier-upgrade badges (none), RELEASE
                + 1  # RELEASE SAVEPOINT (no run this time: no counters to update)
            ) as captured:
                result = partners_evaluate(
                    scorecard=scorecard, partner_ids=[partner.pk for partner in partners], evaluated_on=NEXT_DAY
                )
            assert result == ChunkResult(evaluated=len(partners), upgrades=len(partners), downgrades=0)
            counts.append(len(captured.captured_queries))
        assert counts == [14 + SCORING_QUERIES + FORECAST_QUERIES] * 2

        assert PartnerScore.objects.filter(evaluated_on=NEXT_DAY, tier__name="Silver").count() == SMALL + LARGE
        assert PartnerTier.objects.filter(tier__name="Silver").count() == SMALL + LARGE
        assert TierChange.objects.count() == 2 * (SMALL + LARGE)
        run.refresh_from_db()
        assert (run.done, run.upgrades, run.downgrades) == (SMALL + LARGE, 0, 0)


def test_rerunning_a_scored_chunk_costs_the_same_queries_whatever_its_size_and_writes_nothing(
    acme: World, chunks: tuple[list[Partner], list[Partner]], django_assert_num_queries
) -> None:
    with tenant_context(acme.tenant):
        scorecard = scorecard_load(model=demo_like_program())
        for partners in chunks:
            ids = [partner.pk for partner in partners]
            partners_evaluate(scorecard=scorecard, partner_ids=ids, evaluated_on=DAY)
            scores = list(PartnerScore.objects.order_by("pk").values_list("pk", "computed_at"))
            # SAVEPOINT; lock the partners; the metrics and scores; SELECT the tier states; the forecasts' aggregates;
            # INSERT the scores (every one is there already: none written, so no tier state, change or webhook);
            # RELEASE.
            with django_assert_num_queries(1 + 1 + SCORING_QUERIES + 1 + FORECAST_QUERIES + 1 + 1):
                assert partners_evaluate(scorecard=scorecard, partner_ids=ids, evaluated_on=DAY) == ChunkResult()
            assert list(PartnerScore.objects.order_by("pk").values_list("pk", "computed_at")) == scores
        assert TierChange.objects.count() == PartnerTier.objects.count() == SMALL + LARGE


def test_evaluate_partners_runs_one_query_per_distinct_metric_spec_for_5_and_60_partners(
    acme: World, chunks: tuple[list[Partner], list[Partner]], django_assert_num_queries
) -> None:
    with tenant_context(acme.tenant):
        model = demo_like_program()
        scorecard = scorecard_load(model=model)
        assert len(scorecard.specs()) == 10  # 9 criteria + 1 gate, naming 6 distinct specs
        window = qualification_window(model=model, evaluated_on=DAY, time_zone=acme.tenant.time_zone)
        counts = []
        for partners in chunks:
            pairs = [(partner.pk, partner.partner_type_id) for partner in partners]
            # revenue, deal registrations, trainings, valid certifications, marketing; points earned; deals
            with django_assert_num_queries(METRIC_QUERIES) as captured:
                evaluations = evaluate_partners(scorecard=scorecard, partners=pairs, window=window)
            counts.append(len(captured.captured_queries))
            assert sorted(evaluations) == sorted(partner.pk for partner in partners)
            # Resellers: 40·(1,000/300,000) + 15·(1/6) + 15·(1/3) = 0.13 + 2.5 + 5 = 7.63; installers:
            # 35·(1/6) + 35·(1/3) + 20·(1,000/150,000) = 5.83 + 11.67 + 0.13 = 17.63, the better track.
            assert {evaluation.score for evaluation in evaluations.values()} == {Decimal("17.63")}
        assert counts == [METRIC_QUERIES, METRIC_QUERIES]


def test_a_redelivered_chunk_of_upgrades_moves_no_one_twice_and_counts_nothing_twice(
    acme: World, chunks: tuple[list[Partner], list[Partner]]
) -> None:
    """acks_late: a chunk whose first delivery committed comes back; its scores are there, so it writes nothing."""
    small, large = chunks
    with tenant_context(acme.tenant):
        model = demo_like_program()
        scorecard = scorecard_load(model=model)
        ids = [partner.pk for partner in small + large]
        partners_evaluate(scorecard=scorecard, partner_ids=ids, evaluated_on=DAY)
        add_activities(acme, small + large, sale_amount="300000")  # everyone reaches Silver the next day
        run = EvaluationRun.objects.create(evaluated_on=NEXT_DAY, tier_model=model, total=len(ids))
        first = partners_evaluate(scorecard=scorecard, partner_ids=ids, evaluated_on=NEXT_DAY, run=run)
        assert first == ChunkResult(evaluated=len(ids), upgrades=len(ids), downgrades=0)
        states = list(PartnerTier.objects.order_by("pk").values_list("partner_id", "tier_id", "since", "below_since"))

        again = partners_evaluate(scorecard=scorecard, partner_ids=ids, evaluated_on=NEXT_DAY, run=run)

        assert again == ChunkResult()
        run.refresh_from_db()
        assert (run.done, run.upgrades, run.downgrades) == (len(ids), len(ids), 0)
        assert PartnerScore.objects.filter(evaluated_on=NEXT_DAY).count() == len(ids)
        assert TierChange.objects.filter(evaluated_on=NEXT_DAY).count() == len(ids)
        assert (
            list(PartnerTier.objects.order_by("pk").values_list("partner_id", "tier_id", "since", "below_since"))
            == states
        )
