"""When each kind of notification is raised and what it carries: from a change (tier, claim, redemption) or
from the daily run (expiring points, grace periods, closeness to the next tier, the monthly statement)."""

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.utils import timezone, translation

from deals.models import DealRegistration
from deals.selectors import deals_protection_ending
from engagement.models import Announcement, Survey
from funds.models import FundClaim, FundPayout, FundRequest
from loyalty.ledger.models import PointsAccount
from loyalty.ledger.selectors import points_expiring, points_movements_by_partner
from loyalty.translations import context_translations
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


def _merged(*parts: dict[str, dict]) -> dict[str, dict]:
    """Per-language context values from several sources, one dict per language."""
    merged: dict[str, dict] = {}
    for part in parts:
        for language, values in part.items():
            merged.setdefault(language, {}).update(values)
    return merged


def _benefits_in_every_language(tier: Tier) -> dict[str, dict]:
    """The tier's benefits as each language says them: a stored notification is read later, in its reader's."""
    found = {}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            found[language] = {"benefits": [entitlement.label for entitlement in tier_entitlements(tier=tier)]}
    return found


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
                    "i18n": _merged(
                        context_translations(from_tier=tiers[change.from_tier_id], to_tier=tiers[change.to_tier_id]),
                        _benefits_in_every_language(tiers[change.to_tier_id]),
                    ),
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


def claim_to_review_notify(*, claim: Claim) -> None:
    """Tell the staff that a claim waits for their review (it was not approved automatically), and why."""
    notifications_raise(
        events=[
            Event(
                partner_id=claim.partner_id,
                kind=Kind.CLAIM_TO_REVIEW,
                subject=f"claim:{claim.pk}",
                audience="staff",
                context={
                    "partner": claim.partner.name,
                    "reference": claim.invoice_number or claim.activity.code or str(claim.pk),
                    "reasons": list(claim.review_reasons),
                    "link": f"/admin/partners/claim/{claim.pk}/change/",
                },
            )
        ]
    )


def redemption_to_review_notify(*, redemption: Redemption) -> None:
    """Tell the staff that a redemption waits for their approval (the reward needs it, or a budget was passed)."""
    notifications_raise(
        events=[
            Event(
                partner_id=redemption.partner_id,
                kind=Kind.REDEMPTION_TO_REVIEW,
                subject=f"redemption:{redemption.pk}",
                audience="staff",
                context={
                    "partner": redemption.partner.name,
                    "reward": redemption.reward.name,
                    "points": redemption.points,
                    "reasons": list(redemption.review_reasons),
                    "i18n": context_translations(reward=redemption.reward),
                    "link": f"/admin/rewards/redemption/{redemption.pk}/change/",
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
                    "i18n": context_translations(reward=redemption.reward),
                },
            )
        ]
    )


# The moves of a registration the program makes and its partner hears of (its own moves are not news to it).
TOLD_DEAL_STATUSES = frozenset(
    {DealRegistration.Status.APPROVED, DealRegistration.Status.REJECTED, DealRegistration.Status.EXPIRED}
)


def deal_status_notify(*, deal: DealRegistration, to_status: str, reason: str, **_move: object) -> None:
    """Submitted: the program staff are told it waits; approved, rejected or expired: the partner's members are."""
    if to_status == DealRegistration.Status.SUBMITTED:
        event = Event(
            partner_id=deal.partner_id,
            kind=Kind.DEAL_TO_REVIEW,
            subject=f"deal:{deal.pk}",
            audience="staff",
            context={
                "partner": deal.partner.name,
                "reference": deal.reference,
                "customer": deal.customer_name,
                "conflicts": deal.conflicts.count(),
                "link": f"/deals/{deal.pk}/",
            },
        )
    elif to_status in TOLD_DEAL_STATUSES:
        event = Event(
            partner_id=deal.partner_id,
            kind=Kind.DEAL_STATUS,
            subject=f"deal:{deal.pk}",
            period=to_status,
            context={
                "status": to_status,
                "reference": deal.reference,
                "customer": deal.customer_name,
                "protected_until": deal.protected_until.isoformat() if deal.protected_until else "",
                "reason": reason,
                "link": f"/deals/{deal.pk}/",
            },
        )
    else:
        return
    notifications_raise(events=[event])


def daily_notifications_raise(*, today: date) -> None:
    """The current tenant's daily notifications; each is raised once per subject and period, so re-runs are safe."""
    notifications_raise(
        events=[
            *_expiring(),
            *_grace(today),
            *_near_next_tier(today),
            *_monthly_statement(today),
            *_deal_protection_ending(today),
        ]
    )


def _deal_protection_ending(today: date) -> list[Event]:
    """A registration's protection ends within the program's reminder days: once per registration and end date."""
    return [
        Event(
            partner_id=deal.partner_id,
            kind=Kind.DEAL_PROTECTION_ENDING,
            subject=f"deal:{deal.pk}",
            period=deal.protected_until.isoformat(),
            context={
                "reference": deal.reference,
                "customer": deal.customer_name,
                "protected_until": deal.protected_until.isoformat(),
                "days_left": (deal.protected_until - today).days,
                "can_extend": deal.extended_at is None,
                "link": f"/deals/{deal.pk}/",
            },
        )
        for deal in deals_protection_ending(today=today)
    ]


def _expiring() -> list[Event]:
    """Points expiring within 30 days, once per partner and first expiry date."""
    return [
        Event(
            partner_id=row.partner_id,
            kind=Kind.POINTS_EXPIRING,
            subject="points_expiring",
            period=row.first_expiry.date().isoformat(),
            context={
                "points": row.points,
                "expires_on": row.first_expiry.date().isoformat(),
                "within_days": EXPIRY_NOTICE_DAYS,
                "link": "/statement/",
            },
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
                    "i18n": context_translations(tier=state.tier, lower_tier=score.qualified_tier if score else None),
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
                        "i18n": context_translations(next_tier=following),
                    },
                )
            )
    return events


def _monthly_statement(today: date) -> list[Event]:
    """Last month's points by kind of movement (earned, redeemed, expired…) and the balance, once a month."""
    month_start = today.replace(day=1) - relativedelta(months=1)
    month_end = today.replace(day=1)
    movements = points_movements_by_partner(start=_local_midnight(month_start), end=_local_midnight(month_end))
    period = f"{month_start:%Y-%m}"
    return [
        Event(
            partner_id=partner_id,
            kind=Kind.MONTHLY_STATEMENT,
            subject="monthly_statement",
            period=period,
            context={
                "month": month_start.isoformat(),
                "movements": movements.get(partner_id, {}),
                "balance": balance,
                "link": "/statement/",
            },
        )
        for partner_id, balance in PointsAccount.objects.values_list("partner_id", "balance")
        if balance or movements.get(partner_id)
    ]


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def fund_decision_notify(
    *, request: FundRequest, claim: FundClaim | None, decision: str, payout: FundPayout | None
) -> None:
    """A fund request pre-approved (in full or in part), rejected or expired; a claim paid or rejected."""
    subject = f"fund_claim:{claim.pk}" if claim is not None else f"fund_request:{request.pk}"
    amount = payout.amount if payout is not None else request.approved_amount
    notifications_raise(
        events=[
            Event(
                partner_id=request.partner_id,
                kind=Kind.FUND_DECISION,
                subject=subject,
                period=decision,
                context={
                    "decision": decision,
                    "claim": claim is not None,
                    "title": request.title,
                    "amount": "" if amount is None else str(amount),
                    "currency": request.currency,
                    "credit_note": payout.number if payout is not None else "",
                    "reason": (claim.decision_reason if claim is not None else request.decision_reason),
                    "link": "/funds/",
                },
            )
        ]
    )


def announcement_notify(*, announcement: Announcement, partner_ids: Sequence[int]) -> None:
    """A published announcement, in the notification centre and by email (event `announcement.published`); the texts
    travel in every language written, and each member reads their own."""
    notifications_raise(
        events=[
            Event(
                partner_id=partner_id,
                kind=Kind.ANNOUNCEMENT,
                subject=f"announcement:{announcement.pk}",
                context={"texts": announcement.texts, "link": f"/announcements/{announcement.pk}/"},
            )
            for partner_id in partner_ids
        ]
    )


def survey_notify(*, survey: Survey, period: str, partner_ids: Sequence[int]) -> None:
    """A survey sent for a period (event `survey.sent`): once per member and period."""
    notifications_raise(
        events=[
            Event(
                partner_id=partner_id,
                kind=Kind.SURVEY,
                subject=f"survey:{survey.pk}",
                period=period,
                context={"texts": survey.texts, "link": "/surveys/"},
            )
            for partner_id in partner_ids
        ]
    )
