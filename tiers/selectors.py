"""Reads of partners' tiers."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from partners.models import Partner
from tiers.models import EvaluationRun, PartnerScore, PartnerTier, Tier, TierChange


def partner_point_multipliers(*, partner_ids: Iterable[int]) -> dict[int, Decimal]:
    """The point multiplier of each partner's current tier, in one query (1 for a partner without a tier)."""
    multipliers = dict.fromkeys(partner_ids, Decimal(1))
    states = PartnerTier.objects.filter(partner_id__in=multipliers).values_list("partner_id", "tier__point_multiplier")
    multipliers.update(states)
    return multipliers


def partner_point_multiplier(*, partner: Partner) -> Decimal:
    """The point multiplier of the partner's current tier (1 until the partner has one)."""
    return partner_point_multipliers(partner_ids=[partner.pk])[partner.pk]


@dataclass(frozen=True)
class PartnerStatus:
    """Everything the portal shows about a partner's tier: current state, latest score and what comes next."""

    state: PartnerTier | None
    score: PartnerScore | None
    tiers: list[Tier]  # of the model that scored the partner, lowest first
    next_tier: Tier | None
    downgrade_on: date | None  # when a pending downgrade applies, if the partner does not recover
    trend: list[tuple[date, Decimal]]  # month-end nightly scores, oldest first

    @property
    def tier(self) -> Tier | None:
        return self.state.tier if self.state else None


def partner_status_get(*, partner: Partner, months: int = 12) -> PartnerStatus:
    """The partner's tier, latest score (nightly or instant), the next tier, a pending downgrade and the trend."""
    state = PartnerTier.objects.filter(partner=partner).select_related("tier__model").first()
    score = (
        PartnerScore.objects.filter(partner=partner)
        .select_related("tier", "qualified_tier", "pathway")
        .order_by("-evaluated_on", "-computed_at")
        .first()
    )
    model_id = score.tier_model_id if score else (state.tier.model_id if state else None)
    tiers = list(Tier.objects.filter(model_id=model_id).order_by("rank")) if model_id else []
    current_rank = state.tier.rank if state else 0
    next_tier = next((tier for tier in tiers if tier.rank > current_rank), None)
    downgrade_on = None
    if state and state.below_since and state.tier.model_id == model_id:
        downgrade_on = state.below_since + timedelta(days=state.tier.model.grace_days)
    since = timezone.localdate() - timedelta(days=31 * months)
    history = (
        PartnerScore.objects.filter(partner=partner, source=PartnerScore.Source.NIGHTLY, evaluated_on__gte=since)
        .order_by("evaluated_on")
        .values_list("evaluated_on", "score")
    )
    # One point a month: the last nightly score of each month.
    by_month: dict[tuple[int, int], tuple[date, Decimal]] = {}
    for evaluated_on, value in history:
        by_month[(evaluated_on.year, evaluated_on.month)] = (evaluated_on, value)
    return PartnerStatus(state, score, tiers, next_tier, downgrade_on, list(by_month.values()))


@dataclass(frozen=True)
class TierCount:
    tier: Tier | None  # None: active partners without a tier yet
    count: int


def tier_distribution() -> list[TierCount]:
    """Active partners without a tier yet (if any), then per current tier, lowest rank first (three queries)."""
    counts = dict(
        PartnerTier.objects.filter(partner__status=Partner.Status.ACTIVE)
        .values_list("tier_id")
        .annotate(count=Count("pk"))
    )
    tiers = Tier.objects.filter(pk__in=counts).order_by("rank", "model_id")
    without = Partner.objects.filter(status=Partner.Status.ACTIVE, tier_states__isnull=True).count()
    rows = [TierCount(tier, counts[tier.pk]) for tier in tiers]
    return [TierCount(None, without), *rows] if without else rows


@dataclass(frozen=True)
class TierMigration:
    """How partners moved between the tiers of two completed evaluations: counts[(from id, to id)]."""

    previous_on: date | None
    latest_on: date | None
    tiers: list[Tier]  # every tier on either side, lowest rank first
    counts: dict[tuple[int | None, int | None], int]

    def moved(self, *, up: bool) -> int:
        ranks = {tier.pk: tier.rank for tier in self.tiers}
        return sum(
            count
            for (before, after), count in self.counts.items()
            if before is not None
            and after is not None
            and (ranks[after] > ranks[before] if up else ranks[after] < ranks[before])
        )


def tier_migration() -> TierMigration:
    """The tier matrix between the last two completed evaluation runs (by evaluated_on); three queries.

    Reads the nightly scores' tiers (after the downgrade policy), so a partner in its grace period stays put.
    Partners scored in only one of the runs count from or to None.
    """
    runs = list(
        EvaluationRun.objects.filter(status=EvaluationRun.Status.COMPLETED)
        .order_by("-evaluated_on")
        .values_list("evaluated_on", flat=True)[:2]
    )
    if len(runs) < 2:
        return TierMigration(None, runs[0] if runs else None, [], {})
    latest_on, previous_on = runs
    nightly = PartnerScore.objects.filter(source=PartnerScore.Source.NIGHTLY)
    previous_tier = nightly.filter(partner=OuterRef("partner"), evaluated_on=previous_on).values("tier_id")[:1]
    rows = (
        nightly.filter(evaluated_on=latest_on)
        .annotate(previous=Subquery(previous_tier))
        .values_list("previous", "tier_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    counts = {(before, after): count for before, after, count in rows}
    # Partners scored in the previous run only (left the program, suspended) leave towards None.
    gone = (
        nightly.filter(evaluated_on=previous_on)
        .exclude(partner__in=nightly.filter(evaluated_on=latest_on).values("partner"))
        .values_list("tier_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for before, count in gone:
        counts[(before, None)] = count
    ids = {tier_id for pair in counts for tier_id in pair if tier_id is not None}
    tiers = list(Tier.objects.filter(pk__in=ids).order_by("rank", "model_id"))
    return TierMigration(previous_on, latest_on, tiers, counts)


def partner_score_history(*, partner: Partner, limit: int = 24) -> list[PartnerScore]:
    """The partner's latest stored evaluations (nightly and instant), newest first."""
    return list(
        PartnerScore.objects.filter(partner=partner)
        .select_related("tier", "qualified_tier")
        .order_by("-evaluated_on", "-computed_at")[:limit]
    )


def partner_tier_changes(*, partner: Partner, limit: int = 20) -> list[TierChange]:
    """The partner's moves between tiers, newest first, with who made a manual one."""
    return list(
        TierChange.objects.filter(partner=partner)
        .select_related("from_tier", "to_tier", "actor")
        .order_by("-created_at", "-pk")[:limit]
    )
