"""The nightly scoring in SQL (tiers/scoring_sql.py) against the engine (tiers/engine.py), the reference.

Random scorecards (tiers with gates, tracks for some partner types or all, weights, targets, caps, every window
type) and random populations (sales, counts, certifications that lapse, activities pending or rejected, earned
points partly reversed, activities after the evaluation day or long before it) on PostgreSQL: every partner's
score, track, qualified tier, breakdown and gaps (the unmet gates included) must be the same, to the cent and to
the word. Then whole nightly chunks (tier states with grace periods, pins, forecasts) written by both paths.
"""

import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tiers.services
from loyalty.ledger.models import EntryKind
from loyalty.ledger.services import points_account_for, points_post
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ActivityKind, Partner, PartnerType
from tests.conftest import World
from tiers.engine import evaluate_partners, scorecard_load
from tiers.metrics import qualification_window
from tiers.models import Criterion, Metric, PartnerScore, PartnerTier, Pathway, Tier, TierChange, TierGate, TierModel
from tiers.scoring_sql import scores_compute
from tiers.services import partners_evaluate

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL scoring runs on PostgreSQL")

SPECS = [
    (Metric.REVENUE, "", ""),
    (Metric.REVENUE_GROWTH, "", ""),
    (Metric.ACTIVITY_COUNT, ActivityKind.TRAINING, ""),
    (Metric.ACTIVITY_COUNT, ActivityKind.MARKETING, ""),
    (Metric.ACTIVITY_COUNT, ActivityKind.CERTIFICATION, "C1"),
    (Metric.DEAL_REGISTRATIONS, "", ""),
    (Metric.VALID_CERTIFICATIONS, "", ""),
    (Metric.VALID_CERTIFICATIONS, "", "C2"),
    (Metric.POINTS_EARNED, "", ""),
]
KINDS = [
    ActivityKind.SALE,
    ActivityKind.DEAL_REGISTRATION,
    ActivityKind.TRAINING,
    ActivityKind.CERTIFICATION,
    ActivityKind.MARKETING,
    ActivityKind.REFERRAL,
]
TYPES = 4  # the fourth partner type is often on no track


def cents(low: str, high: str) -> st.SearchStrategy[Decimal]:
    return st.decimals(Decimal(low), Decimal(high), places=2)


# Round numbers are where rounding and ceilings are decided: mix them with arbitrary cents.
weights = st.one_of(
    st.sampled_from([Decimal(w) for w in ("1", "2", "3", "10", "15", "20", "35", "40", "0.01")]), cents("0.01", "100")
)
targets = st.one_of(
    st.sampled_from([Decimal(t) for t in ("1", "2", "3", "6", "7", "8", "100", "300000")]), cents("0.01", "5000")
)
caps = st.one_of(st.sampled_from([Decimal(c) for c in ("1", "1.2", "1.5", "0.5")]), cents("0.01", "3"))

criterion = st.fixed_dictionaries({"spec": st.sampled_from(SPECS), "weight": weights, "target": targets, "cap": caps})
pathway = st.fixed_dictionaries(
    {
        # Empty: a track with no criteria (its score is 0 and it explains nothing).
        "criteria": st.lists(criterion, min_size=0, max_size=4),
        # Empty: every type; else the types it admits.
        "types": st.sets(st.integers(0, TYPES - 1), max_size=3),
    }
)
gate = st.fixed_dictionaries(
    {
        "spec": st.sampled_from(SPECS),
        "minimum": st.one_of(st.sampled_from([Decimal(1), Decimal(2), Decimal(3)]), cents("0.01", "50")),
    }
)
scorecards = st.fixed_dictionaries(
    {
        "minimums": st.lists(
            st.one_of(st.sampled_from([Decimal(m) for m in ("0", "40", "50", "65", "85", "100")]), cents("0", "100")),
            min_size=1,
            max_size=4,
            unique=True,
        ).map(sorted),
        "gates": st.lists(st.lists(gate, max_size=2), min_size=4, max_size=4),
        "pathways": st.lists(pathway, min_size=1, max_size=3),
        "window": st.sampled_from(TierModel.Window.values),
        "fiscal_start": st.integers(1, 12),
        "evaluated_on": st.dates(date(2024, 1, 1), date(2026, 12, 31)),
    }
)
activity = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(KINDS),
        "days_ago": st.integers(-20, 800),  # negative: after the evaluation day
        "amount": st.one_of(
            st.sampled_from([Decimal(a) for a in ("100", "1000", "150000", "0.01")]), cents("0.01", "200000")
        ),
        "code": st.sampled_from(["", "C1", "C2"]),
        "valid_days": st.one_of(st.none(), st.integers(-30, 900)),
        "status": st.sampled_from([Activity.Status.APPROVED] * 4 + [Activity.Status.PENDING, Activity.Status.REJECTED]),
    }
)
earning = st.fixed_dictionaries(
    {"points": st.integers(1, 5000), "days_ago": st.integers(-5, 500), "reversed": st.integers(0, 100)}
)
partner = st.fixed_dictionaries(
    {
        "type": st.integers(0, TYPES - 1),
        "activities": st.lists(activity, max_size=8),
        "earnings": st.lists(earning, max_size=2),
    }
)
populations = st.lists(partner, min_size=1, max_size=6)


def build_scorecard(world: World, card: dict, types: list[PartnerType]) -> TierModel:
    model = TierModel.objects.create(
        name="Random",
        version=1,
        status=TierModel.Status.ACTIVE,
        effective_from=date(2020, 1, 1),
        window=card["window"],
        fiscal_year_start_month=card["fiscal_start"],
    )
    for rank, minimum in enumerate(card["minimums"], start=1):
        tier = Tier.objects.create(model=model, name=f"Tier {rank} «{rank}»", rank=rank, minimum_score=minimum)
        for number, row in enumerate(card["gates"][rank - 1]):
            TierGate.objects.create(
                tier=tier,
                label=f'Gate {number} of tier {rank}: it\'s "{row["spec"][0]}"',
                metric=row["spec"][0],
                activity_kind=row["spec"][1],
                code=row["spec"][2],
                minimum=row["minimum"],
            )
    for number, row in enumerate(card["pathways"]):
        track = Pathway.objects.create(model=model, name=f"Track {number}'; --")
        track.partner_types.set([types[index] for index in row["types"]])
        for position, item in enumerate(row["criteria"]):
            Criterion.objects.create(
                pathway=track,
                label=f"Criterion {position} ({item['spec'][0]})",
                metric=item["spec"][0],
                activity_kind=item["spec"][1],
                code=item["spec"][2],
                weight=item["weight"],
                target=item["target"],
                cap=item["cap"],
            )
    return model


def build_population(world: World, people: list[dict], types: list[PartnerType], evaluated_on: date) -> list[Partner]:
    zone = ZoneInfo(world.tenant.time_zone)
    noon = datetime.combine(evaluated_on, time(12), zone)
    partners = []
    for number, row in enumerate(people):
        partner = Partner.objects.create(
            external_id=f"R-{number}", name=f"Random {number}", partner_type=types[row["type"]]
        )
        partners.append(partner)
        Activity.objects.bulk_create(
            Activity(
                tenant=world.tenant,
                partner=partner,
                kind=item["kind"],
                code=item["code"] if item["kind"] in {ActivityKind.CERTIFICATION, ActivityKind.TRAINING} else "",
                occurred_at=noon - timedelta(days=item["days_ago"]),
                valid_until=(evaluated_on - timedelta(days=item["days_ago"]) + timedelta(days=item["valid_days"]))
                if item["kind"] == ActivityKind.CERTIFICATION and item["valid_days"] is not None
                else None,
                amount=item["amount"] if item["kind"] == ActivityKind.SALE else None,
                amount_converted=item["amount"] if item["kind"] == ActivityKind.SALE else None,
                currency="USD" if item["kind"] == ActivityKind.SALE else "",
                source=Activity.Source.ADMIN,
                status=item["status"],
            )
            for item in row["activities"]
        )
        account = points_account_for(partner=partner)
        for index, item in enumerate(row["earnings"]):
            earned = points_post(
                account=account,
                kind=EntryKind.EARN,
                points=item["points"],
                idempotency_key=f"earn-{partner.pk}-{index}",
                effective_at=noon - timedelta(days=item["days_ago"]),
            )
            reversed_points = item["points"] * item["reversed"] // 100
            if reversed_points:
                points_post(
                    account=account,
                    kind=EntryKind.REVERSE,
                    points=-reversed_points,
                    idempotency_key=f"reverse-{partner.pk}-{index}",
                    effective_at=noon - timedelta(days=item["days_ago"] - 1),
                    reverses=earned,
                )
    return partners


def as_stored(value: object) -> object:
    """The engine's JSON as PostgreSQL's jsonb gives it back."""
    return json.loads(json.dumps(value))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(card=scorecards, people=populations)
def test_sql_scoring_equals_the_engine_on_random_scorecards_and_populations(
    acme: World, card: dict, people: list[dict]
) -> None:
    with tenant_context(acme.tenant), transaction.atomic():
        types = [PartnerType.objects.create(code=f"random-{index}", name=f"Random {index}") for index in range(TYPES)]
        model = build_scorecard(acme, card, types)
        partners = build_population(acme, people, types, card["evaluated_on"])
        scorecard = scorecard_load(model=model)
        window = qualification_window(model=model, evaluated_on=card["evaluated_on"], time_zone=acme.tenant.time_zone)
        pairs = [(partner.pk, partner.partner_type_id) for partner in partners]

        expected = evaluate_partners(scorecard=scorecard, partners=pairs, window=window)
        actual = scores_compute(scorecard=scorecard, partners=pairs, window=window)

        assert sorted(actual) == sorted(expected)
        for partner_id, reference in expected.items():
            result = actual[partner_id]
            assert (result.score, result.pathway_id) == (reference.score, reference.pathway_id), partner_id
            assert result.qualified_tier == reference.qualified_tier
            assert result.breakdown == as_stored(reference.breakdown)
            assert result.gaps == as_stored(reference.gaps)  # the tracks, next tier, criteria and unmet gates
            with localcontext(prec=80):  # 20 places of a value above 10^8 exceed Decimal's default 28 digits
                for spec, value in reference.values.items():
                    assert result.values[spec].quantize(Decimal("1E-20")) == value.quantize(Decimal("1E-20")), spec
        transaction.set_rollback(True)


def stored(evaluated_on: date, source: str) -> dict:
    return {
        row["partner_id"]: row
        for row in PartnerScore.objects.filter(evaluated_on=evaluated_on, source=source).values(
            "partner_id", "pathway_id", "score", "qualified_tier_id", "tier_id", "breakdown", "gaps", "forecast"
        )
    }


def states_and_changes() -> tuple[list, list]:
    return (
        list(PartnerTier.objects.order_by("partner_id").values_list("partner_id", "tier_id", "since", "below_since")),
        list(
            TierChange.objects.order_by("partner_id").values_list("partner_id", "from_tier_id", "to_tier_id", "cause")
        ),
    )


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    card=scorecards,
    people=populations,
    held=st.lists(st.tuples(st.integers(0, 3), st.none() | st.integers(0, 60), st.booleans()), min_size=6, max_size=6),
    grace_days=st.sampled_from([0, 30]),
    downgrade=st.sampled_from(TierModel.Downgrade.values),
)
def test_a_nightly_chunk_scored_in_sql_writes_what_the_engine_would(
    acme: World,
    card: dict,
    people: list[dict],
    held: list[tuple[int, int | None, bool]],
    grace_days: int,
    downgrade: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same scores, tiers, forecasts, tier states and changes, whichever path scores: grace periods, the
    downgrade policy and pins are applied to the SQL path's qualified tiers as to the engine's."""
    evaluated_on = card["evaluated_on"]
    written = []
    for in_sql in (True, False):
        monkeypatch.setattr(tiers.services, "NIGHTLY_SCORING_IN_SQL", in_sql)
        with tenant_context(acme.tenant), transaction.atomic():
            types = [
                PartnerType.objects.create(code=f"random-{index}", name=f"Random {index}") for index in range(TYPES)
            ]
            model = build_scorecard(acme, card, types)
            TierModel.objects.filter(pk=model.pk).update(grace_days=grace_days, downgrade=downgrade)
            model.refresh_from_db()
            partners = build_population(acme, people, types, evaluated_on)
            ladder = list(model.tiers.order_by("rank"))
            for partner, (rank, below_days, pinned) in zip(partners, held, strict=False):
                if rank < len(ladder):
                    PartnerTier.objects.create(
                        partner=partner,
                        tier=ladder[rank],
                        since=evaluated_on - timedelta(days=400),
                        below_since=evaluated_on - timedelta(days=below_days) if below_days is not None else None,
                        pinned_tier=ladder[rank] if pinned else None,
                        pinned_until=evaluated_on + timedelta(days=5) if pinned else None,
                        pin_reason="Held for the test" if pinned else "",
                    )
            scorecard = scorecard_load(model=model)
            partners_evaluate(scorecard=scorecard, partner_ids=[p.pk for p in partners], evaluated_on=evaluated_on)
            # Ids differ between the two builds: compare by position and by rank.
            position = {partner.pk: number for number, partner in enumerate(partners)}
            rank_of = {tier.pk: tier.rank for tier in ladder}
            pathway_number = {
                pk: number for number, pk in enumerate(model.pathways.order_by("pk").values_list("pk", flat=True))
            }
            rows = {
                position[partner_id]: (
                    row["score"],
                    pathway_number.get(row["pathway_id"]),
                    rank_of.get(row["qualified_tier_id"]),
                    rank_of.get(row["tier_id"]),
                    _renumbered(row["breakdown"], scorecard, position),
                    _renumbered(row["gaps"], scorecard, position),
                    _renumbered(row["forecast"], scorecard, position),
                )
                for partner_id, row in stored(evaluated_on, PartnerScore.Source.NIGHTLY).items()
            }
            states, changes = states_and_changes()
            written.append(
                (
                    rows,
                    [(position[p], rank_of[t], since, below) for p, t, since, below in states],
                    [(position[p], rank_of.get(f), rank_of[t], cause) for p, f, t, cause in changes],
                )
            )
            transaction.set_rollback(True)
    in_sql, by_engine = written
    assert in_sql == by_engine


def _renumbered(value: object, scorecard, position: dict) -> object:  # noqa: ANN001
    """JSON with the scorecard's ids replaced by their places (each build has its own ids)."""
    places = {}
    for number, tier in enumerate(scorecard.tiers):
        places[("tier", tier.id)] = f"tier-{number}"
    for number, track in enumerate(scorecard.pathways):
        places[("pathway", track.id)] = f"pathway-{number}"
        for index, criterion in enumerate(track.criteria):
            places[("criterion", criterion.id)] = f"criterion-{number}-{index}"

    def walk(item: object, key: str = "") -> object:
        if isinstance(item, dict):
            renamed = {}
            for name, inner in item.items():
                renamed[name] = walk(inner, name)
            return renamed
        if isinstance(item, list):
            return [walk(inner, key) for inner in item]
        if isinstance(item, int) and not isinstance(item, bool):
            for kind in ("tier", "pathway", "criterion"):
                if key in {kind, "id"} and (kind, item) in places:
                    return places[(kind, item)]
        return item

    return walk(value)
