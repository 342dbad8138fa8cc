"""Program analytics over a filtered set of partners and a period: retention by join cohort, sales per partner
(median and quartiles by tier and by tier movement), incentive cost per unit of sales, tier progression, engagement.

Every figure is one set-based query over the partners the filters select (`partners_filtered`, used as a
subquery, never a list of ids); quartiles are taken in Python from one row per partner. docs/analytics.md states
each definition. Amounts are in the program's currency: an activity in another currency counts at its converted
amount (the rate of its day, docs/currencies.md).
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, DecimalField, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth

from funds.models import FundPayout
from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.tenancy.context import current_tenant
from partners.models import Activity, ActivityKind, Partner
from tiers.models import PartnerTier, TierChange

CENT = Decimal("0.01")
NO_TIER = ""
UP, STAYED, DOWN = "up", "stayed", "down"
# A first tier counts as a move up.
MOVED_UP = Q(from_tier__isnull=True) | Q(to_tier__rank__gt=F("from_tier__rank"))


@dataclass(frozen=True)
class Filters:
    """Which partners and which days: [start, end] are dates in the tenant's time zone, both included."""

    start: date
    end: date
    partner_type_id: int | None = None
    region: str = ""
    tier_name: str = ""
    account_manager_id: int | None = None

    def bounds(self) -> tuple[datetime, datetime]:
        zone = ZoneInfo(current_tenant().time_zone)
        return (
            datetime.combine(self.start, time.min, tzinfo=zone),
            datetime.combine(self.end, time.max, tzinfo=zone),
        )


def partners_filtered(filters: Filters) -> QuerySet[Partner]:
    """The program's active partners that the filters select (the tier is the partner's current tier)."""
    partners = Partner.objects.filter(status=Partner.Status.ACTIVE)
    if filters.partner_type_id:
        partners = partners.filter(partner_type_id=filters.partner_type_id)
    if filters.region:
        partners = partners.filter(region=filters.region)
    if filters.account_manager_id:
        partners = partners.filter(account_manager_id=filters.account_manager_id)
    if filters.tier_name:
        partners = partners.filter(tier_states__tier__name=filters.tier_name)
    return partners


def _approved(filters: Filters) -> QuerySet[Activity]:
    start, end = filters.bounds()
    return Activity.objects.filter(
        status=Activity.Status.APPROVED,
        occurred_at__gte=start,
        occurred_at__lte=end,
        partner__in=partners_filtered(filters),
    )


@dataclass(frozen=True)
class Cohort:
    month: date
    partners: int
    active: int

    @property
    def retention(self) -> Decimal | None:
        return (Decimal(self.active) * 100 / self.partners).quantize(Decimal("0.1")) if self.partners else None

    @property
    def churn(self) -> Decimal | None:
        return None if self.retention is None else Decimal(100) - self.retention


def retention_by_cohort(filters: Filters) -> list[Cohort]:
    """Per month partners joined (up to the period's end): how many, and how many were active in the period, i.e.
    had an approved activity of any kind then (one query). Churned = not active."""
    start, end = filters.bounds()
    active = Activity.objects.filter(
        partner=OuterRef("pk"), status=Activity.Status.APPROVED, occurred_at__gte=start, occurred_at__lte=end
    )
    rows = (
        partners_filtered(filters)
        .filter(joined_at__lte=filters.end)
        .annotate(cohort=TruncMonth("joined_at"), is_active=Exists(active))
        .values("cohort")
        .annotate(partners=Count("pk"), active=Count("pk", filter=Q(is_active=True)))
        .order_by("cohort")
    )
    return [Cohort(row["cohort"], row["partners"], row["active"]) for row in rows]


@dataclass(frozen=True)
class Spread:
    """Sales per partner in a group: how many partners, the total, and the quartiles (partners with no sale count
    as 0, so that a group's median is not only its sellers')."""

    group: str
    partners: int
    total: Decimal
    lower_quartile: Decimal
    median: Decimal
    upper_quartile: Decimal

    @property
    def mean(self) -> Decimal:
        return (self.total / self.partners).quantize(CENT) if self.partners else Decimal(0)


def _spread(group: str, values: list[Decimal]) -> Spread:
    ordered = sorted(values)
    if len(ordered) == 1:
        lower = median = upper = ordered[0]
    else:
        # The "inclusive" method: quartiles interpolated between the observed values (like PostgreSQL's
        # percentile_cont and spreadsheets' QUARTILE.INC).
        lower, median, upper = statistics.quantiles(ordered, n=4, method="inclusive")
    return Spread(
        group,
        len(ordered),
        sum(ordered, Decimal(0)),
        *(Decimal(value).quantize(CENT) for value in (lower, median, upper)),
    )


@dataclass(frozen=True)
class PartnerSales:
    partner_id: int
    tier: str
    movement: str
    sales: Decimal


def sales_per_partner(filters: Filters) -> list[PartnerSales]:
    """One row per selected partner (joined by the period's end): current tier, tier movement in the period (net
    ranks moved up or down by its tier changes) and approved sales converted to the program's currency at the rate of
    each sale's day (`Activity.amount_converted`, one query)."""
    start, end = filters.bounds()
    sales = (
        Activity.objects.filter(
            partner=OuterRef("pk"),
            kind=ActivityKind.SALE,
            status=Activity.Status.APPROVED,
            occurred_at__gte=start,
            occurred_at__lte=end,
        )
        .values("partner")
        .annotate(total=Sum("amount_converted"))
        .values("total")
    )
    changes = TierChange.objects.filter(
        partner=OuterRef("pk"), evaluated_on__gte=filters.start, evaluated_on__lte=filters.end
    )
    ups = changes.filter(MOVED_UP).values("partner").annotate(n=Count("pk")).values("n")
    downs = changes.filter(to_tier__rank__lt=F("from_tier__rank")).values("partner").annotate(n=Count("pk")).values("n")
    rows = (
        partners_filtered(filters)
        .filter(joined_at__lte=filters.end)
        .annotate(
            sales=Coalesce(Subquery(sales), Value(Decimal(0)), output_field=DecimalField()),
            ups=Coalesce(Subquery(ups), 0, output_field=IntegerField()),
            downs=Coalesce(Subquery(downs), 0, output_field=IntegerField()),
            tier=F("tier_states__tier__name"),
        )
        .values_list("pk", "tier", "ups", "downs", "sales")
        .order_by()
    )
    return [
        PartnerSales(pk, tier or NO_TIER, UP if up > down else DOWN if down > up else STAYED, amount)
        for pk, tier, up, down, amount in rows
    ]


def sales_spread(rows: list[PartnerSales], *, by: str) -> list[Spread]:
    """Quartiles of sales per partner, grouped `by` "tier" or "movement", in the order groups first appear sorted."""
    groups: dict[str, list[Decimal]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, by)].append(row.sales)
    order = [UP, STAYED, DOWN] if by == "movement" else sorted(groups)
    return [_spread(group, groups[group]) for group in order if group in groups]


@dataclass(frozen=True)
class IncentiveCost:
    """What the program gave a tier's partners in the period against what they sold."""

    tier: str
    sales: Decimal
    points: int  # points issued, net of reversals of earnings
    points_value: Decimal
    funds_paid: Decimal  # fund credit notes and payments in the program's currency

    @property
    def cost(self) -> Decimal:
        return self.points_value + self.funds_paid

    @property
    def cost_per_unit(self) -> Decimal | None:
        """Incentive cost per one unit of sales (e.g. 0.021 = 2.1 cents per dollar sold); None without sales."""
        return (self.cost / self.sales).quantize(Decimal("0.0001")) if self.sales else None


EARNED = Q(kind=EntryKind.EARN) | Q(kind=EntryKind.REVERSE, reverses__kind=EntryKind.EARN)


def incentive_cost_by_tier(filters: Filters, rows: list[PartnerSales]) -> list[IncentiveCost]:
    """Per current tier: points issued in the period at the point value, plus funds paid, ÷ sales (two queries;
    sales come from `sales_per_partner`'s rows)."""
    start, end = filters.bounds()
    tenant = current_tenant()
    partners = partners_filtered(filters).filter(joined_at__lte=filters.end)
    tier_of = {row.partner_id: row.tier for row in rows}
    sales: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        sales[row.tier] += row.sales
    points: dict[str, int] = defaultdict(int)
    for partner_id, total in (
        LedgerEntry.objects.filter(
            EARNED, effective_at__gte=start, effective_at__lte=end, account__partner__in=partners
        )
        .values_list("account__partner_id")
        .annotate(total=Sum("points"))
        .order_by()
    ):
        points[tier_of.get(partner_id, NO_TIER)] += total
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for partner_id, total in (
        FundPayout.objects.filter(
            issued_at__gte=start, issued_at__lte=end, currency=tenant.currency, partner__in=partners
        )
        .values_list("partner_id")
        .annotate(total=Sum("amount"))
        .order_by()
    ):
        paid[tier_of.get(partner_id, NO_TIER)] += total
    return [
        IncentiveCost(
            tier,
            sales[tier],
            points[tier],
            (Decimal(points[tier]) * tenant.point_value).quantize(CENT),
            paid[tier],
        )
        for tier in sorted(set(sales) | set(points) | set(paid))
    ]


@dataclass(frozen=True)
class ProgressionMonth:
    month: date
    up: int
    down: int


def tier_progression_by_month(filters: Filters) -> list[ProgressionMonth]:
    """Tier changes of the selected partners per month of the period, up (incl. a first tier) and down (one query)."""
    rows = (
        TierChange.objects.filter(
            partner__in=partners_filtered(filters), evaluated_on__gte=filters.start, evaluated_on__lte=filters.end
        )
        .annotate(month=TruncMonth("evaluated_on"))
        .values("month")
        .annotate(
            up=Count("pk", filter=MOVED_UP),
            down=Count("pk", filter=Q(to_tier__rank__lt=F("from_tier__rank"))),
        )
        .order_by("month")
    )
    return [ProgressionMonth(row["month"], row["up"], row["down"]) for row in rows]


@dataclass(frozen=True)
class Engagement:
    kind: str
    label: str
    partners: int
    of: int

    @property
    def share(self) -> Decimal | None:
        return (Decimal(self.partners) * 100 / self.of).quantize(Decimal("0.1")) if self.of else None


def engagement_by_kind(filters: Filters) -> list[Engagement]:
    """For each kind of activity, the share of the selected partners with an approved one in the period (two
    queries: the partners, and distinct partners per kind)."""
    selected = partners_filtered(filters).filter(joined_at__lte=filters.end).count()
    counts = dict(
        _approved(filters).values_list("kind").annotate(partners=Count("partner_id", distinct=True)).order_by()
    )
    return [Engagement(kind, label, counts.get(kind, 0), selected) for kind, label in ActivityKind.choices]


# A change to a higher-ranked tier than the one held; a first placement is not an upgrade.
UPGRADE = Q(from_tier__isnull=False, to_tier__rank__gt=F("from_tier__rank"))


@dataclass(frozen=True)
class UpgradeCohort:
    """Partners who joined in a month: how many, how many had a first upgrade by the period's end, and the days
    from joining to it (quartiles over those upgraded)."""

    month: date
    partners: int
    upgraded: int
    lower_quartile: Decimal | None
    median: Decimal | None
    upper_quartile: Decimal | None


def _days_spread(days: list[int]) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    if not days:
        return None, None, None
    ordered = sorted(days)
    if len(ordered) == 1:
        return (Decimal(ordered[0]),) * 3
    return tuple(  # type: ignore[return-value]
        Decimal(value).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        for value in statistics.quantiles(ordered, n=4, method="inclusive")
    )


def time_to_first_upgrade(filters: Filters) -> list[UpgradeCohort]:
    """Per month partners joined (up to the period's end): days from joining to the first upgrade evaluated by the
    period's end, as quartiles; partners not yet upgraded are counted, not timed (one query, one row per partner).
    """
    first_upgrade = (
        TierChange.objects.filter(UPGRADE, partner=OuterRef("pk"), evaluated_on__lte=filters.end)
        .order_by("evaluated_on")
        .values("evaluated_on")[:1]
    )
    rows = (
        partners_filtered(filters)
        .filter(joined_at__lte=filters.end)
        .annotate(cohort=TruncMonth("joined_at"), upgraded_on=Subquery(first_upgrade))
        .values_list("cohort", "joined_at", "upgraded_on")
        .order_by("cohort")
    )
    cohorts: dict[date, list] = {}
    for cohort, joined_at, upgraded_on in rows:
        members = cohorts.setdefault(cohort, [0, []])
        members[0] += 1
        if upgraded_on is not None:
            members[1].append(max((upgraded_on - joined_at).days, 0))
    return [
        UpgradeCohort(month, partners, len(days), *_days_spread(days)) for month, (partners, days) in cohorts.items()
    ]


# Days since the last approved activity, as of the period's end: (lowest, highest) days, highest None = no limit.
AGE_BUCKETS = ((0, 30), (31, 90), (91, 180), (181, 365), (366, None))


@dataclass(frozen=True)
class ActivityAge:
    lowest: int | None  # None: partners who never had an approved activity
    highest: int | None
    partners: int
    of: int

    @property
    def share(self) -> Decimal | None:
        return (Decimal(self.partners) * 100 / self.of).quantize(Decimal("0.1")) if self.of else None


def last_activity_age(filters: Filters) -> list[ActivityAge]:
    """How long before the period's end each selected partner's last approved activity (any kind, any time up to
    the end) happened, in buckets of days, then the partners who never had one (one query)."""
    _start, end = filters.bounds()
    last = (
        Activity.objects.filter(partner=OuterRef("pk"), status=Activity.Status.APPROVED, occurred_at__lte=end)
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    zone = ZoneInfo(current_tenant().time_zone)
    selected = partners_filtered(filters).filter(joined_at__lte=filters.end)
    moments = [moment for (moment,) in selected.annotate(last=Subquery(last)).values_list("last")]
    ages = [(filters.end - moment.astimezone(zone).date()).days for moment in moments if moment is not None]
    of = len(moments)

    def within(age: int, lowest: int, highest: int | None) -> bool:
        return lowest <= age and (highest is None or age <= highest)

    buckets = [
        ActivityAge(lowest, highest, sum(1 for age in ages if within(age, lowest, highest)), of)
        for lowest, highest in AGE_BUCKETS
    ]
    return [*buckets, ActivityAge(None, None, of - len(ages), of)]


def filter_choices() -> dict[str, list]:
    """Regions and current tier names in use, for the filter form (two queries)."""
    return {
        "regions": list(
            Partner.objects.exclude(region="").order_by("region").values_list("region", flat=True).distinct()
        ),
        # Current tiers' names, lowest rank first, each once (two tier models may share a name).
        "tiers": list(
            dict.fromkeys(
                PartnerTier.objects.order_by("tier__rank", "tier__name").values_list("tier__name", flat=True).distinct()
            )
        ),
    }
