"""Writes of the analytics rollup: `rollup_refresh` rebuilds a tenant's partner-month rows set-based.

The closed months (before the tenant's current month, in its time zone) are rolled up; the open month is always
read live. A refresh rebuilds the months that need it with one `INSERT … SELECT … GROUP BY … ON CONFLICT DO
UPDATE` and deletes the rows of those months it did not write (a partner whose last approved activity of a month
was rejected since). Which months: all of them on the first refresh, with `full=True` or after a change of the
tenant's time zone; otherwise the months closed since the last refresh and the closed months that an activity's
status change (recorded, approved, rejected) or an exchange-rate correction touched since the last refresh began
(less `CHANGE_OVERLAP`, for transactions that were still open then). docs/analytics.md, "The rollup".
"""

import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.db import connections, router, transaction
from django.db.models import Count, DateField, DecimalField, Max, Q, Sum, Value
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


def _rollup_source(*, months: list[date] | None, before: date, zone: ZoneInfo, stamp: datetime, tenant_id: int):
    """The SELECT of a refresh: approved activities of the given months (or of every month before `before`),
    grouped by partner and month, in the columns of `PartnerMonth` (tenant and stamp as constants)."""
    if months is None:
        ranges = Q(occurred_at__lt=_moment(before, zone))
    else:
        ranges = Q()
        for month in months:
            ranges |= Q(
                occurred_at__gte=_moment(month, zone),
                occurred_at__lt=_moment(month + relativedelta(months=1), zone),
            )
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
            tenant_value=Value(tenant_id),
            refreshed_value=Value(stamp),
        )
        .order_by()
    )


# The INSERT's columns, in the order of `_rollup_source`'s SELECT.
ROLLUP_COLUMNS = [
    "partner_id",
    "month",
    "activities",
    "sales",
    *KIND_COLUMNS.values(),
    "last_occurred_at",
    "tenant_id",
    "refreshed_at",
]
_UPDATED = [column for column in ROLLUP_COLUMNS if column not in {"tenant_id", "partner_id", "month"}]


def _rollup_write(*, using: str, source) -> int:
    """Run `INSERT INTO analytics_partnermonth (…) <source> ON CONFLICT … DO UPDATE` on `using`; rows written."""
    connection = connections[using]
    select, params = source.query.get_compiler(using=using).as_sql()
    quote = connection.ops.quote_name
    table = quote(PartnerMonth._meta.db_table)
    columns = ", ".join(quote(column) for column in ROLLUP_COLUMNS)
    updates = ", ".join(f"{quote(column)} = excluded.{quote(column)}" for column in _UPDATED)
    conflict = ", ".join(quote(column) for column in ("tenant_id", "partner_id", "month"))
    # The unique constraint includes columns, which only PostgreSQL supports; elsewhere (the SQLite demo) it is not
    # created, so there is nothing to conflict with: the refresh's stale-row delete leaves one row per month anyway.
    upsert = (
        f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}" if connection.features.supports_covering_indexes else ""
    )
    with connection.cursor() as cursor:
        # Every name comes from the model; every value is a parameter of the compiled SELECT.
        cursor.execute(f"INSERT INTO {table} ({columns}) {select}{upsert}", params)  # noqa: S608
        return cursor.rowcount


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
        months: list[date] | None = None
        if not rebuild_all:
            touched = months_touched_since(moment=state.refreshed_at - CHANGE_OVERLAP, before=covered_until, zone=zone)
            closed_since = set()
            month = state.covered_until
            while month < covered_until:
                closed_since.add(month)
                month += relativedelta(months=1)
            months = sorted(touched | closed_since)
        written = 0
        if months is None or months:
            written = _rollup_write(
                using=using,
                source=_rollup_source(
                    months=months, before=covered_until, zone=zone, stamp=stamp, tenant_id=tenant.pk
                ).using(using),
            )
            stale = PartnerMonth.objects.using(using).exclude(refreshed_at=stamp)
            if months is not None:
                stale = stale.filter(month__in=months)
            stale.delete()
        state.covered_until, state.time_zone, state.refreshed_at = covered_until, tenant.time_zone, stamp
        state.months_rebuilt = None if months is None else len(months)
        state.rows_written = written
        state.duration = timedelta(seconds=time.perf_counter() - started)
        state.save(
            using=using,
            update_fields=["covered_until", "time_zone", "refreshed_at", "months_rebuilt", "rows_written", "duration"],
        )
    return state
