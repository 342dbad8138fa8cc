"""Program analytics over a filtered set of partners and a period: retention by join cohort, sales per partner
(median and quartiles by tier and by tier movement), incentive cost per unit of sales, tier progression, engagement.

The activity figures (retention, sales, engagement, last-activity age) and the tier-change figures come from one
row per selected partner (`partners_in_period`): one query joining per-partner subqueries. Approved activities are
read from the nightly rollup of running totals (`analytics.models.PartnerMonth`: two rows per partner, the month
before the rolled months and their last month) for the closed months it holds and live from `partners_activity`
for the rest (the open month, the parts of months the period cuts, everything when there is no rollup yet);
`Reading` says which. The page groups those rows in SQL (`period_figures`: on PostgreSQL only a few rows per
figure reach Python, the quartiles' values picked by rank and interpolated by `inclusive_quartiles`); the
functions over `PartnerPeriod` rows compute the same figures in Python (SQLite, and the tests' reference).
docs/analytics.md states each definition and the rule. Amounts are in the program's currency: an activity in
another currency counts at its converted amount (the rate of its day, docs/currencies.md).
"""

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.db import connections, router, transaction
from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth

from analytics.models import KIND_COLUMNS, PartnerMonth, RollupState
from funds.models import FundPayout
from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.tenancy.context import current_tenant
from partners.models import Activity, ActivityKind, Partner
from tiers.models import PartnerTier, Tier, TierChange

CENT = Decimal("0.01")
NO_TIER = ""
UP, STAYED, DOWN = "up", "stayed", "down"
# A first tier counts as a move up.
MOVED_UP = Q(from_tier__isnull=True) | Q(to_tier__rank__gt=F("from_tier__rank"))
MOVED_DOWN = Q(to_tier__rank__lt=F("from_tier__rank"))
# A change to a higher-ranked tier than the one held; a first placement is not an upgrade.
UPGRADE = Q(from_tier__isnull=False, to_tier__rank__gt=F("from_tier__rank"))


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


@dataclass(frozen=True)
class Freshness:
    """How far the nightly rollup goes: months before `covered_until` as of `refreshed_at` (None: no rollup)."""

    covered_until: date | None = None
    refreshed_at: datetime | None = None


def rollup_freshness() -> Freshness:
    """The current tenant's rollup state (one query)."""
    state = RollupState.objects.only("covered_until", "refreshed_at").first()
    return Freshness() if state is None else Freshness(state.covered_until, state.refreshed_at)


@dataclass(frozen=True)
class Reading:
    """Where the activities of a period come from. Dates are the tenant's; ranges of moments are [from, to).

    - `rolled`: rollup months [first, until) add to the period's sums (None: none do);
    - `added`: live ranges that add to them; `subtracted`: a live range taken off them (the days of the first
      rolled month before the period's start, when that is fewer days than reading the rest of it live);
    - last activity up to the period's end: rollup months before `history_until` plus the live `history` range.
    """

    rolled: tuple[date, date] | None
    added: tuple[tuple[datetime, datetime], ...]
    subtracted: tuple[datetime, datetime] | None
    history_until: date | None
    history: tuple[datetime | None, datetime]


def month_start(day: date) -> date:
    return day.replace(day=1)


def reading_plan(filters: Filters, freshness: Freshness, zone: ZoneInfo) -> Reading:
    """Split the period between the rollup and live reads (the rule of docs/analytics.md, "The rollup")."""

    def moment(day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=zone)

    start, after = filters.start, filters.end + timedelta(days=1)
    if freshness.covered_until is None:
        return Reading(None, ((moment(start), moment(after)),), None, None, (None, moment(after)))
    # Rollup months before `until` are closed and end by the period's end.
    until = min(freshness.covered_until, month_start(after))
    first = start if start.day == 1 else month_start(start) + relativedelta(months=1)
    history = (moment(until), moment(after))
    if first >= until:
        return Reading(None, ((moment(start), moment(after)),), None, until, history)
    tail = ((moment(until), moment(after)),) if until < after else ()
    if start == first:
        return Reading((first, until), tail, None, until, history)
    head_month = month_start(start)
    if (start - head_month).days < (first - start).days:
        return Reading((head_month, until), tail, (moment(head_month), moment(start)), until, history)
    return Reading((first, until), ((moment(start), moment(first)), *tail), None, until, history)


@dataclass(slots=True)
class PartnerPeriod:
    """One selected partner over the period: what every partner-level figure needs."""

    partner_id: int
    joined_at: date
    tier: str
    ups: int = 0  # tier changes in the period up (incl. a first tier) and down
    downs: int = 0
    first_upgrade_on: date | None = None  # the first upgrade evaluated by the period's end
    activities: int = 0  # approved activities in the period
    sales: Decimal = Decimal(0)  # Σ converted amount of the approved sales in the period
    kinds_mask: int = 0  # bit i: an approved activity of the i-th kind of KIND_COLUMNS in the period
    last_activity_at: datetime | None = None  # the last approved activity up to the period's end, any time

    @property
    def movement(self) -> str:
        return UP if self.ups > self.downs else DOWN if self.downs > self.ups else STAYED

    @property
    def kinds(self) -> set[str]:
        return {kind for bit, kind in enumerate(KIND_COLUMNS) if self.kinds_mask & (1 << bit)}


def _live_sums() -> dict:
    """A live range's sums. `partner`, not `pk`: every column read is in `activity_status_time`, so PostgreSQL
    answers from that index alone (an index-only scan of the range)."""
    return {
        "activities": Count("partner"),
        "sales": Sum("amount_converted", filter=Q(kind=ActivityKind.SALE)),
        **{f"kind_{bit}": Count("partner", filter=Q(kind=kind)) for bit, kind in enumerate(KIND_COLUMNS)},
    }


def _sql(queryset: QuerySet, using: str) -> tuple[str, list]:
    sql, params = queryset.query.get_compiler(using=using).as_sql()
    return sql, list(params)


# The columns of `_partners_statement`, in order.
PARTNER_COLUMNS = ("key", "joined", "tier", "ups", "downs", "first_upgrade_on", "activities", "sales", "mask", "last")


def _partners_statement(filters: Filters, freshness: Freshness, using: str) -> tuple[str, list]:
    """The SELECT (and its parameters) of one row per selected partner (joined by the period's end), in
    `PARTNER_COLUMNS`: its tier now, its tier moves and approved activity in the period, its first upgrade and its
    last approved activity. It joins per-partner subqueries the ORM compiles (the partners; their tier changes;
    their rollup rows of two months; their live activities, per `reading_plan`) and merges them in SQL."""
    zone = ZoneInfo(current_tenant().time_zone)
    connection = connections[using]
    selected = partners_filtered(filters).filter(joined_at__lte=filters.end)
    # Each subquery reads the whole tenant when every active partner is selected (a semi-join costs more then);
    # with a filter, only the selected partners' rows.
    narrowed = bool(filters.partner_type_id or filters.region or filters.account_manager_id or filters.tier_name)

    def of_selected(queryset: QuerySet) -> QuerySet:
        return queryset.filter(partner__in=selected) if narrowed else queryset

    plan = reading_plan(filters, freshness, zone)
    in_period = Q(evaluated_on__gte=filters.start)
    subqueries = {
        "p": selected.values(key=F("pk"), joined=F("joined_at"), tier=F("tier_states__tier__name")).order_by(),
        "c": of_selected(TierChange.objects.filter(evaluated_on__lte=filters.end))
        .values(key=F("partner"))
        .annotate(
            ups=Count("pk", filter=in_period & MOVED_UP),
            downs=Count("pk", filter=in_period & MOVED_DOWN),
            first_upgrade_on=Min("evaluated_on", filter=UPGRADE),
        )
        .order_by(),
    }
    terms = []  # (alias, column prefix, sign) of every source of the period's sums
    if plan.history_until is not None:
        # Running totals: the rolled months' sums are the row of their last month less the row of the month before
        # them; the last month's row also holds the last approved activity before `history_until`.
        before_until = plan.history_until - relativedelta(months=1)
        months = {"e": before_until}
        if plan.rolled:
            months["s"] = plan.rolled[0] - relativedelta(months=1)
            terms += [("e", "total_", "+"), ("s", "total_", "-")]
        for alias, month in months.items():
            subqueries[alias] = (
                of_selected(PartnerMonth.objects.filter(month=month))
                .values(
                    key=F("partner"),
                    total_activities=F("activities"),
                    total_sales=F("sales"),
                    **{f"total_kind_{bit}": F(column) for bit, column in enumerate(KIND_COLUMNS.values())},
                    last=F("last_occurred_at"),
                )
                .order_by()
            )
    # One subquery per live range (an OR of ranges would be a bitmap scan, which always reads the table): its sums
    # when it adds to or is taken off the period's, its last activity when it is the history's range.
    signs = dict.fromkeys(plan.added, "+") | ({plan.subtracted: "-"} if plan.subtracted else {})
    for index, (low, high) in enumerate(dict.fromkeys([*signs, plan.history])):
        alias = f"l{index}"
        within = Q(occurred_at__lt=high) if low is None else Q(occurred_at__gte=low, occurred_at__lt=high)
        sums = _live_sums() if (low, high) in signs else {}
        if sums:
            terms.append((alias, "", signs[(low, high)]))
        last = {"last": Max("occurred_at")} if (low, high) == plan.history else {}
        subqueries[alias] = (
            of_selected(Activity.objects.filter(within, status=Activity.Status.APPROVED))
            .values(key=F("partner"))
            .annotate(**sums, **last)
            .order_by()
        )
        if last:
            history_alias = alias
    quote = connection.ops.quote_name

    def total(name: str) -> str:
        return (
            "(0"
            + "".join(f" {sign} COALESCE({alias}.{quote(prefix + name)}, 0)" for alias, prefix, sign in terms)
            + ")"
        )

    mask = " + ".join(
        f"(CASE WHEN {total(f'kind_{bit}')} > 0 THEN {1 << bit} ELSE 0 END)" for bit in range(len(KIND_COLUMNS))
    )
    lasts = [f"{alias}.{quote('last')}" for alias in ("e", history_alias) if alias in subqueries]
    last = lasts[0]
    if len(lasts) == 2:
        rolled_last, live_last = lasts
        last = f"CASE WHEN {live_last} IS NULL OR {rolled_last} > {live_last} THEN {rolled_last} ELSE {live_last} END"
    columns = [
        *(f"p.{quote(name)}" for name in ("key", "joined", "tier")),
        *(f"c.{quote(name)}" for name in ("ups", "downs", "first_upgrade_on")),
        total("activities"),
        total("sales"),
        mask,
        last,
    ]
    joins, params = [], []
    for alias, queryset in subqueries.items():
        sql, part = _sql(queryset, using)
        params += part
        joins.append(
            f"({sql}) {alias}"
            if alias == "p"
            else f"LEFT JOIN ({sql}) {alias} ON {alias}.{quote('key')} = p.{quote('key')}"
        )
    return f"SELECT {', '.join(columns)} FROM {' '.join(joins)}", params  # noqa: S608 - names from code


def _fetch(using: str, sql: str, params: list) -> list[tuple]:
    """Run one statement over the partners on `using` and return its rows."""
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # For this statement only: no JIT compilation (the plan's cost estimate turns it on, and it costs ~0.7 s
            # more than it saves here), and hashes of 100,000 partners in memory rather than spilled to disk.
            cursor.execute("SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)")
        cursor.execute(sql, params)
        return cursor.fetchall()


def partners_in_period(filters: Filters, freshness: Freshness | None = None) -> list[PartnerPeriod]:
    """Every selected partner (joined by the period's end) with its tier now, its tier moves and approved activity
    in the period, its first upgrade and its last approved activity: one query (`_partners_statement`), on the
    connection the router gives for reads."""
    freshness = rollup_freshness() if freshness is None else freshness
    using = router.db_for_read(PartnerMonth)
    rows = _fetch(using, *_partners_statement(filters, freshness, using))
    convert = _row_converter(connections[using].vendor, ZoneInfo(current_tenant().time_zone))
    return [convert(row) for row in rows]


def _row_converter(vendor: str, zone: ZoneInfo):
    """A result row as a PartnerPeriod; SQLite returns dates and moments as text and sums of decimals as floats."""
    if vendor == "postgresql":

        def convert(row: tuple) -> PartnerPeriod:
            key, joined, tier, ups, downs, first_upgrade_on, activities, sales, mask, last = row
            return PartnerPeriod(
                key, joined, tier or NO_TIER, ups or 0, downs or 0, first_upgrade_on, activities, sales, mask, last
            )

        return convert

    def text_date(value: object) -> date | None:
        return date.fromisoformat(str(value)[:10]) if value is not None else None

    def text_moment(value: object) -> datetime | None:
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC) if value is not None else None

    def convert(row: tuple) -> PartnerPeriod:
        key, joined, tier, ups, downs, first_upgrade_on, activities, sales, mask, last = row
        return PartnerPeriod(
            key,
            text_date(joined),
            tier or NO_TIER,
            ups or 0,
            downs or 0,
            text_date(first_upgrade_on),
            int(activities),
            Decimal(str(sales)).quantize(CENT),
            int(mask),
            text_moment(last),
        )

    return convert


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


def retention_by_cohort(filters: Filters, partners: list[PartnerPeriod] | None = None) -> list[Cohort]:
    """Per month partners joined (up to the period's end): how many, and how many were active in the period, i.e.
    had an approved activity of any kind then. Churned = not active."""
    partners = partners_in_period(filters) if partners is None else partners
    cohorts: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for row in partners:
        counts = cohorts[row.joined_at.year, row.joined_at.month]
        counts[0] += 1
        counts[1] += row.activities > 0
    return [Cohort(date(*month, 1), total, active) for month, (total, active) in sorted(cohorts.items())]


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


def quartile_positions(count: int) -> tuple[tuple[int, int], ...]:
    """For `count` ordered values (at least two), each quartile's (j, delta): it is the j-th value (from 0) plus
    delta quarters of the way to the next one."""
    return tuple(divmod(quarter * (count - 1), 4) for quarter in (1, 2, 3))


def inclusive_quartiles(count: int, value_at: Callable[[int], Any]) -> tuple[Any, Any, Any]:
    """Lower quartile, median and upper quartile of `count` ordered values, `value_at(j)` being the j-th (from 0),
    by the "inclusive" method: interpolated between the observed values, with the standard library's arithmetic
    (`statistics.quantiles(method="inclusive")`, also PostgreSQL's percentile_cont and spreadsheets' QUARTILE.INC),
    so that Decimals stay exact. One value is all three."""
    if count == 1:
        return (value_at(0),) * 3
    return tuple(  # type: ignore[return-value]
        (value_at(j) * (4 - delta) + value_at(j + 1) * delta) / 4 for j, delta in quartile_positions(count)
    )


def _spread(group: str, count: int, total: Decimal, value_at: Callable[[int], Decimal]) -> Spread:
    return Spread(
        group, count, total, *(Decimal(value).quantize(CENT) for value in inclusive_quartiles(count, value_at))
    )


def sales_per_partner(filters: Filters, partners: list[PartnerPeriod] | None = None) -> list[PartnerPeriod]:
    """One row per selected partner (joined by the period's end): current tier, tier movement in the period (net
    ranks moved up or down by its tier changes) and approved sales converted to the program's currency at the rate of
    each sale's day (`Activity.amount_converted`)."""
    return partners_in_period(filters) if partners is None else partners


def sales_spread(rows: list[PartnerPeriod], *, by: str) -> list[Spread]:
    """Quartiles of sales per partner, grouped `by` "tier" or "movement", in the order groups first appear sorted."""
    groups: dict[str, list[Decimal]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, by)].append(row.sales)
    for values in groups.values():
        values.sort()
    spreads = {
        group: _spread(group, len(values), sum(values, Decimal(0)), values.__getitem__)
        for group, values in groups.items()
    }
    return _in_order(spreads, by=by)


def tiers_by_rank(names: set[str] | dict[str, Any]) -> list[str]:
    """Tier names lowest rank first, as the program ranks them (Registered, Silver, Gold, Platinum), partners without
    a tier before them; one query. Two tier models may share a name: the name's lowest rank places it."""
    ranks = dict(
        Tier.objects.filter(name__in=[name for name in names if name != NO_TIER])
        .values("name")
        .annotate(lowest=Min("rank"))
        .values_list("name", "lowest")
    )
    return sorted(names, key=lambda name: (name != NO_TIER, ranks.get(name, 0), name))


def _ranked_after(ranked: list[str], others: set[str]) -> list[str]:
    """`ranked` then `others`, all in rank order: a query only when there are others."""
    return tiers_by_rank(set(ranked) | others) if others else ranked


def _in_order(spreads: dict[str, Spread], *, by: str) -> list[Spread]:
    order = [UP, STAYED, DOWN] if by == "movement" else tiers_by_rank(spreads)
    return [spreads[group] for group in order if group in spreads]


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


def incentive_cost_by_tier(filters: Filters, sales: dict[str, Decimal]) -> list[IncentiveCost]:
    """Per current tier: points issued in the period at the point value, plus funds paid, ÷ `sales` (the selected
    partners' sales per current tier: `PeriodFigures.sales_by_tier`); two queries, each grouped by tier."""
    start, end = filters.bounds()
    tenant = current_tenant()
    partners = partners_filtered(filters).filter(joined_at__lte=filters.end)
    points: dict[str, int] = defaultdict(int)
    for tier, total in (
        LedgerEntry.objects.filter(
            EARNED, effective_at__gte=start, effective_at__lte=end, account__partner__in=partners
        )
        .values_list("account__partner__tier_states__tier__name")
        .annotate(total=Sum("points"))
        .order_by()
    ):
        points[tier or NO_TIER] += total
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for tier, total in (
        FundPayout.objects.filter(
            issued_at__gte=start, issued_at__lte=end, currency=tenant.currency, partner__in=partners
        )
        .values_list("partner__tier_states__tier__name")
        .annotate(total=Sum("amount"))
        .order_by()
    ):
        paid[tier or NO_TIER] += total
    return [
        IncentiveCost(
            tier,
            sales.get(tier, Decimal(0)),
            points[tier],
            (Decimal(points[tier]) * tenant.point_value).quantize(CENT),
            paid[tier],
        )
        # `sales` comes in the tiers' rank (`PeriodFigures.by_tier`); a tier only points or payouts name is placed too.
        for tier in _ranked_after(list(sales), (set(points) | set(paid)) - set(sales))
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
            down=Count("pk", filter=MOVED_DOWN),
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


def engagement_by_kind(filters: Filters, partners: list[PartnerPeriod] | None = None) -> list[Engagement]:
    """For each kind of activity, the share of the selected partners with an approved one in the period."""
    partners = partners_in_period(filters) if partners is None else partners
    return _engagement(Counter(row.kinds_mask for row in partners))


def _engagement(masks: Counter[int]) -> list[Engagement]:
    """Engagement from the number of partners per mask of kinds (at most 2⁷ distinct masks)."""
    counts = {
        kind: sum(partners for mask, partners in masks.items() if mask & (1 << bit))
        for bit, kind in enumerate(KIND_COLUMNS)
    }
    of = sum(masks.values())
    return [Engagement(kind, label, counts[kind], of) for kind, label in ActivityKind.choices]


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


def _days_spread(count: int, value_at: Callable[[int], int]) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """Quartiles of `count` ordered numbers of days, to 0.1 day (half up); one value as it is."""
    if not count:
        return None, None, None
    if count == 1:
        return (Decimal(value_at(0)),) * 3
    return tuple(  # type: ignore[return-value]
        Decimal(value).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        for value in inclusive_quartiles(count, value_at)
    )


def time_to_first_upgrade(filters: Filters, partners: list[PartnerPeriod] | None = None) -> list[UpgradeCohort]:
    """Per month partners joined (up to the period's end): days from joining to the first upgrade evaluated by the
    period's end, as quartiles; partners not yet upgraded are counted, not timed."""
    partners = partners_in_period(filters) if partners is None else partners
    cohorts: dict[date, tuple[list[int], list[int]]] = defaultdict(lambda: ([0], []))
    for row in partners:
        count, days = cohorts[month_start(row.joined_at)]
        count[0] += 1
        if row.first_upgrade_on is not None:
            days.append(max((row.first_upgrade_on - row.joined_at).days, 0))
    return [
        UpgradeCohort(month, count[0], len(days), *_days_spread(len(days), sorted(days).__getitem__))
        for month, (count, days) in sorted(cohorts.items())
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


def last_activity_age(filters: Filters, partners: list[PartnerPeriod] | None = None) -> list[ActivityAge]:
    """How long before the period's end each selected partner's last approved activity (any kind, any time up to
    the end) happened, in buckets of days, then the partners who never had one."""
    partners = partners_in_period(filters) if partners is None else partners
    zone = ZoneInfo(current_tenant().time_zone)
    return _age_buckets(
        Counter(
            None if row.last_activity_at is None else (filters.end - row.last_activity_at.astimezone(zone).date()).days
            for row in partners
        )
    )


def _age_buckets(ages: Counter[int | None]) -> list[ActivityAge]:
    """The buckets from the number of partners per age in days (None: never active)."""
    of = sum(ages.values())

    def within(age: int | None, lowest: int, highest: int | None) -> bool:
        return age is not None and lowest <= age and (highest is None or age <= highest)

    buckets = [
        ActivityAge(lowest, highest, sum(count for age, count in ages.items() if within(age, lowest, highest)), of)
        for lowest, highest in AGE_BUCKETS
    ]
    return [*buckets, ActivityAge(None, None, ages[None], of)]


@dataclass(frozen=True)
class PeriodFigures:
    """Every partner-level figure of a period (incentive cost takes `sales_by_tier`)."""

    retention: list[Cohort]
    by_tier: list[Spread]
    by_movement: list[Spread]
    engagement: list[Engagement]
    upgrades: list[UpgradeCohort]
    activity_age: list[ActivityAge]

    @property
    def sales_by_tier(self) -> dict[str, Decimal]:
        return {spread.group: spread.total for spread in self.by_tier}


def _ranked(group: str, value: str, where: str = "TRUE") -> str:
    """Per-partner rows with their value's rank (from 0) and count within their group, for the quartiles' picks."""
    return (
        f"SELECT {group} AS band, {value} AS value, "  # noqa: S608 - names from code
        f"ROW_NUMBER() OVER (PARTITION BY {group} ORDER BY {value}) - 1 AS place, "
        f"COUNT(*) OVER (PARTITION BY {group}) AS members FROM q WHERE {where}"
    )


# The values a group's quartiles interpolate between: for quarter i, the j-th and (j+1)-th ordered values, with
# j = i·(count − 1) div 4 (`quartile_positions`).
PICKS = ", ".join(
    f"MAX(value) FILTER (WHERE place = ({quarter} * (members - 1)) / 4 + {step})"
    for quarter in (1, 2, 3)
    for step in (0, 1)
)
NO_PICKS = ", ".join(["NULL"] * 6)
# Over one row per selected partner (`pp`, `_partners_statement`'s columns): every partner-level figure as a few rows
# of (figure, label, month, partners, number, six picks). PostgreSQL only (FILTER, AT TIME ZONE).
SUMMARY = f"""
WITH pp ({", ".join(PARTNER_COLUMNS)}) AS ({{partners}}),
q AS (
    SELECT COALESCE(tier, '') AS tier,
        CASE WHEN COALESCE(ups, 0) > COALESCE(downs, 0) THEN '{UP}'
             WHEN COALESCE(downs, 0) > COALESCE(ups, 0) THEN '{DOWN}' ELSE '{STAYED}' END AS movement,
        joined - CAST(EXTRACT(DAY FROM joined) AS integer) + 1 AS cohort,
        activities, sales, mask,
        CASE WHEN first_upgrade_on IS NOT NULL THEN GREATEST(first_upgrade_on - joined, 0) END AS days,
        %s - CAST(last AT TIME ZONE %s AS date) AS age
    FROM pp
)
SELECT 'tier', band, CAST(NULL AS date), COUNT(*), SUM(value), {PICKS} FROM ({_ranked("tier", "sales")}) t GROUP BY band
UNION ALL
SELECT 'movement', band, CAST(NULL AS date), COUNT(*), SUM(value), {PICKS}
FROM ({_ranked("movement", "sales")}) m GROUP BY band
UNION ALL
SELECT 'upgrades', NULL, band, COUNT(*), NULL, {PICKS}
FROM ({_ranked("cohort", "days", "days IS NOT NULL")}) u GROUP BY band
UNION ALL
SELECT 'cohort', NULL, cohort, COUNT(*), COUNT(*) FILTER (WHERE activities > 0), {NO_PICKS} FROM q GROUP BY cohort
UNION ALL
SELECT 'mask', NULL, NULL, COUNT(*), mask, {NO_PICKS} FROM q GROUP BY mask
UNION ALL
SELECT 'age', NULL, NULL, COUNT(*), age, {NO_PICKS} FROM q GROUP BY age
"""  # noqa: S608 - every name is a constant


def period_figures_in_python(filters: Filters, freshness: Freshness | None = None) -> PeriodFigures:
    """`period_figures` from `partners_in_period`'s rows in Python: the path on SQLite, and the SQL path's reference
    in the tests."""
    rows = partners_in_period(filters, freshness)
    return PeriodFigures(
        retention_by_cohort(filters, rows),
        sales_spread(rows, by="tier"),
        sales_spread(rows, by="movement"),
        engagement_by_kind(filters, rows),
        time_to_first_upgrade(filters, rows),
        last_activity_age(filters, rows),
    )


def period_figures(filters: Filters, freshness: Freshness | None = None) -> PeriodFigures:
    """Retention, sales quartiles by tier and by movement, engagement, time to first upgrade and last-activity age
    over the selected partners: on PostgreSQL one query that groups `_partners_statement`'s rows in SQL (the
    quartiles' values picked by rank, interpolated here by `inclusive_quartiles`), so only a few rows per figure
    reach Python; elsewhere from `partners_in_period`'s rows."""
    freshness = rollup_freshness() if freshness is None else freshness
    using = router.db_for_read(PartnerMonth)
    if connections[using].vendor != "postgresql":
        return period_figures_in_python(filters, freshness)
    partners, params = _partners_statement(filters, freshness, using)
    summary = _fetch(using, SUMMARY.format(partners=partners), [*params, filters.end, current_tenant().time_zone])
    spreads: dict[str, dict[str, Spread]] = {"tier": {}, "movement": {}}
    cohorts: dict[date, list[int]] = {}
    upgrades: dict[date, tuple[int, tuple]] = {}
    masks: Counter[int] = Counter()
    ages: Counter[int | None] = Counter()
    for figure, label, month, partners_count, number, *picks in summary:
        if figure in spreads:
            spreads[figure][label] = _spread(label, partners_count, number, _picked(partners_count, picks))
        elif figure == "upgrades":
            upgrades[month] = (partners_count, picks)
        elif figure == "cohort":
            cohorts[month] = [partners_count, int(number)]
        elif figure == "mask":
            masks[int(number)] = partners_count
        else:
            ages[None if number is None else int(number)] = partners_count
    return PeriodFigures(
        [Cohort(month, total, active) for month, (total, active) in sorted(cohorts.items())],
        _in_order(spreads["tier"], by="tier"),
        _in_order(spreads["movement"], by="movement"),
        _engagement(masks),
        [
            UpgradeCohort(month, total, upgraded, *_days_spread(upgraded, _picked(upgraded, picks, int)))
            for month, (total, _active) in sorted(cohorts.items())
            for upgraded, picks in [upgrades.get(month, (0, ()))]
        ],
        _age_buckets(ages),
    )


def _picked(count: int, picks: list | tuple, convert: Callable[[Any], Any] | None = None) -> Callable[[int], Any]:
    """`value_at` for `inclusive_quartiles` over a group of `count` from its six picks (`PICKS`, in the order of
    `quartile_positions`): the j-th and (j+1)-th ordered values of each quartile; a group of one has its value."""
    positions = [(0, 0)] if count == 1 else quartile_positions(count)
    values = {}
    for (j, _delta), low, high in zip(positions, picks[0::2], picks[1::2], strict=False):
        values[j], values[j + 1] = low, high
    return lambda position: values[position] if convert is None else convert(values[position])


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
