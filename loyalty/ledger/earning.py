"""Earning rules applied to activities: which rules match, how many points, caps, and their reversal."""

from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal

from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from loyalty.ledger.lock_objects import account_lock
from loyalty.ledger.models import EarningRule, EntryKind, LedgerEntry
from loyalty.ledger.services import entry_reverse, points_account_for, points_post
from loyalty.tenancy.models import User
from partners.models import Activity
from tiers.selectors import partner_point_multiplier


def earning_rules_matching(*, activity: Activity) -> list[EarningRule]:
    """Active rules whose kind, window, partner types, categories, minimum amount and code fit the activity."""
    day = timezone.localdate(activity.occurred_at)
    rules = (
        EarningRule.objects.filter(activity_kind=activity.kind, is_active=True)
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=day))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day))
        .filter(Q(code="") | Q(code=activity.code))
        .filter(Q(partner_types__isnull=True) | Q(partner_types=activity.partner.partner_type_id))
        .distinct()
        .order_by("pk")
    )
    return [
        rule
        for rule in rules
        if (not rule.product_categories or activity.product_category in rule.product_categories)
        and (rule.minimum_amount is None or (activity.amount or 0) >= rule.minimum_amount)
    ]


def rule_points(*, rule: EarningRule, activity: Activity, multiplier: Decimal) -> int:
    """Points the rule gives the activity before any cap, rounded down."""
    if rule.basis == EarningRule.Basis.PER_CURRENCY_UNIT:
        base = (activity.amount or Decimal(0)) * rule.rate
    elif rule.basis == EarningRule.Basis.PER_QUANTITY:
        base = activity.quantity * rule.rate
    else:
        base = rule.rate
    if rule.applies_tier_multiplier:
        base *= multiplier
    return int(base.to_integral_value(rounding=ROUND_FLOOR))


def cap_period_bounds(*, rule: EarningRule, moment: datetime) -> tuple[datetime, datetime] | None:
    """The cap period around `moment` in the tenant's time zone (None: over the rule's life)."""
    day = timezone.localdate(moment)
    if rule.cap_period == EarningRule.CapPeriod.EVER:
        return None
    if rule.cap_period == EarningRule.CapPeriod.MONTH:
        start = date(day.year, day.month, 1)
        end = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    elif rule.cap_period == EarningRule.CapPeriod.QUARTER:
        first_month = 3 * ((day.month - 1) // 3) + 1
        start = date(day.year, first_month, 1)
        end = date(day.year + (first_month + 3 > 12), (first_month + 2) % 12 + 1, 1)
    else:
        start, end = date(day.year, 1, 1), date(day.year + 1, 1, 1)
    zone = timezone.get_current_timezone()
    return datetime.combine(start, datetime.min.time(), zone), datetime.combine(end, datetime.min.time(), zone)


def _capped(*, rule: EarningRule, account_id: int, activity: Activity, points: int) -> int:
    if rule.cap_points is None:
        return points
    # Reversals count in the period of the entry they reverse.
    earned = LedgerEntry.objects.filter(earning_rule=rule, account_id=account_id).annotate(
        period_moment=Coalesce("reverses__effective_at", "effective_at")
    )
    bounds = cap_period_bounds(rule=rule, moment=activity.occurred_at)
    if bounds is not None:
        earned = earned.filter(period_moment__gte=bounds[0], period_moment__lt=bounds[1])
    so_far = earned.aggregate(total=Sum("points"))["total"] or 0
    return max(0, min(points, rule.cap_points - so_far))


def activity_points_post(*, activity: Activity, actor: User | None) -> list[LedgerEntry]:
    """Post the earn entries of an approved activity, one per matching rule; idempotent by (activity, rule).

    Runs under the account's lock so that concurrent approvals cannot both slip under a cap.
    """
    account = points_account_for(partner=activity.partner)
    account_lock(account_id=account.pk)
    multiplier = partner_point_multiplier(partner=activity.partner)
    entries = []
    for rule in earning_rules_matching(activity=activity):
        key = f"earn:activity:{activity.pk}:rule:{rule.pk}"
        existing = LedgerEntry.objects.filter(idempotency_key=key).first()
        if existing is not None:
            entries.append(existing)
            continue
        points = _capped(
            rule=rule,
            account_id=account.pk,
            activity=activity,
            points=rule_points(rule=rule, activity=activity, multiplier=multiplier),
        )
        if points <= 0:
            continue
        entries.append(
            points_post(
                account=account,
                kind=EntryKind.EARN,
                points=points,
                idempotency_key=key,
                actor=actor,
                memo=rule.name,
                activity=activity,
                earning_rule=rule,
                effective_at=activity.occurred_at,
            )
        )
    return entries


def activity_points_reverse(*, activity: Activity, actor: User | None, reason: str) -> list[LedgerEntry]:
    """Reverse every earn entry of the activity that is not reversed yet."""
    reversals = []
    for entry in LedgerEntry.objects.filter(activity=activity, kind=EntryKind.EARN).order_by("pk"):
        reversal = entry_reverse(entry=entry, actor=actor, reason=reason)
        if reversal is not None:
            reversals.append(reversal)
    return reversals
