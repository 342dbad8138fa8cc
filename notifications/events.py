"""When each kind of notification is raised and what it carries: from a change (tier, claim, redemption) or
from the daily run (expiring points, grace periods, closeness to the next tier, the monthly statement)."""

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db.models import OuterRef, Q, Subquery, Sum

from loyalty.ledger.models import PointsAccount
from loyalty.ledger.selectors import points_expiring
from notifications.models import Kind
from notifications.services import Event, notifications_raise
from partners.models import Claim
from rewards.models import Redemption
from tiers.models import PartnerScore, PartnerTier, Tier, TierChange, TierModel
from tiers.selectors import tier_entitlements

# Close to the next tier: a score at or above this share of its minimum (DESIGN §8, issue 9).
NEAR_SHARE = Decimal("0.85")
EXPIRY_NOTICE_DAYS = 30
# Redemption moves a partner did not make themselves.
TOLD_REDEMPTION_STATUSES = frozenset(
    {Redemption.Status.APPROVED, Redemption.Status.FULFILLED, Redemption.Status.REJECTED}
)


def tier_changes_notify(*, changes: Sequence[TierChange]) -> None:
    """An upgrade or a downgrade, once per tier change (a first tier is not a move)."""
    moves = [change for change in changes if change.from_tier_id is not None]
    if not moves:
        return
    tier_ids = {change.from_tier_id for change in moves} | {change.to_tier_id for change in moves}
    tiers = {tier.pk: tier for tier in Tier.objects.filter(pk__in=tier_ids).prefetch_related("benefits")}
    notifications_raise(
        events=[
            Event(
                partner_id=change.partner_id,
                kind=Kind.TIER_UPGRADED
                if tiers[change.to_tier_id].rank > tiers[change.from_tier_id].rank
                else Kind.TIER_DOWNGRADED,
                subject=f"tier_change:{change.pk}",
                context={
                    "from_tier": tiers[change.from_tier_id].name,
                    "to_tier": tiers[change.to_tier_id].name,
                    "benefits": [entitlement.label for entitlement in tier_entitlements(tier=tiers[change.to_tier_id])],
                    "link": "/",
                },
            )
            for change in moves
        ]
    )


def claim_reviewed_notify(*, claim: Claim) -> None:
    notifications_raise(
        events=[
            Event(
                partner_id=claim.partner_id,
                kind=Kind.CLAIM_REVIEWED,
                subject=f"claim:{claim.pk}",
                period=claim.status,
                context={
                    "approved": claim.status == Claim.Status.APPROVED,
                    "reference": claim.invoice_number or claim.activity.code or str(claim.pk),
                    "reason": claim.review_note,
                    "link": "/claims/",
                },
            )
        ]
    )


def redemption_status_notify(*, redemption: Redemption, **_move: object) -> None:
    """Approved, fulfilled or rejected: the moves the program makes (a partner's own request or cancel is not news)."""
    if redemption.status not in TOLD_REDEMPTION_STATUSES:
        return
    notifications_raise(
        events=[
            Event(
                partner_id=redemption.partner_id,
                kind=Kind.REDEMPTION_STATUS,
                subject=f"redemption:{redemption.pk}",
                period=redemption.status,
                context={
                    "status": redemption.status,
                    "reward": redemption.reward.name,
                    "points": redemption.points,
                    "link": "/rewards/history/",
                },
            )
        ]
    )


def daily_notifications_raise(*, today: date) -> None:
    """The current tenant's daily notifications; each is raised once per subject and period, so re-runs are safe."""
    notifications_raise(events=[*_expiring(), *_grace(today), *_near_next_tier(today), *_monthly_statement(today)])


def _expiring() -> list[Event]:
    """Points expiring within 30 days, once per partner and first expiry date."""
    return [
        Event(
            partner_id=row.partner_id,
            kind=Kind.POINTS_EXPIRING,
            subject="points_expiring",
            period=row.first_expiry.date().isoformat(),
            context={"points": row.points, "expires_on": row.first_expiry.date().isoformat(), "link": "/statement/"},
        )
        for row in points_expiring(within_days=EXPIRY_NOTICE_DAYS)
    ]


def _latest_scores(partner_ids: Sequence[int] | None = None) -> dict[int, PartnerScore]:
    latest = PartnerScore.objects.filter(partner=OuterRef("partner")).order_by("-evaluated_on", "-computed_at")
    scores = PartnerScore.objects.filter(pk=Subquery(latest.values("pk")[:1])).select_related("qualified_tier")
    if partner_ids is not None:
        scores = scores.filter(partner_id__in=partner_ids)
    return {score.partner_id: score for score in scores}


def _grace(today: date) -> list[Event]:
    """A tier kept in its grace period: when it will drop and what keeps it, once per grace period."""
    states = list(
        PartnerTier.objects.filter(below_since__isnull=False)
        .exclude(pinned_tier__isnull=False, pinned_until__gte=today)
        .select_related("tier__model")
    )
    scores = _latest_scores([state.partner_id for state in states])
    events = []
    for state in states:
        score = scores.get(state.partner_id)
        lower = score.qualified_tier.name if score and score.qualified_tier else ""
        events.append(
            Event(
                partner_id=state.partner_id,
                kind=Kind.GRACE_WARNING,
                subject=f"grace:{state.tier_id}",
                period=state.below_since.isoformat(),
                context={
                    "tier": state.tier.name,
                    "lower_tier": lower,
                    "on": (state.below_since + timedelta(days=state.tier.model.grace_days)).isoformat(),
                    "gaps": score.gaps if score else {},
                    "link": "/",
                },
            )
        )
    return events


def _near_next_tier(today: date) -> list[Event]:
    """At 85 % or more of the next tier's minimum score but not there yet: at most once a quarter per tier."""
    model = TierModel.objects.filter(status=TierModel.Status.ACTIVE).first()
    if model is None:
        return []
    tiers = list(Tier.objects.filter(model=model).order_by("rank"))
    current = dict(PartnerTier.objects.values_list("partner_id", "tier__rank"))
    quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    events = []
    for partner_id, score in _latest_scores().items():
        rank = current.get(partner_id, 0)
        following = next((tier for tier in tiers if tier.rank > rank), None)
        if following is None or following.minimum_score <= 0 or score.tier_model_id != model.pk:
            continue
        share = score.score / following.minimum_score
        if NEAR_SHARE <= share < 1:
            events.append(
                Event(
                    partner_id=partner_id,
                    kind=Kind.NEAR_NEXT_TIER,
                    subject=f"near:{following.pk}",
                    period=quarter,
                    context={
                        "next_tier": following.name,
                        "percent": int(share * 100),
                        "gaps": score.gaps,
                        "link": "/",
                    },
                )
            )
    return events


def _monthly_statement(today: date) -> list[Event]:
    """Last month's points in and out, and the balance, for every partner with an account: once a month."""
    month_start = today.replace(day=1) - relativedelta(months=1)
    month_end = today.replace(day=1)
    in_month = Q(entries__effective_at__date__gte=month_start, entries__effective_at__date__lt=month_end)
    accounts = PointsAccount.objects.annotate(
        earned=Sum("entries__points", filter=in_month & Q(entries__points__gt=0), default=0),
        spent=Sum("entries__points", filter=in_month & Q(entries__points__lt=0), default=0),
    ).values_list("partner_id", "balance", "earned", "spent")
    period = f"{month_start:%Y-%m}"
    return [
        Event(
            partner_id=partner_id,
            kind=Kind.MONTHLY_STATEMENT,
            subject="monthly_statement",
            period=period,
            context={
                "month": month_start.isoformat(),
                "earned": earned,
                "spent": -spent,
                "balance": balance,
                "link": "/statement/",
            },
        )
        for partner_id, balance, earned, spent in accounts
        if balance or earned or spent
    ]
