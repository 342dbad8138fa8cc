"""Writes of the analytics rollup: `rollup_refresh` rebuilds a tenant's partner-month running totals set-based.

The closed months (before the tenant's current month, in its time zone) are rolled up; the open month is always
read live. A refresh deletes the rows of the months it rebuilds and writes them again with one `INSERT … SELECT`:
the month's own sums per partner (`GROUP BY partner, month`), added up month after month by window sums onto the
row of the month before. Which months: all of them on the first refresh, with `full=True`, after a change of the
tenant's time zone or a clock set back; otherwise from the earliest of the months closed since the last refresh
and the closed months that an activity's status change (recorded, approved, rejected) or an exchange-rate
correction touched since the last refresh began (less `CHANGE_OVERLAP`, for transactions that were still open
then) to the last closed month, since a month's change moves every later month's totals. docs/analytics.md,
"The rollup".
"""

import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.db import connections, router, transaction
from django.db.models import Count, DateField, DecimalField, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from analytics.models import KIND_COLUMNS, PartnerMonth, RollupState
from loyalty.tenancy.context import current_tenant
from partners.models import Activity, ActivityKind, ActivityStatusChange, ExchangeRate

# A change recorded by a transaction that began before a refresh but committed after it is stamped earlier than
# that refresh's start: the next refresh looks this much further back, so it still sees it.
CHANGE_OVERLAP = timedelta(hours=6)


def month_start(day: date) -> date:
    return day.replace(day=1)


def _moment(day: date, zone: ZoneInfo) -> datetime:
    """Midnight starting `day` in `zone`, as an aware datetime."""
    return datetime.combine(day, datetime.min.time(), tzinfo=zone)


def months_touched_since(*, moment: datetime, before: date, zone: ZoneInfo) -> set[date]:
    """Closed months (before `before`) whose approved activities may differ from a rollup taken at `moment`: the
    months of the activities whose status changed since (each recorded activity gets a status change too), and the
    months of the exchange-rate days corrected since (two queries)."""
    end = _moment(before, zone)
    changed = (
        ActivityStatusChange.objects.filter(created_at__gte=moment, activity__occurred_at__lt=end)
        .annotate(month=TruncMonth("activity__occurred_at", tzinfo=zone, output_field=DateField()))
        .values_list("month", flat=True)
        .distinct()
        .order_by()
    )
    rates = (
        ExchangeRate.objects.filter(updated_at__gte=moment, day__lt=before)
        .annotate(month=TruncMonth("day"))
        .values_list("month", flat=True)
        .distinct()
        .order_by()
    )
    return {_as_date(month) for month in [*changed, *rates]}


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _monthly_source(*, since: date | None, before: date, zone: ZoneInfo) -> QuerySet:
    """Approved activities from the month `since` (None: from the first) to `before`, per partner and month: each
    month's own counts and sums, in the order of `ROLLUP_COLUMNS` (partner, month, then the totals)."""
    ranges = Q(occurred_at__lt=_moment(before, zone))
    if since is not None:
        ranges &= Q(occurred_at__gte=_moment(since, zone))
    counts = {column: Count("pk", filter=Q(kind=kind)) for kind, column in KIND_COLUMNS.items()}
    return (
        Activity.objects.filter(ranges, status=Activity.Status.APPROVED)
        .annotate(month=TruncMonth("occurred_at", tzinfo=zone, output_field=DateField()))
        .values("partner", "month")
        .annotate(
            activities=Count("pk"),
            sales=Coalesce(
                Sum("amount_converted", filter=Q(kind=ActivityKind.SALE)),
                Value(Decimal(0)),
                output_field=DecimalField(max_digits=18, decimal_places=2),
            ),
            **counts,
            last_occurred_at=Max("occurred_at"),
        )
        .order_by()
    )


# The totals a row carries, summed month after month (`last_occurred_at` is the latest instead).
TOTALS = ["activities", "sales", *KIND_COLUMNS.values()]
# The INSERT's columns: `_monthly_source`'s, then the tenant and the refresh's stamp.
ROLLUP_COLUMNS = ["partner_id", "month", *TOTALS, "last_occurred_at", "tenant_id", "refreshed_at"]


def _rollup_write(*, using: str, months: list[date], monthly: QuerySet, tenant_id: int, stamp: datetime) -> int:
    """Insert every partner's running totals for `months` (consecutive, oldest first): the row of the month before
    them, plus the window sums of `monthly`, one row per partner and month from its first approved activity on.
    One `INSERT … SELECT`; returns the rows written."""
    connection = connections[using]
    quote = connection.ops.quote_name
    # The running totals the rebuilt months continue from (none on a full rebuild: no row precedes the first month).
    base = PartnerMonth.objects.using(using).filter(month=months[0] - relativedelta(months=1))
    base = base.values("partner", *TOTALS, "last_occurred_at").order_by()
    monthly_sql, monthly_params = monthly.query.get_compiler(using=using).as_sql()
    base_sql, base_params = base.query.get_compiler(using=using).as_sql()
    names = ", ".join(quote(column) for column in ROLLUP_COLUMNS[:-2])
    base_names = ", ".join(quote(column) for column in ["partner_id", *TOTALS, "last_occurred_at"])
    month_values = ", ".join(["(%s)"] * len(months))
    running = ", ".join(
        f"COALESCE(b.{quote(column)}, 0) + SUM(COALESCE(a.{quote(column)}, 0)) OVER w AS {quote(column)}"
        for column in TOTALS
    )
    last = quote("last_occurred_at")
    # A later month's activity is always after the base row's last one, so the window's latest wins when there is one;
    # no row before the partner's first approved activity. Every name comes from the model; every value is a parameter.
    select = (
        f"WITH monthly ({names}) AS ({monthly_sql}), "  # noqa: S608
        f"base ({base_names}) AS ({base_sql}), "
        f"months (month) AS (VALUES {month_values}), "
        "keys (partner_id) AS (SELECT partner_id FROM monthly UNION SELECT partner_id FROM base) "
        f"SELECT {names}, %s, %s FROM ("
        f"SELECT k.partner_id, m.month, {running}, COALESCE(MAX(a.{last}) OVER w, b.{last}) AS {last} "
        "FROM keys k CROSS JOIN months m "
        "LEFT JOIN monthly a ON a.partner_id = k.partner_id AND a.month = m.month "
        "LEFT JOIN base b ON b.partner_id = k.partner_id "
        "WINDOW w AS (PARTITION BY k.partner_id ORDER BY m.month)"
        f") running WHERE {quote('activities')} > 0"
    )
    params = [
        *monthly_params,
        *base_params,
        *(connection.ops.adapt_datefield_value(month) for month in months),
        tenant_id,
        stamp,
    ]
    table = quote(PartnerMonth._meta.db_table)
    columns = ", ".join(quote(column) for column in ROLLUP_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) {select}", params)  # noqa: S608
        return cursor.rowcount


def _first_month(*, using: str, before: date, zone: ZoneInfo) -> date | None:
    """The month of the tenant's first approved activity before `before` (None: there is none)."""
    first = (
        Activity.objects.using(using)
        .filter(status=Activity.Status.APPROVED, occurred_at__lt=_moment(before, zone))
        .aggregate(first=Min("occurred_at"))["first"]
    )
    return None if first is None else month_start(first.astimezone(zone).date())


def rollup_refresh(*, full: bool = False, now: datetime | None = None) -> RollupState:
    """Bring the current tenant's rollup up to date for every closed month (see the module's docstring).

    Idempotent; concurrent refreshes of one tenant wait for each other (the state row is locked).
    """
    tenant = current_tenant()
    zone = ZoneInfo(tenant.time_zone)
    stamp = now or timezone.now()
    covered_until = month_start(timezone.localdate(stamp, zone))
    using = router.db_for_write(PartnerMonth)
    started = time.perf_counter()
    with transaction.atomic(using=using):
        state, _created = RollupState.objects.using(using).get_or_create(
            defaults={"covered_until": covered_until, "time_zone": tenant.time_zone, "refreshed_at": stamp}
        )
        state = RollupState.objects.using(using).select_for_update().get(pk=state.pk)
        # A new time zone cuts other months; a clock set back would leave rows past the open month.
        rebuild_all = full or _created or state.time_zone != tenant.time_zone or covered_until < state.covered_until
        if rebuild_all:
            since = _first_month(using=using, before=covered_until, zone=zone)
        else:
            touched = months_touched_since(moment=state.refreshed_at - CHANGE_OVERLAP, before=covered_until, zone=zone)
            # A month's change moves every later month's running totals: rebuild from the earliest one on.
            since = min(touched | {state.covered_until}) if touched or state.covered_until < covered_until else None
        months = []
        month = since
        while month is not None and month < covered_until:
            months.append(month)
            month += relativedelta(months=1)
        if rebuild_all:
            PartnerMonth.objects.using(using).all().delete()
        elif months:
            PartnerMonth.objects.using(using).filter(month__gte=months[0]).delete()
        written = 0
        if months:
            monthly = _monthly_source(since=None if rebuild_all else since, before=covered_until, zone=zone)
            written = _rollup_write(
                using=using, months=months, monthly=monthly.using(using), tenant_id=tenant.pk, stamp=stamp
            )
        state.covered_until, state.time_zone, state.refreshed_at = covered_until, tenant.time_zone, stamp
        state.months_rebuilt = None if rebuild_all else len(months)
        state.rows_written = written
        state.duration = timedelta(seconds=time.perf_counter() - started)
        state.save(
            using=using,
            update_fields=["covered_until", "time_zone", "refreshed_at", "months_rebuilt", "rows_written", "duration"],
        )
    return state
