"""Finance reads of the points ledger: the liability roll-forward, its schedule by expiry, breakage, the journal.

Every figure is one set-based query (a GROUP BY over the ledger's tables); docs/finance.md gives each one's SQL
so that finance can reproduce it. Months are calendar months in the tenant's time zone, by `effective_at`.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from funds.models import FundPayout
from loyalty.ledger.models import EntryKind, LedgerEntry, PointsLot
from loyalty.tenancy.context import current_tenant
from rewards.models import Redemption

CENT = Decimal("0.01")
BREAKAGE_TRAILING_MONTHS = 12
# The columns of the roll-forward, in the order they add up: opening + each kind = closing.
MOVEMENT_KINDS = (
    EntryKind.EARN,
    EntryKind.REVERSE,
    EntryKind.REDEEM,
    EntryKind.REFUND,
    EntryKind.EXPIRE,
    EntryKind.ADJUST,
)


def _zone() -> ZoneInfo:
    return ZoneInfo(current_tenant().time_zone)


def month_start(month: date, zone: ZoneInfo) -> datetime:
    """The first moment of `month` in `zone`."""
    return datetime.combine(month.replace(day=1), time.min, tzinfo=zone)


def _month(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date().replace(day=1)


def value_of(points: int, point_value: Decimal) -> Decimal:
    """What `points` are worth in the program's currency, to the cent."""
    return (Decimal(points) * point_value).quantize(CENT)


@dataclass(frozen=True)
class LiabilityMonth:
    """One month of the points liability: opening + the movements of each kind = closing (in points)."""

    month: date
    opening: int
    movements: dict[str, int]
    closing: int

    def moved(self, kind: str) -> int:
        return self.movements.get(kind, 0)


def liability_roll_forward(*, first_month: date, last_month: date) -> list[LiabilityMonth]:
    """The current tenant's liability per month from `first_month` to `last_month` (one query).

    Sums every entry dated before the end of `last_month` by month and kind; the months before `first_month`
    add up to its opening balance. Raw kinds, not netted, so that every column is a plain Σ of the ledger.
    """
    zone = _zone()
    end = month_start(last_month + relativedelta(months=1), zone)
    start = month_start(first_month, zone)
    rows = (
        LedgerEntry.objects.filter(effective_at__lt=end)
        .annotate(month=TruncMonth("effective_at", tzinfo=zone))
        .values_list("month", "kind")
        .annotate(points=Sum("points"))
        .order_by()
    )
    opening = 0
    by_month: dict[date, dict[str, int]] = defaultdict(dict)
    for month, kind, points in rows:
        if month < start:
            opening += points
        else:
            by_month[_month(month, zone)][kind] = points
    months = []
    month = first_month.replace(day=1)
    while month <= last_month:
        movements = by_month.get(month, {})
        closing = opening + sum(movements.values())
        months.append(LiabilityMonth(month=month, opening=opening, movements=movements, closing=closing))
        opening, month = closing, month + relativedelta(months=1)
    return months


@dataclass(frozen=True)
class ExpiryBucket:
    """Outstanding points whose lots expire in `month` (None: lots that never expire)."""

    month: date | None
    points: int


def liability_by_expiry_month() -> list[ExpiryBucket]:
    """The outstanding points by the month their lots expire, soonest first, never-expiring last (one query).

    Σ lot.remaining = Σ balances (the ledger's invariant), so the schedule adds up to the liability. A month
    before the current one holds lots past their expiry that the nightly run has not expired yet.
    """
    zone = _zone()
    rows = (
        PointsLot.objects.filter(remaining__gt=0)
        .annotate(month=TruncMonth("expires_at", tzinfo=zone))
        .values_list("month")
        .annotate(points=Sum("remaining"))
        .order_by("month")
    )
    buckets = [ExpiryBucket(_month(month, zone) if month else None, points) for month, points in rows]
    return sorted(buckets, key=lambda bucket: (bucket.month is None, bucket.month or date.min))


@dataclass(frozen=True)
class Breakage:
    """Expired ÷ credited over the lots whose expiry fell in the trailing months, applied to what may still expire."""

    window_start: datetime
    window_end: datetime
    credited: int  # points credited into lots that expired in the window
    expired: int  # of those, points that expired unredeemed
    outstanding: int  # points outstanding in lots that will expire (not never-expiring, not yet due)

    @property
    def rate(self) -> Decimal | None:
        """As a percentage with one decimal; None when no lot expired in the window (no history to go by)."""
        if self.credited <= 0:
            return None
        return (Decimal(self.expired) * 100 / self.credited).quantize(Decimal("0.1"))

    @property
    def expected_points(self) -> int | None:
        """The outstanding points expected to expire unredeemed at that rate (rounded down)."""
        if self.credited <= 0:
            return None
        return self.outstanding * self.expired // self.credited


def breakage_estimate(*, months: int = BREAKAGE_TRAILING_MONTHS) -> Breakage:
    """Breakage by the trailing-cohort method (three aggregate queries; docs/finance.md states the method)."""
    now = timezone.now()
    window_start = now - relativedelta(months=months)
    in_window = {"expires_at__gte": window_start, "expires_at__lt": now}
    credited = PointsLot.objects.filter(**in_window).aggregate(total=Sum("points"))["total"] or 0
    expired = -(
        LedgerEntry.objects.filter(
            kind=EntryKind.EXPIRE, **{f"expired_lot__{key}": value for key, value in in_window.items()}
        ).aggregate(total=Sum("points"))["total"]
        or 0
    )
    outstanding = (
        PointsLot.objects.filter(remaining__gt=0, expires_at__gte=now).aggregate(total=Sum("remaining"))["total"] or 0
    )
    return Breakage(window_start, now, credited, expired, outstanding)


@dataclass(frozen=True)
class PendingRedemptions:
    """Redemptions whose points left the liability (debited when requested) but whose reward is not fulfilled."""

    status: str
    label: str
    count: int
    points: int


def redemptions_pending() -> list[PendingRedemptions]:
    """Requested and approved redemptions: how many and their points, per status (one query)."""
    open_statuses = [Redemption.Status.REQUESTED, Redemption.Status.APPROVED]
    totals = {
        status: (count, points)
        for status, count, points in Redemption.objects.filter(status__in=open_statuses)
        .values_list("status")
        .annotate(count=Count("pk"), points=Sum("points"))
        .order_by()
    }
    return [
        PendingRedemptions(status, Redemption.Status(status).label, *totals.get(status, (0, 0)))
        for status in open_statuses
    ]


@dataclass(frozen=True)
class CreditNotes:
    month: date
    currency: str
    count: int
    amount: Decimal


def credit_notes_by_month(*, first_month: date, last_month: date) -> list[CreditNotes]:
    """Fund payouts (credit notes and payments) issued per month and currency (one query)."""
    zone = _zone()
    rows = (
        FundPayout.objects.filter(
            issued_at__gte=month_start(first_month, zone),
            issued_at__lt=month_start(last_month + relativedelta(months=1), zone),
        )
        .annotate(month=TruncMonth("issued_at", tzinfo=zone))
        .values_list("month", "currency")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .order_by("month", "currency")
    )
    return [CreditNotes(_month(month, zone), currency, count, amount) for month, currency, count, amount in rows]


# The journal's lines: each entry kind (a reversal by the kind it reverses) books to one of them.
ISSUED, ADJUSTED, REDEEMED, EXPIRED = "issued", "adjusted", "redeemed", "expired"
JOURNAL_BUCKET = {
    EntryKind.EARN: ISSUED,
    EntryKind.ADJUST: ADJUSTED,
    EntryKind.REDEEM: REDEEMED,
    EntryKind.REFUND: REDEEMED,
    EntryKind.EXPIRE: EXPIRED,
}


@dataclass(frozen=True)
class JournalLine:
    """One balanced journal entry: `amount` debited to `debit_account` and credited to `credit_account`."""

    bucket: str
    points: int  # signed, as the liability moved: issued and adjusted up are positive, releases negative
    amount: Decimal
    debit_account: str
    credit_account: str


def journal_for_month(*, month: date) -> list[JournalLine]:
    """The month's deferred-liability journal, one balanced line per bucket that moved (one query).

    Points issued (and positive adjustments) credit the liability against the expense account; redeemed
    points release it to the redemption account, expired points to breakage. A reversal books with the kind
    it reverses (a reversed earning reduces what was issued). A bucket that moved the other way swaps sides.
    """
    tenant = current_tenant()
    zone = ZoneInfo(tenant.time_zone)
    rows = (
        LedgerEntry.objects.filter(
            effective_at__gte=month_start(month, zone),
            effective_at__lt=month_start(month + relativedelta(months=1), zone),
        )
        .values_list("kind", "reverses__kind")
        .annotate(points=Sum("points"))
        .order_by()
    )
    buckets: dict[str, int] = defaultdict(int)
    for kind, reversed_kind, points in rows:
        buckets[JOURNAL_BUCKET.get(reversed_kind if kind == EntryKind.REVERSE else kind, ADJUSTED)] += points
    accounts = {
        ISSUED: tenant.journal_expense_account,
        ADJUSTED: tenant.journal_expense_account,
        REDEEMED: tenant.journal_redemption_account,
        EXPIRED: tenant.journal_breakage_account,
    }
    lines = []
    for bucket in (ISSUED, ADJUSTED, REDEEMED, EXPIRED):
        points = buckets.get(bucket, 0)
        if points == 0:
            continue
        # The liability is credited when it grows (points > 0) and debited when it is released.
        other, liability = accounts[bucket], tenant.journal_liability_account
        debit, credit = (other, liability) if points > 0 else (liability, other)
        lines.append(JournalLine(bucket, points, value_of(abs(points), tenant.point_value), debit, credit))
    return lines
