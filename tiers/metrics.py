"""The metrics criteria and gates measure. Each is one aggregate query per chunk of partners (GROUP BY partner).

To add a metric: add it to `Metric` in models.py and register a function here with `@metric(Metric.X)`.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from loyalty.ledger.models import EntryKind, LedgerEntry
from partners.models import Activity, ActivityKind
from tiers.models import Metric, TierModel

MetricSpecKey = tuple[str, str, str]  # (metric, activity kind, code)


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
    def register(function: MetricFunction) -> MetricFunction:
        REGISTRY[name] = function
        return function

    return register


def _approved(partner_ids: list[int], kind: str) -> "Q":
    return Q(partner_id__in=partner_ids, status=Activity.Status.APPROVED, kind=kind)


def _by_partner(rows: Iterable[tuple[int, object]]) -> dict[int, Decimal]:
    return {partner_id: Decimal(value or 0) for partner_id, value in rows}


@metric(Metric.REVENUE)
def revenue(partner_ids: list[int], window: Window, kind: str, code: str) -> dict[int, Decimal]:
    rows = (
        Activity.objects.filter(
            _approved(partner_ids, ActivityKind.SALE), occurred_at__gte=window.start, occurred_at__lt=window.end
        )
        .values_list("partner_id")
        .annotate(total=Sum("amount"))
    )
    return _by_partner(rows)


@metric(Metric.REVENUE_GROWTH)
def revenue_growth(partner_ids: list[int], window: Window, kind: str, code: str) -> dict[int, Decimal]:
    """Growth in % over the same span of the previous window; no previous revenue counts as no growth."""
    span = window.end - window.start
    rows = (
        Activity.objects.filter(
            _approved(partner_ids, ActivityKind.SALE),
            occurred_at__gte=window.previous_start,
            occurred_at__lt=window.end,
        )
        .values_list("partner_id")
        .annotate(
            current=Sum("amount", filter=Q(occurred_at__gte=window.start)),
            previous=Sum("amount", filter=Q(occurred_at__lt=window.previous_start + span)),
        )
    )
    growth = {}
    for partner_id, current, previous in rows:
        if previous:
            growth[partner_id] = max(Decimal(0), ((current or 0) - previous) / previous * 100)
    return growth


@metric(Metric.ACTIVITY_COUNT)
def activity_count(partner_ids: list[int], window: Window, kind: str, code: str) -> dict[int, Decimal]:
    activities = Activity.objects.filter(
        _approved(partner_ids, kind), occurred_at__gte=window.start, occurred_at__lt=window.end
    )
    if code:
        activities = activities.filter(code=code)
    return _by_partner(activities.values_list("partner_id").annotate(total=Count("pk")))


@metric(Metric.DEAL_REGISTRATIONS)
def deal_registrations(partner_ids: list[int], window: Window, kind: str, code: str) -> dict[int, Decimal]:
    return activity_count(partner_ids, window, ActivityKind.DEAL_REGISTRATION, code)


@metric(Metric.VALID_CERTIFICATIONS)
def valid_certifications(partner_ids: list[int], window: Window, kind: str, code: str) -> dict[int, Decimal]:
    """Distinct certification codes earned by the evaluation date and not lapsed on it (any window)."""
    activities = Activity.objects.filter(
        _approved(partner_ids, ActivityKind.CERTIFICATION), occurred_at__lt=window.end
    ).filter(Q(valid_until__isnull=True) | Q(valid_until__gte=window.evaluated_on))
    if code:
        activities = activities.filter(code=code)
    return _by_partner(activities.values_list("partner_id").annotate(total=Count("code", distinct=True)))


@metric(Metric.POINTS_EARNED)
def points_earned(partner_ids: list[int], window: Window, kind: str, code: str) -> dict[int, Decimal]:
    """Points earned in the window, net of reversals of those earnings; spending never lowers it."""
    # A reversal counts against the window of the earning it reverses (and only once it has happened).
    rows = (
        LedgerEntry.objects.filter(account__partner_id__in=partner_ids, effective_at__lt=window.end)
        .filter(Q(kind=EntryKind.EARN) | Q(kind=EntryKind.REVERSE, reverses__kind=EntryKind.EARN))
        .annotate(earned_at=Coalesce("reverses__effective_at", "effective_at"))
        .filter(earned_at__gte=window.start, earned_at__lt=window.end)
        .values_list("account__partner_id")
        .annotate(total=Sum("points"))
    )
    return _by_partner(rows)


def metric_values(
    *, specs: Iterable[MetricSpecKey], partner_ids: list[int], window: Window
) -> dict[MetricSpecKey, dict[int, Decimal]]:
    """Every needed metric for a chunk of partners: one query per distinct spec."""
    return {spec: REGISTRY[spec[0]](partner_ids, window, spec[1], spec[2]) for spec in dict.fromkeys(specs)}
