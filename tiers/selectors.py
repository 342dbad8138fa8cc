"""Reads of partners' tiers."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from partners.models import Partner
from tiers.models import PartnerScore, PartnerTier, Tier


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
