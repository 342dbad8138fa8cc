"""Tier test helpers: scorecards in memory for the pure engine, tier models in the database, activities as rows."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from django.utils import timezone

from partners.models import Activity, ActivityKind, Partner
from tiers.engine import LoadedCriterion, LoadedGate, LoadedPathway, LoadedTier, Scorecard
from tiers.models import Criterion, Metric, Pathway, Tier, TierGate, TierModel

REVENUE = (Metric.REVENUE, "", "")
DEALS = (Metric.DEAL_REGISTRATIONS, "", "")
CERTIFICATIONS = (Metric.VALID_CERTIFICATIONS, "", "")
TRAININGS = (Metric.ACTIVITY_COUNT, ActivityKind.TRAINING, "")
MARKETING = (Metric.ACTIVITY_COUNT, ActivityKind.MARKETING, "")
POINTS = (Metric.POINTS_EARNED, "", "")


# --- In memory, for the pure engine ----------------------------------------------------------------------------


def loaded_criterion(
    criterion_id: int, label: str, spec: tuple[str, str, str], *, weight: str, target: str, cap: str = "1"
) -> LoadedCriterion:
    return LoadedCriterion(criterion_id, label, spec, Decimal(weight), Decimal(target), Decimal(cap))


def loaded_tier(
    tier_id: int, name: str, rank: int, minimum_score: str, *, gates: tuple[LoadedGate, ...] = ()
) -> LoadedTier:
    return LoadedTier(tier_id, name, rank, Decimal(minimum_score), Decimal(1), "#000000", gates)


def loaded_pathway(
    pathway_id: int, name: str, criteria: tuple[LoadedCriterion, ...], *, partner_type_ids: frozenset[int] = frozenset()
) -> LoadedPathway:
    return LoadedPathway(pathway_id, name, partner_type_ids, criteria)


def scorecard(*, tiers: tuple[LoadedTier, ...], pathways: tuple[LoadedPathway, ...]) -> Scorecard:
    return Scorecard(model=TierModel(), tiers=tiers, pathways=pathways)


# --- In the database (call inside the tenant's context) ------------------------------------------------------

STANDARD_TIERS = (
    # name, minimum score, point multiplier
    ("Registered", "0", "1.00"),
    ("Silver", "40", "1.10"),
    ("Gold", "65", "1.25"),
    ("Platinum", "85", "1.50"),
)


@dataclass
class Program:
    model: TierModel
    tiers: dict[str, Tier]
    pathway: Pathway


def revenue_program(
    *,
    version: int = 1,
    name: str = "Partner Program",
    effective_from: date = date(2020, 1, 1),
    window: str = TierModel.Window.ROLLING_12_MONTHS,
    downgrade: str = TierModel.Downgrade.ONE_STEP,
    grace_days: int = 30,
    tiers: tuple[tuple[str, str, str], ...] = STANDARD_TIERS,
) -> Program:
    """A draft with one track for every partner type: revenue, target 100,000, weight 1, cap 1.

    So a partner's score is its revenue in the window divided by 1,000 (90,000 of sales → 90.00 → Platinum).
    """
    model = TierModel.objects.create(
        name=name,
        version=version,
        effective_from=effective_from,
        window=window,
        downgrade=downgrade,
        grace_days=grace_days,
    )
    created = {
        tier_name: Tier.objects.create(
            model=model,
            name=tier_name,
            rank=rank,
            minimum_score=Decimal(minimum),
            point_multiplier=Decimal(multiplier),
        )
        for rank, (tier_name, minimum, multiplier) in enumerate(tiers, start=1)
    }
    pathway = Pathway.objects.create(model=model, name="Everyone")
    Criterion.objects.create(
        pathway=pathway, label="Revenue", metric=Metric.REVENUE, weight=Decimal(1), target=Decimal(100_000)
    )
    return Program(model=model, tiers=created, pathway=pathway)


def demo_like_program(*, version: int = 1) -> TierModel:
    """A draft like the demo's: two tracks sharing metrics, and a gate on a metric a criterion also uses.

    Distinct metric specs: revenue, deal registrations, trainings, valid certifications, marketing, points
    earned — six, although the criteria and the gate name nine.
    """
    model = TierModel.objects.create(name="Balanced", version=version, effective_from=date(2020, 1, 1))
    for rank, (tier_name, minimum, multiplier) in enumerate(STANDARD_TIERS, start=1):
        tier = Tier.objects.create(
            model=model, name=tier_name, rank=rank, minimum_score=Decimal(minimum), point_multiplier=Decimal(multiplier)
        )
        if tier_name == "Gold":
            TierGate.objects.create(
                tier=tier, label="2 valid certifications", metric=Metric.VALID_CERTIFICATIONS, minimum=Decimal(2)
            )
    for pathway_name, criteria in (
        (
            "Resellers",
            (
                ("Revenue", REVENUE, "300000", "40"),
                ("Deal registrations", DEALS, "8", "20"),
                ("Trainings", TRAININGS, "6", "15"),
                ("Valid certifications", CERTIFICATIONS, "3", "15"),
                ("Marketing", MARKETING, "3", "10"),
            ),
        ),
        (
            "Installers",
            (
                ("Trainings", TRAININGS, "6", "35"),
                ("Valid certifications", CERTIFICATIONS, "3", "35"),
                ("Revenue", REVENUE, "150000", "20"),
                ("Points earned", POINTS, "5000", "10"),
            ),
        ),
    ):
        pathway = Pathway.objects.create(model=model, name=pathway_name)
        for label, (metric, kind, code), target, weight in criteria:
            Criterion.objects.create(
                pathway=pathway,
                label=label,
                metric=metric,
                activity_kind=kind,
                code=code,
                target=Decimal(target),
                weight=Decimal(weight),
            )
    return model


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


def activity(
    partner: Partner,
    kind: str,
    occurred_at: date | datetime,
    *,
    amount: str | None = None,
    code: str = "",
    valid_until: date | None = None,
    status: str = Activity.Status.APPROVED,
) -> Activity:
    """An activity row as it stands after review (metrics read only approved ones); no points are posted."""
    moment = occurred_at if isinstance(occurred_at, datetime) else at_noon(occurred_at)
    return Activity.objects.create(
        partner=partner,
        kind=kind,
        occurred_at=moment,
        amount=Decimal(amount) if amount is not None else None,
        currency="USD" if amount is not None else "",
        code=code,
        valid_until=valid_until,
        source=Activity.Source.ADMIN,
        status=status,
    )


def sale(partner: Partner, occurred_at: date | datetime, amount: str, **fields) -> Activity:
    return activity(partner, ActivityKind.SALE, occurred_at, amount=amount, **fields)


def revenue_set(partner: Partner, occurred_at: date | datetime, amount: str) -> None:
    """Void the partner's approved sales and record one of `amount` (none when "0"): its score becomes amount/1,000."""
    Activity.objects.filter(partner=partner, kind=ActivityKind.SALE, status=Activity.Status.APPROVED).update(
        status=Activity.Status.REJECTED
    )
    if Decimal(amount) > 0:
        sale(partner, occurred_at, amount)


def today() -> date:
    return timezone.localdate()
