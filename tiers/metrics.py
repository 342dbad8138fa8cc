"""The metrics criteria and gates measure, set-based per chunk of partners (GROUP BY partner).

Every metric over activities is a few conditional aggregates (`@activity_metric`): a chunk reads all of them in one
pass over its approved activities. Others (points earned) run one query each (`@metric`). To add a metric: add it
to `Metric` in models.py and register it here.

An app above tiers adds to a metric without tiers importing it: `settings.TIERLINE_METRIC_SOURCES` names, per
metric, functions `(partner_ids=…, windows=[…]) -> [{partner_id: value}, …]` (one result per window) whose values
are added to the metric's own (one query each per chunk, whatever the number of windows). Deal registrations
counted in `deals` add to `deal_registrations` this way.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import connections
from django.db.models import Aggregate, Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.module_loading import import_string

from loyalty.ledger.models import EntryKind, LedgerEntry
from partners.models import Activity, ActivityKind
from tiers.models import Metric, TierModel

MetricSpecKey = tuple[str, str, str]  # (metric, activity kind, code)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Window:
    """A qualification window [start, end) and the one before it, as aware datetimes."""

    start: datetime
    end: datetime
    previous_start: datetime
    evaluated_on: date
    last_day: date


def qualification_window(*, model: TierModel, evaluated_on: date, time_zone: str) -> Window:
    """The window the model scores on, ending with the evaluation day (inclusive), in the tenant's time zone."""
    zone = ZoneInfo(time_zone)
    if model.window == TierModel.Window.ROLLING_12_MONTHS:
        first, period = evaluated_on - relativedelta(years=1) + relativedelta(days=1), relativedelta(years=1)
        last = evaluated_on
    elif model.window == TierModel.Window.CALENDAR_YEAR:
        first, period = date(evaluated_on.year, 1, 1), relativedelta(years=1)
        last = date(evaluated_on.year, 12, 31)
    elif model.window == TierModel.Window.FISCAL_YEAR:
        start_month = model.fiscal_year_start_month
        year = evaluated_on.year if evaluated_on.month >= start_month else evaluated_on.year - 1
        first, period = date(year, start_month, 1), relativedelta(years=1)
        last = first + period - relativedelta(days=1)
    else:
        first = date(evaluated_on.year, 3 * ((evaluated_on.month - 1) // 3) + 1, 1)
        period = relativedelta(months=3)
        last = first + period - relativedelta(days=1)
    start = datetime.combine(first, time.min, zone)
    end = datetime.combine(evaluated_on + relativedelta(days=1), time.min, zone)
    return Window(start=start, end=end, previous_start=start - period, evaluated_on=evaluated_on, last_day=last)


MetricFunction = Callable[[list[int], Window, str, str], dict[int, Decimal]]
REGISTRY: dict[str, MetricFunction] = {}


def metric(name: str) -> Callable[[MetricFunction], MetricFunction]:
    """Register a metric that runs its own query (one per chunk)."""

    def register(function: MetricFunction) -> MetricFunction:
        REGISTRY[name] = function
        return function

    return register


@dataclass(frozen=True)
class ActivityMeasure:
    """An activity metric as aggregates over a chunk's approved activities, all metrics sharing one pass.

    `since`: the earliest `occurred_at` it reads (None: any time before the window's end); `value` turns the
    aggregates' results into the metric, None when the partner has none (no row matched).
    """

    since: datetime | None
    aggregates: tuple[Aggregate, ...]
    value: Callable[..., Decimal | None]
    # The same value as an SQL expression over the aggregates' columns, NULL columns when the partner has no row:
    # what the nightly scoring in SQL (tiers/scoring_sql.py) reads instead of `value`.
    sql: Callable[..., str] = lambda column: f"COALESCE({column}, 0)"


ActivityMeasureFunction = Callable[[Window, str, str], ActivityMeasure]
ACTIVITY_MEASURES: dict[str, ActivityMeasureFunction] = {}


def activity_metric(name: str) -> Callable[[ActivityMeasureFunction], ActivityMeasureFunction]:
    """Register a metric over approved activities; alone (REGISTRY) it is the same single-pass query."""

    def register(function: ActivityMeasureFunction) -> ActivityMeasureFunction:
        ACTIVITY_MEASURES[name] = function

        def alone(partner_ids: list[int], window: Window, kind: str, code: str) -> dict[int, Decimal]:
            spec = (name, kind, code)
            return activity_metric_values(specs=[spec], partner_ids=partner_ids, window=window)[spec]

        REGISTRY[name] = alone
        return function

    return register


def rows_read(queryset: QuerySet) -> list[tuple]:
    """A `values_list` query's rows as the database driver returns them: Django's converters (one call per value:
    `Decimal(v)` on a numeric sum, `int(v)` on a count) are left out, as every reader here makes its own Decimal
    of the value. A chunk's forecast histories are some fifty aggregates per partner. PostgreSQL's driver gives
    numeric as Decimal; SQLite's a float, which only Django's converter makes the right Decimal: read as usual."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return list(queryset)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _positive(value: object) -> Decimal | None:
    """A sum or count as a metric value: no matching row (NULL or 0) is no value."""
    return Decimal(value) if value else None


def _in_window(window: Window, kind: str, code: str = "") -> Q:
    # The end is in the aggregate's own filter too, so that one query can measure several windows (forecasts).
    condition = Q(kind=kind, occurred_at__gte=window.start, occurred_at__lt=window.end)
    return condition & Q(code=code) if code else condition


@activity_metric(Metric.REVENUE)
def revenue(window: Window, kind: str, code: str) -> ActivityMeasure:
    return ActivityMeasure(
        window.start, (Sum("amount_converted", filter=_in_window(window, ActivityKind.SALE)),), _positive
    )


@activity_metric(Metric.REVENUE_GROWTH)
def revenue_growth(window: Window, kind: str, code: str) -> ActivityMeasure:
    """Growth in % over the same span of the previous window; no previous revenue counts as no growth."""
    previous_end = window.previous_start + (window.end - window.start)
    previous = Q(kind=ActivityKind.SALE, occurred_at__gte=window.previous_start, occurred_at__lt=previous_end)

    def growth(current: Decimal | None, before: Decimal | None) -> Decimal | None:
        if not before:
            return None
        return max(Decimal(0), ((current or 0) - before) / before * 100)

    def growth_sql(current: str, before: str) -> str:
        # The division keeps 30 decimals (Python's Decimal keeps 28 significant digits): same cents either way.
        return (
            f"CASE WHEN COALESCE({before}, 0) = 0 THEN 0 "
            f"ELSE GREATEST(0, round(COALESCE({current}, 0) - {before}, 30) / {before} * 100) END"
        )

    return ActivityMeasure(
        window.previous_start,
        (
            Sum("amount_converted", filter=_in_window(window, ActivityKind.SALE)),
            Sum("amount_converted", filter=previous),
        ),
        growth,
        growth_sql,
    )


@activity_metric(Metric.ACTIVITY_COUNT)
def activity_count(window: Window, kind: str, code: str) -> ActivityMeasure:
    return ActivityMeasure(window.start, (Count("partner_id", filter=_in_window(window, kind, code)),), _positive)


@activity_metric(Metric.DEAL_REGISTRATIONS)
def deal_registrations(window: Window, kind: str, code: str) -> ActivityMeasure:
    return activity_count(window, ActivityKind.DEAL_REGISTRATION, code)


@activity_metric(Metric.VALID_CERTIFICATIONS)
def valid_certifications(window: Window, kind: str, code: str) -> ActivityMeasure:
    """Distinct certification codes earned by the evaluation date and not lapsed on it (any window)."""
    valid = Q(kind=ActivityKind.CERTIFICATION, occurred_at__lt=window.end) & (
        Q(valid_until__isnull=True) | Q(valid_until__gte=window.evaluated_on)
    )
    if code:
        valid &= Q(code=code)
    return ActivityMeasure(None, (Count("code", distinct=True, filter=valid),), _positive)


def activity_metric_values(
    *, specs: Iterable[MetricSpecKey], partner_ids: list[int], window: Window
) -> dict[MetricSpecKey, dict[int, Decimal]]:
    """Every activity metric of `specs` for a chunk in one aggregate query: GROUP BY partner, one pass."""
    return activity_metric_values_by_window(specs=specs, partner_ids=partner_ids, windows=[window])[0]


def activity_metric_values_by_window(
    *, specs: Iterable[MetricSpecKey], partner_ids: list[int], windows: list[Window]
) -> list[dict[MetricSpecKey, dict[int, Decimal]]]:
    """The activity metrics of `specs` over each of several windows, still in one aggregate query per chunk."""
    distinct = list(dict.fromkeys(specs))
    results: list[dict[MetricSpecKey, dict[int, Decimal]]] = [{spec: {} for spec in distinct} for _window in windows]
    if not distinct or not windows:
        return results
    activities, measures = activity_measures_queryset(specs=distinct, partner_ids=partner_ids, windows=windows)
    # Per measure, in the columns' order: where its result goes, its value function, its columns (after partner_id).
    readers = [
        (results[number][spec], measure.value, start, end) for number, spec, measure, start, end in _columns(measures)
    ]
    for row in rows_read(activities):
        partner_id = row[0]
        for by_partner, value_of, start, end in readers:
            value = value_of(row[start]) if end == start + 1 else value_of(*row[start:end])
            if value is not None:
                by_partner[partner_id] = value
    return results


def _columns(
    measures: list[dict[MetricSpecKey, ActivityMeasure]],
) -> Iterator[tuple[int, MetricSpecKey, ActivityMeasure, int, int]]:
    """Each measure of `activity_measures_queryset`'s, in its columns' order: the window's number, the spec, the
    measure and its columns in a row (`start` to `end`, after partner_id)."""
    start = 1
    for number, by_spec in enumerate(measures):
        for spec, measure in by_spec.items():
            end = start + len(measure.aggregates)
            yield number, spec, measure, start, end
            start = end


def activity_measures_queryset(
    *, specs: list[MetricSpecKey], partner_ids: list[int], windows: list[Window]
) -> tuple[QuerySet, list[dict[MetricSpecKey, ActivityMeasure]]]:
    """The one aggregate query over a chunk's approved activities (`partner_id`, then each measure's aggregates,
    named `measure_<window>_<spec>_<aggregate>`) and the measures per window, in the columns' order."""
    measures = [{spec: ACTIVITY_MEASURES[spec[0]](window, spec[1], spec[2]) for spec in specs} for window in windows]
    annotations = {
        measure_column(number, index, position): aggregate
        for number, by_spec in enumerate(measures)
        for index, measure in enumerate(by_spec.values())
        for position, aggregate in enumerate(measure.aggregates)
    }
    # The id range lets PostgreSQL read the chunk as one slice of the covering index, already in partner order
    # (no sort before grouping); the list keeps out any partner in the range but not in the chunk.
    activities = Activity.objects.filter(
        partner_id__gte=min(partner_ids, default=0),
        partner_id__lte=max(partner_ids, default=0),
        partner_id__in=partner_ids,
        status=Activity.Status.APPROVED,
        occurred_at__lt=max(window.end for window in windows),
    )
    starts = [measure.since for by_spec in measures for measure in by_spec.values()]
    if None not in starts:
        activities = activities.filter(occurred_at__gte=min(starts))
    return activities.order_by().values_list("partner_id").annotate(**annotations), measures


def measure_column(window: int, spec: int, aggregate: int) -> str:
    return f"measure_{window}_{spec}_{aggregate}"


@metric(Metric.POINTS_EARNED)
def points_earned(partner_ids: list[int], window: Window, kind: str, code: str) -> dict[int, Decimal]:
    """Points earned in the window, net of reversals of those earnings; spending never lowers it."""
    return points_earned_by_window(partner_ids, [window])[0]


def points_earned_by_window(partner_ids: list[int], windows: list[Window]) -> list[dict[int, Decimal]]:
    """Points earned in each window, in one query (a conditional sum per window)."""
    # A reversal counts against the window of the earning it reverses (and only once it has happened).
    end = max(window.end for window in windows)
    rows = (
        LedgerEntry.objects.filter(account__partner_id__in=partner_ids, effective_at__lt=end)
        .filter(Q(kind=EntryKind.EARN) | Q(kind=EntryKind.REVERSE, reverses__kind=EntryKind.EARN))
        .annotate(earned_at=Coalesce("reverses__effective_at", "effective_at"))
        .filter(earned_at__gte=min(window.start for window in windows), earned_at__lt=end)
        .values_list("account__partner_id")
        .annotate(
            **{
                f"total_{number}": Sum(
                    "points",
                    filter=Q(
                        earned_at__gte=window.start,
                        earned_at__lt=window.end,
                        effective_at__lt=window.end,
                    ),
                )
                for number, window in enumerate(windows)
            }
        )
        .order_by()
    )
    results: list[dict[int, Decimal]] = [{} for _window in windows]
    for partner_id, *totals in rows_read(rows):
        for number, total in enumerate(totals):
            if total is not None:
                results[number][partner_id] = Decimal(total)
    return results


# Metrics of their own query that can measure several windows in it (the forecasts' month slices).
BY_WINDOW: dict[str, Callable[[list[int], list[Window]], list[dict[int, Decimal]]]] = {
    Metric.POINTS_EARNED: points_earned_by_window
}


@cache
def metric_sources(name: str) -> tuple[Callable[..., list[dict[int, Decimal]]], ...]:
    """The other apps' contributions to a metric, as wired in settings.TIERLINE_METRIC_SOURCES."""
    return tuple(import_string(path) for path in getattr(settings, "TIERLINE_METRIC_SOURCES", {}).get(name, ()))


def metric_values(
    *, specs: Iterable[MetricSpecKey], partner_ids: list[int], window: Window
) -> dict[MetricSpecKey, dict[int, Decimal]]:
    """Every needed metric for a chunk of partners: one query for all the activity metrics, one per other spec,
    one per source another app adds to a metric."""
    return metric_values_by_window(specs=specs, partner_ids=partner_ids, windows=[window])[0]


def metric_values_by_window(
    *, specs: Iterable[MetricSpecKey], partner_ids: list[int], windows: list[Window]
) -> list[dict[MetricSpecKey, dict[int, Decimal]]]:
    """The metrics over each of several windows: one query for every activity metric of every window, one for
    points earned, one for each source another app adds to a metric (any other metric: one per window)."""
    distinct = list(dict.fromkeys(specs))
    by_window = activity_metric_values_by_window(
        specs=[spec for spec in distinct if spec[0] in ACTIVITY_MEASURES], partner_ids=partner_ids, windows=windows
    )
    for spec in distinct:
        if spec[0] not in ACTIVITY_MEASURES:
            for values, by_partner in zip(by_window, _own_values(spec, partner_ids, windows), strict=True):
                values[spec] = by_partner
    for spec in distinct:
        for number, partner_id, value in _source_values(spec, partner_ids, windows):
            by_partner = by_window[number][spec]
            by_partner[partner_id] = by_partner.get(partner_id, Decimal(0)) + value
    return [{spec: values[spec] for spec in distinct} for values in by_window]


def metric_series_by_window(
    *, specs: Iterable[MetricSpecKey], partner_ids: list[int], windows: list[Window]
) -> dict[int, dict[MetricSpecKey, list[Decimal]]]:
    """`metric_values_by_window`'s values turned round, from the same queries: per partner of the chunk and spec,
    its value in each window (zero where it has none). The activity query's rows go straight into each partner's
    lists: the forecasts read some 65 values a row, which dicts per window and spec would only scatter."""
    distinct = list(dict.fromkeys(specs))
    activity_specs = [spec for spec in distinct if spec[0] in ACTIVITY_MEASURES]
    series: dict[int, dict[MetricSpecKey, list[Decimal]]] = {}
    if activity_specs and windows:
        activities, measures = activity_measures_queryset(
            specs=activity_specs, partner_ids=partner_ids, windows=windows
        )
        # Per spec, per window in order: the measure's value function and its columns.
        readers: dict[MetricSpecKey, list[tuple[Callable[..., Decimal | None], int, int]]] = {
            spec: [] for spec in activity_specs
        }
        for _number, spec, measure, start, end in _columns(measures):
            readers[spec].append((measure.value, start, end))
        for row in rows_read(activities):
            series[row[0]] = {
                spec: [
                    ZERO
                    if (value := value_of(row[start]) if end == start + 1 else value_of(*row[start:end])) is None
                    else value
                    for value_of, start, end in columns
                ]
                for spec, columns in readers.items()
            }
    for partner_id in partner_ids:
        if partner_id not in series:
            series[partner_id] = {spec: [ZERO] * len(windows) for spec in activity_specs}
    for spec in distinct:
        if spec[0] not in ACTIVITY_MEASURES:
            for by_spec in series.values():
                by_spec[spec] = [ZERO] * len(windows)
            for number, by_partner in zip(range(len(windows)), _own_values(spec, partner_ids, windows), strict=True):
                for partner_id, value in by_partner.items():
                    if partner_id in series:
                        series[partner_id][spec][number] = value
    for spec in distinct:
        for number, partner_id, value in _source_values(spec, partner_ids, windows):
            if partner_id in series:  # a source reads the chunk's partners; anyone else stays out
                values = series[partner_id][spec]
                values[number] = values[number] + value
    return series


def _own_values(spec: MetricSpecKey, partner_ids: list[int], windows: list[Window]) -> list[dict[int, Decimal]]:
    """A metric not over activities, per window: one query for all windows where it can (`BY_WINDOW`), else one
    per window."""
    if spec[0] in BY_WINDOW:
        return BY_WINDOW[spec[0]](partner_ids, windows)
    return [REGISTRY[spec[0]](partner_ids, window, spec[1], spec[2]) for window in windows]


def _source_values(
    spec: MetricSpecKey, partner_ids: list[int], windows: list[Window]
) -> Iterator[tuple[int, int, Decimal]]:
    """What other apps add to the metric (`metric_sources`): (window's number, partner, value), each value not zero."""
    for source in metric_sources(spec[0]):
        for number, by_partner in zip(
            range(len(windows)), source(partner_ids=partner_ids, windows=windows), strict=True
        ):
            for partner_id, value in by_partner.items():
                if value:
                    yield number, partner_id, value
