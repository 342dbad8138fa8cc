"""What an earning rule would have paid: a draft rule or a SPIFF tried on the last months' approved activities
before it is switched on (issue 18, item 5). Reads only; nothing is posted."""

import copy
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from earning.models import EarningRule
from earning.services import ActiveRules, EarningActivity, cap_period_bounds, earning_rules_matching, rule_points
from loyalty.tenancy.context import current_tenant
from partners.models import Activity
from tiers.selectors import partner_point_multipliers


@dataclass(frozen=True)
class PartnerPayout:
    partner_id: int
    name: str
    activities: int
    points: int
    capped: int  # points the cap held back


@dataclass(frozen=True)
class RuleSimulation:
    since: date
    until: date
    activities: int  # approved activities of the rule's kind in the period
    matched: int  # those the rule's conditions take
    points: int
    cost: Decimal  # points at the program's point value, in its currency
    capped: int
    partners: list[PartnerPayout]  # most points first


def rule_simulate(*, rule: EarningRule, months: int, today: date | None = None) -> RuleSimulation:
    """Points `rule` would have paid on the approved activities of the last `months` months, per partner.

    Its conditions apply (kind, partner types, categories, minimum amount, code), not its dates or its on/off
    switch, so a campaign planned for next quarter is tried on the last one; tier multipliers are today's; the cap
    counts only the simulated points, per partner and cap period, in date order. Two queries and one pass.
    """
    until = today or timezone.localdate()
    since = until - relativedelta(months=months)
    timeless = copy.copy(rule)
    timeless.valid_from = timeless.valid_until = None
    rules = ActiveRules([timeless], {rule.pk: frozenset(rule.partner_types.values_list("pk", flat=True))})
    rows = (
        Activity.objects.filter(
            status=Activity.Status.APPROVED,
            kind=rule.activity_kind,
            occurred_at__date__gte=since,
            occurred_at__date__lte=until,
        )
        .order_by("occurred_at", "pk")
        .values_list(
            "pk",
            "partner_id",
            "partner__partner_type_id",
            "partner__name",
            "occurred_at",
            "amount_converted",
            "quantity",
            "code",
            "product_category",
        )
    )
    activities = [(row[3], EarningActivity(*row[:3], rule.activity_kind, *row[4:])) for row in rows]
    multipliers = partner_point_multipliers(partner_ids={activity.partner_id for _name, activity in activities})
    names: dict[int, str] = {}
    counts: dict[int, int] = defaultdict(int)
    paid: dict[int, int] = defaultdict(int)
    held: dict[int, int] = defaultdict(int)
    in_period: dict[tuple[int, object], int] = defaultdict(int)
    for name, activity in activities:
        if not earning_rules_matching(activity=activity, rules=rules):
            continue
        points = rule_points(rule=rule, activity=activity, multiplier=multipliers[activity.partner_id])
        if rule.cap_points is not None:
            period = (activity.partner_id, cap_period_bounds(rule=rule, moment=activity.occurred_at))
            allowed = max(0, min(points, rule.cap_points - in_period[period]))
            in_period[period] += allowed
            held[activity.partner_id] += points - allowed
            points = allowed
        names[activity.partner_id] = name
        counts[activity.partner_id] += 1
        paid[activity.partner_id] += points
    partners = sorted(
        (PartnerPayout(pk, names[pk], counts[pk], paid[pk], held[pk]) for pk in names),
        key=lambda payout: (-payout.points, payout.name),
    )
    total = sum(paid.values())
    return RuleSimulation(
        since=since,
        until=until,
        activities=len(activities),
        matched=sum(counts.values()),
        points=total,
        cost=(total * current_tenant().point_value).quantize(Decimal("0.01")),
        capped=sum(held.values()),
        partners=partners,
    )
