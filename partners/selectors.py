"""Reads of partners for staff: the health of a portfolio (flags, trend, activity), participation and notes."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.ledger.selectors import month_of, points_expiring_by_partner
from partners.models import Activity, Partner, PartnerNote
from tiers.models import PartnerScore, PartnerTier, Tier

# The flag definitions (docs/portal.md, "Flags"); the worklist and the program dashboard both read them here.
NEAR_UPGRADE_SHARE = Decimal("0.9")  # within 10 % of the next tier's minimum score (and of each of its gates)
DORMANT_DAYS = 60  # no approved activity for this long
RECENT_DAYS = 30  # "activity in the last 30 days" ...
BASELINE_MONTHS = 6  # ... against the monthly average of the six 30-day months before them
TREND_DAYS = 90  # the score "about three months ago": the last nightly score at least this old
EXPIRING_DAYS = 90
PARTICIPATION_DAYS = 90
CENT = Decimal("0.01")


class Risk:
    """Why a partner is at risk, in words for staff."""

    QUALIFIES_LOWER = _("qualifies for a lower tier")
    IN_GRACE = _("in its grace period")
    ACTIVITY_DOWN = _("activity below its 6-month average")


@dataclass
class PartnerHealth:
    """One partner as the worklist shows it; every number is computed for many partners at once."""

    partner: Partner
    tier: Tier | None
    next_tier: Tier | None
    score: Decimal | None
    score_before: Decimal | None  # the last nightly score at least TREND_DAYS old
    last_activity_at: datetime | None
    days_since_activity: int | None
    recent_activities: int
    baseline_activities: int  # in the BASELINE_MONTHS × 30 days before the recent 30
    points_expiring: int
    near_upgrade: bool = False
    risks: list[str] = field(default_factory=list)

    @property
    def trend(self) -> Decimal | None:
        if self.score is None or self.score_before is None:
            return None
        return self.score - self.score_before

    @property
    def percent_to_next(self) -> int | None:
        """The score as a whole percentage of the next tier's minimum (rounded down, at most 100)."""
        if self.score is None or self.next_tier is None:
            return None
        if self.next_tier.minimum_score <= 0:
            return 100
        share = self.score * 100 / self.next_tier.minimum_score
        return min(100, int(share.to_integral_value(ROUND_FLOOR)))

    @property
    def at_risk(self) -> bool:
        return bool(self.risks)

    @property
    def dormant(self) -> bool:
        return self.days_since_activity is None or self.days_since_activity >= DORMANT_DAYS

    @property
    def flags(self) -> list[str]:
        return [
            name
            for name, is_set in (
                ("near_upgrade", self.near_upgrade),
                ("at_risk", self.at_risk),
                ("dormant", self.dormant),
            )
            if is_set
        ]


def _gates_near(score: PartnerScore, next_tier: Tier) -> bool:
    """Every gate of the next tier is met or within 10 %: the stored gaps list the unmet ones with their values."""
    gaps = score.gaps or {}
    if (gaps.get("next_tier") or {}).get("id") != next_tier.pk:
        return True  # the gaps were computed against another tier: only the score can be judged
    return all(
        Decimal(gate["value"]) >= NEAR_UPGRADE_SHARE * Decimal(gate["minimum"]) for gate in gaps.get("gates", [])
    )


def _approved_activities(**filters) -> QuerySet[Activity]:
    return Activity.objects.filter(partner=OuterRef("pk"), status=Activity.Status.APPROVED, **filters)


def _count(activities: QuerySet[Activity]) -> Coalesce:
    return Coalesce(Subquery(activities.order_by().values("partner").annotate(count=Count("pk")).values("count")), 0)


def partner_health_list(*, partners: QuerySet[Partner]) -> list[PartnerHealth]:
    """The health of these partners (active ones only), in five queries whatever their number.

    Partners with their activity counts and latest scores as subqueries; the latest scores' gaps; tier states;
    the tiers of the models involved; points expiring. Flags follow docs/portal.md.
    """
    now = timezone.now()
    today = timezone.localdate()
    recent_start = now - timedelta(days=RECENT_DAYS)
    baseline_start = recent_start - timedelta(days=30 * BASELINE_MONTHS)
    latest = PartnerScore.objects.filter(partner=OuterRef("pk")).order_by("-evaluated_on", "-computed_at")
    before = PartnerScore.objects.filter(
        partner=OuterRef("pk"),
        source=PartnerScore.Source.NIGHTLY,
        evaluated_on__lte=today - timedelta(days=TREND_DAYS),
    ).order_by("-evaluated_on")
    rows = list(
        partners.filter(status=Partner.Status.ACTIVE)
        .select_related("partner_type", "account_manager")
        .annotate(
            latest_score_id=Subquery(latest.values("pk")[:1]),
            score_before=Subquery(before.values("score")[:1]),
            last_activity_at=Subquery(_approved_activities().order_by("-occurred_at").values("occurred_at")[:1]),
            recent_activities=_count(_approved_activities(occurred_at__gte=recent_start)),
            baseline_activities=_count(
                _approved_activities(occurred_at__gte=baseline_start, occurred_at__lt=recent_start)
            ),
        )
        .order_by("name", "pk")
    )
    ids = [partner.pk for partner in rows]
    scores = {
        score.partner_id: score
        for score in PartnerScore.objects.filter(
            pk__in=[row.latest_score_id for row in rows if row.latest_score_id]
        ).defer("breakdown")
    }
    states = {
        state.partner_id: state for state in PartnerTier.objects.filter(partner_id__in=ids).select_related("tier")
    }
    model_ids = {score.tier_model_id for score in scores.values()} | {state.tier.model_id for state in states.values()}
    tiers: dict[int, list[Tier]] = {}
    for tier in Tier.objects.filter(model_id__in=model_ids).order_by("rank"):
        tiers.setdefault(tier.model_id, []).append(tier)
    expiring = points_expiring_by_partner(partner_ids=ids, within_days=EXPIRING_DAYS)
    return [_health(row, scores.get(row.pk), states.get(row.pk), tiers, expiring.get(row.pk, 0), today) for row in rows]


def _health(
    row: Partner,
    score: PartnerScore | None,
    state: PartnerTier | None,
    tiers: dict[int, list[Tier]],
    expiring: int,
    today: date,
) -> PartnerHealth:
    """One partner's numbers and flags from the rows loaded for all (no query)."""
    # The next tier as the partner's dashboard names it: of the model that last scored it, above its current tier.
    model_id = score.tier_model_id if score else (state.tier.model_id if state else None)
    ladder = tiers.get(model_id, [])
    current_rank = state.tier.rank if state else 0
    next_tier = next((tier for tier in ladder if tier.rank > current_rank), None)
    last = row.last_activity_at
    health = PartnerHealth(
        partner=row,
        tier=state.tier if state else None,
        next_tier=next_tier,
        score=score.score if score else None,
        # Through a subquery, SQLite returns the decimal without its scale: give it back its two places.
        score_before=row.score_before.quantize(CENT) if row.score_before is not None else None,
        last_activity_at=last,
        days_since_activity=(today - timezone.localtime(last).date()).days if last else None,
        recent_activities=row.recent_activities,
        baseline_activities=row.baseline_activities,
        points_expiring=expiring,
    )
    if score is None:
        return health
    qualified_rank = next((tier.rank for tier in ladder if tier.pk == score.qualified_tier_id), 0)
    # Near: holds its tier on merit, and the score (and each gate) is within 10 % of the next tier's minimum.
    health.near_upgrade = (
        next_tier is not None
        and qualified_rank == current_rank
        and score.score >= NEAR_UPGRADE_SHARE * next_tier.minimum_score
        and _gates_near(score, next_tier)
    )
    is_pinned = state is not None and state.pinned_until is not None and state.pinned_until >= today
    if state is not None and qualified_rank < current_rank and not is_pinned:
        health.risks.append(Risk.QUALIFIES_LOWER)
    if state is not None and state.below_since is not None:
        health.risks.append(Risk.IN_GRACE)
    # recent < baseline / BASELINE_MONTHS, in integers.
    if row.recent_activities * BASELINE_MONTHS < row.baseline_activities:
        health.risks.append(Risk.ACTIVITY_DOWN)
    return health


@dataclass(frozen=True)
class Participation:
    enrolled: int  # active partners
    participating: int  # of them, with an approved activity in the last PARTICIPATION_DAYS

    @property
    def rate(self) -> Decimal | None:
        """Participating ÷ enrolled as a percentage with one decimal; None with nobody enrolled."""
        if not self.enrolled:
            return None
        return (Decimal(self.participating) * 100 / self.enrolled).quantize(Decimal("0.1"))


def program_participation(*, days: int = PARTICIPATION_DAYS) -> Participation:
    """Active partners and how many of them had an approved activity in the last `days` days (one query)."""
    recent = Activity.objects.filter(
        partner=OuterRef("pk"), status=Activity.Status.APPROVED, occurred_at__gte=timezone.now() - timedelta(days=days)
    )
    totals = Partner.objects.filter(status=Partner.Status.ACTIVE).aggregate(
        enrolled=Count("pk"), participating=Count("pk", filter=Q(Exists(recent)))
    )
    return Participation(enrolled=totals["enrolled"], participating=totals["participating"])


@dataclass(frozen=True)
class ActivityMonth:
    active_partners: int  # distinct partners with an approved activity that occurred in the month
    new_activities: int  # activities recorded (created) in the month, whatever their status


def activity_by_month(*, start: datetime, end: datetime) -> dict[date, ActivityMonth]:
    """Per month (current time zone) of [start, end): active partners and new activities (two queries)."""
    active = dict(
        Activity.objects.filter(status=Activity.Status.APPROVED, occurred_at__gte=start, occurred_at__lt=end)
        .annotate(month=TruncMonth("occurred_at"))
        .values_list("month")
        .annotate(partners=Count("partner", distinct=True))
        .order_by()
    )
    created = dict(
        Activity.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(month=TruncMonth("created_at"))
        .values_list("month")
        .annotate(count=Count("pk"))
        .order_by()
    )
    active = {month_of(month): count for month, count in active.items()}
    created = {month_of(month): count for month, count in created.items()}
    return {month: ActivityMonth(active.get(month, 0), created.get(month, 0)) for month in sorted({*active, *created})}


def partner_notes(*, partner: Partner, limit: int = 50) -> list[PartnerNote]:
    """Staff notes about the partner, newest first."""
    return list(
        PartnerNote.objects.filter(partner=partner).select_related("author").order_by("-created_at", "-pk")[:limit]
    )


def partner_recent_activities(*, partner: Partner, limit: int = 10) -> list[Activity]:
    """The partner's latest activities in any status, newest first."""
    return list(Activity.objects.filter(partner=partner).order_by("-occurred_at", "-pk")[:limit])
