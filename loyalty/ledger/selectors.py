"""Reads of the ledger: balances, expiring points, liability, and the integrity check."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Min, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, prefetch_related_objects
from django.db.models.functions import TruncMonth
from django.utils import timezone

from loyalty.ledger.models import AdjustmentRequest, EntryKind, LedgerEntry, PointsAccount, PointsLot
from loyalty.ledger.services import entry_hash
from loyalty.tenancy.context import current_tenant


@dataclass(frozen=True)
class ExpiringPoints:
    partner_id: int
    points: int
    first_expiry: datetime


def points_expiring(*, within_days: int) -> list[ExpiringPoints]:
    """Per partner of the current tenant, the points that expire within `within_days`, soonest first."""
    now = timezone.now()
    rows = (
        PointsLot.objects.filter(remaining__gt=0, expires_at__gt=now, expires_at__lte=now + timedelta(days=within_days))
        .values("account__partner_id")
        .annotate(points=Sum("remaining"), first_expiry=Min("expires_at"))
        .order_by("first_expiry", "account__partner_id")
    )
    return [ExpiringPoints(row["account__partner_id"], row["points"], row["first_expiry"]) for row in rows]


@dataclass(frozen=True)
class Liability:
    points: int
    value: Decimal
    currency: str


def points_liability() -> Liability:
    """Outstanding points of the current tenant and what they are worth in its currency."""
    tenant = current_tenant()
    points = PointsAccount.objects.aggregate(total=Sum("balance"))["total"] or 0
    return Liability(
        points=points, value=(Decimal(points) * tenant.point_value).quantize(Decimal("0.01")), currency=tenant.currency
    )


@dataclass
class VerificationReport:
    accounts: int = 0
    entries: int = 0
    breaches: list[str] = field(default_factory=list)


def ledger_verify() -> VerificationReport:
    """Check every account of the current tenant: balance = Σ entries = Σ lots remaining, no negative
    balance, and an unbroken hash chain (no entry changed, removed or inserted after the fact)."""
    report = VerificationReport()
    entry_sums = dict(LedgerEntry.objects.values_list("account_id").annotate(total=Sum("points")))
    lot_sums = dict(PointsLot.objects.values_list("account_id").annotate(total=Sum("remaining")))
    heads: dict[int, str] = defaultdict(str)
    for entry in LedgerEntry.objects.order_by("account_id", "pk").iterator(chunk_size=2000):
        report.entries += 1
        expected = entry_hash(previous_hash=heads[entry.account_id], entry=entry)
        if expected != entry.entry_hash:
            report.breaches.append(f"account {entry.account_id}: entry {entry.pk} was changed after it was written")
        heads[entry.account_id] = entry.entry_hash
    for account in PointsAccount.objects.order_by("pk").iterator(chunk_size=2000):
        report.accounts += 1
        entries_total = entry_sums.get(account.pk, 0)
        lots_total = lot_sums.get(account.pk, 0)
        if account.balance < 0:
            report.breaches.append(f"account {account.pk}: negative balance {account.balance}")
        if account.balance != entries_total:
            report.breaches.append(f"account {account.pk}: balance {account.balance} != entries {entries_total}")
        if account.balance != lots_total:
            report.breaches.append(f"account {account.pk}: balance {account.balance} != lots remaining {lots_total}")
        if account.chain_head != heads[account.pk]:
            report.breaches.append(f"account {account.pk}: hash chain does not end at the account's head")
    return report


@dataclass(frozen=True)
class PartnerPoints:
    balance: int
    lifetime_earned: int
    lifetime_redeemed: int
    expiring_soon: int
    first_expiry: datetime | None
    account_id: int | None = None
    # Names the account's last posting: it changes with every entry (the chain head is that entry's hash), so what
    # is computed from the entries can be cached under it (portal/dashboard.py).
    version: str = "none"


def partner_balance_get(*, partner_id: int) -> int:
    """The partner's balance alone (one query of one column): for pages that show no expiry, like the catalog."""
    return PointsAccount.objects.filter(partner_id=partner_id).values_list("balance", flat=True).first() or 0


# The account's fields its points' version is made of: the chain head names the last posting. portal/views.py
# `_dashboard_versions` reads the same list.
POINTS_VERSION_FIELDS = ("id", "balance", "chain_head", "updated_at")


def partner_points_get(*, partner_id: int, expiring_within_days: int = 90) -> PartnerPoints:
    """A partner's balance and the points that expire soon (one query: the lots' sums are subqueries)."""
    now = timezone.now()
    expiring = PointsLot.objects.filter(
        account=OuterRef("pk"),
        remaining__gt=0,
        expires_at__gt=now,
        expires_at__lte=now + timedelta(days=expiring_within_days),
    ).order_by()
    account = (
        PointsAccount.objects.filter(partner_id=partner_id)
        .annotate(
            expiring_soon=Subquery(expiring.values("account").annotate(total=Sum("remaining")).values("total")),
            first_expiry=Subquery(expiring.values("account").annotate(first=Min("expires_at")).values("first")),
        )
        .first()
    )
    if account is None:
        return PartnerPoints(0, 0, 0, 0, None)
    return PartnerPoints(
        account.balance,
        account.lifetime_earned,
        account.lifetime_redeemed,
        account.expiring_soon or 0,
        account.first_expiry,
        account_id=account.pk,
        version=".".join(str(getattr(account, name)) for name in POINTS_VERSION_FIELDS),
    )


def points_movements_by_partner(
    *, partner_ids: list[int] | None = None, start: datetime | None = None, end: datetime | None = None
) -> dict[int, dict[str, int]]:
    """Per partner, the sum of its entries of each kind with `effective_at` in [start, end) (one query).

    Raw sums, not netted: a partner's kinds add up to what its balance moved by, so every kind can be shown
    next to the balance (an expiry is an expiry, an adjustment an adjustment).
    """
    entries = LedgerEntry.objects.all()
    if partner_ids is not None:
        entries = entries.filter(account__partner_id__in=partner_ids)
    if start is not None:
        entries = entries.filter(effective_at__gte=start)
    if end is not None:
        entries = entries.filter(effective_at__lt=end)
    movements: dict[int, dict[str, int]] = defaultdict(dict)
    for partner_id, kind, points in (
        entries.values_list("account__partner_id", "kind").annotate(points=Sum("points")).order_by()
    ):
        movements[partner_id][kind] = points
    return dict(movements)


def partner_statement_entries(
    *,
    partner_id: int,
    effective_from: datetime | None = None,
    effective_before: datetime | None = None,
    kind: str = "",
) -> QuerySet[LedgerEntry]:
    """A partner's ledger entries, newest posting first, with everything their causes name fetched with them.

    Ordered by posting (not by `effective_at`) so that `balance_after` reads as a running balance; the
    optional filters bound `effective_at` (from inclusive, before exclusive) and the kind.
    """
    entries = LedgerEntry.objects.filter(account__partner_id=partner_id)
    if effective_from is not None:
        entries = entries.filter(effective_at__gte=effective_from)
    if effective_before is not None:
        entries = entries.filter(effective_at__lt=effective_before)
    if kind:
        entries = entries.filter(kind=kind)
    # What most entries name (an earning's activity and rule) is joined; the rest is fetched for the page's entries
    # that name it, a query per relation (none when no entry does). One join per relation made the query dear to
    # build and above all to plan: 6-20 ms per page against 0.4 ms with two joins (bench/README.md, "Issue 24,
    # item 3: the load"). The adjustments' approvals are a reverse relation, which a prefetch reads for every
    # entry: `statement_approvals_attach` reads them for the adjustments only.
    return (
        entries.select_related("activity", "earning_rule")
        .prefetch_related(
            "actor",
            "expired_lot",
            "redemption__reward",
            Prefetch("reverses", queryset=LedgerEntry.objects.select_related("activity", "earning_rule")),
            "reverses__redemption__reward",
        )
        .order_by("-created_at", "-pk")
    )


def statement_approvals_attach(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    """The approvals (with who decided) of the adjustments among `entries` and the adjustments they reverse,
    attached as `adjustment_request`: one query when there is one, none otherwise (a page of earnings)."""
    reversed_entries = [entry.reverses for entry in entries if entry.kind == EntryKind.REVERSE and entry.reverses_id]
    adjustments = [entry for entry in [*entries, *reversed_entries] if entry.kind == EntryKind.ADJUST]
    if adjustments:
        prefetch_related_objects(
            adjustments,
            Prefetch("adjustment_request", queryset=AdjustmentRequest.objects.select_related("decided_by")),
        )
    return entries


def points_expiring_by_partner(*, partner_ids: QuerySet | list[int], within_days: int) -> dict[int, int]:
    """Points expiring within `within_days`, for each of these partners that has any (one query)."""
    now = timezone.now()
    rows = (
        PointsLot.objects.filter(
            account__partner_id__in=partner_ids,
            remaining__gt=0,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=within_days),
        )
        .values_list("account__partner_id")
        .annotate(points=Sum("remaining"))
    )
    return dict(rows)


@dataclass(frozen=True)
class PointsFlow:
    """Points earned and redeemed over a period, net of their reversals and refunds (see docs/portal.md)."""

    earned: int
    redeemed: int

    @property
    def redemption_rate(self) -> Decimal | None:
        """Redeemed ÷ earned as a percentage with one decimal; None when nothing was earned."""
        if self.earned <= 0:
            return None
        return (Decimal(self.redeemed) * 100 / self.earned).quantize(Decimal("0.1"))


# The same netting as the accounts' lifetime counters (`points_post`): a reversal counts with the kind it
# reverses, a refund gives back a redemption. Adjustments and expiries are neither earning nor redeeming.
EARNED = Q(kind=EntryKind.EARN) | Q(kind=EntryKind.REVERSE, reverses__kind=EntryKind.EARN)
REDEEMED = Q(kind__in=[EntryKind.REDEEM, EntryKind.REFUND]) | Q(kind=EntryKind.REVERSE, reverses__kind=EntryKind.REDEEM)


def points_flow(*, start: datetime, end: datetime) -> PointsFlow:
    """The current tenant's points earned and redeemed with `effective_at` in [start, end) (one query)."""
    totals = LedgerEntry.objects.filter(effective_at__gte=start, effective_at__lt=end).aggregate(
        earned=Sum("points", filter=EARNED), redeemed=Sum("points", filter=REDEEMED)
    )
    return PointsFlow(earned=totals["earned"] or 0, redeemed=-(totals["redeemed"] or 0))


def points_flow_by_month(*, start: datetime, end: datetime) -> dict[date, PointsFlow]:
    """`points_flow` for each month (in the current time zone) of [start, end) that has any movement (one query)."""
    rows = (
        LedgerEntry.objects.filter(effective_at__gte=start, effective_at__lt=end)
        .annotate(month=TruncMonth("effective_at"))
        .values("month")
        .annotate(earned=Sum("points", filter=EARNED), redeemed=Sum("points", filter=REDEEMED))
        .order_by("month")
    )
    return {
        month_of(row["month"]): PointsFlow(earned=row["earned"] or 0, redeemed=-(row["redeemed"] or 0)) for row in rows
    }


def month_of(moment: datetime | date) -> date:
    """The first day of the month a truncated timestamp stands for, in the current time zone."""
    if isinstance(moment, datetime):
        moment = timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()
    return moment.replace(day=1)


def adjustments_waiting() -> QuerySet[AdjustmentRequest]:
    """Adjustments above the four-eyes limit waiting for a second person, oldest first."""
    return AdjustmentRequest.objects.filter(status=AdjustmentRequest.Status.PENDING).order_by("requested_at", "pk")
