"""Reads of market development funds: verification, a partner's funds, review queues and budgets."""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import BooleanField, Count, ExpressionWrapper, Prefetch, Q, Sum
from django.utils import timezone

from funds.models import FundAccount, FundClaim, FundEntry, FundEntryKind, FundPayout, FundPeriod, FundRequest
from funds.services import fund_entry_hash
from loyalty.tenancy.context import current_tenant
from partners.models import Partner
from tiers.models import BenefitKind
from tiers.selectors import partner_entitlement_value


@dataclass
class FundVerificationReport:
    accounts: int = 0
    entries: int = 0
    breaches: list[str] = field(default_factory=list)


def fund_verify() -> FundVerificationReport:
    """Check every fund account of the current tenant: available and committed equal the sums of its entries,
    neither is negative, each entry's running balances follow from the one before, and the hash chain is unbroken
    (no entry changed, removed or inserted after the fact)."""
    report = FundVerificationReport()
    sums = {
        account_id: (available, committed)
        for account_id, available, committed in FundEntry.objects.values_list("account_id")
        .annotate(available=Sum("available_delta"), committed=Sum("committed_delta"))
        .order_by()
    }
    heads: dict[int, str] = defaultdict(str)
    running: dict[int, tuple[Decimal, Decimal]] = defaultdict(lambda: (Decimal(0), Decimal(0)))
    for entry in FundEntry.objects.order_by("account_id", "pk").iterator(chunk_size=2000):
        report.entries += 1
        if fund_entry_hash(previous_hash=heads[entry.account_id], entry=entry) != entry.entry_hash:
            report.breaches.append(
                f"fund account {entry.account_id}: entry {entry.pk} was changed after it was written"
            )
        available, committed = running[entry.account_id]
        available, committed = available + entry.available_delta, committed + entry.committed_delta
        if (available, committed) != (entry.available_after, entry.committed_after):
            report.breaches.append(
                f"fund account {entry.account_id}: entry {entry.pk} says {entry.available_after}/"
                f"{entry.committed_after} after, the entries before it add up to {available}/{committed}"
            )
        running[entry.account_id] = (available, committed)
        heads[entry.account_id] = entry.entry_hash
    for account in FundAccount.objects.order_by("pk").iterator(chunk_size=2000):
        report.accounts += 1
        available, committed = sums.get(account.pk, (Decimal(0), Decimal(0)))
        if account.available < 0 or account.committed < 0:
            report.breaches.append(f"fund account {account.pk}: negative balance")
        if (account.available, account.committed) != (available, committed):
            report.breaches.append(
                f"fund account {account.pk}: balances {account.available}/{account.committed} != entries "
                f"{available}/{committed}"
            )
        if account.chain_head != heads[account.pk]:
            report.breaches.append(f"fund account {account.pk}: hash chain does not end at the account's head")
    return report


def fund_period_current() -> FundPeriod | None:
    """The period today falls in (the latest starting one if several overlap), else the latest."""
    today = timezone.localdate()
    # One query (the dashboard asks on every request): the periods today falls in first, then by start.
    is_current = ExpressionWrapper(Q(starts_on__lte=today, ends_on__gte=today), output_field=BooleanField())
    return FundPeriod.objects.order_by(is_current.desc(), "-starts_on").first()


@dataclass(frozen=True)
class FundTotals:
    """Money of a set of accounts by movement: allocated (tier + accrual + top-ups − deductions), committed to
    pre-approvals, paid, released (expired or unspent rest of a paid pre-approval)."""

    allocated: Decimal
    approved: Decimal
    paid: Decimal
    released: Decimal
    available: Decimal
    committed: Decimal

    @property
    def used(self) -> Decimal:
        """Committed to pre-approvals or paid: what the partner can no longer request."""
        return self.allocated - self.available


def fund_totals(*, account_ids: list[int]) -> FundTotals:
    """Totals over some accounts (two queries)."""
    by_kind = dict(
        FundEntry.objects.filter(account_id__in=account_ids)
        .values_list("kind")
        .annotate(total=Sum("available_delta") - Sum("committed_delta"))
        .order_by()
    )
    balances = FundAccount.objects.filter(pk__in=account_ids).aggregate(
        available=Sum("available"), committed=Sum("committed")
    )
    zero = Decimal(0)
    allocated = sum(
        (by_kind.get(kind, zero) for kind in (FundEntryKind.ALLOCATE, FundEntryKind.ACCRUE, FundEntryKind.TOP_UP)),
        zero,
    ) + by_kind.get(FundEntryKind.DEDUCT, zero)
    # commit moves −x available, +x committed: its total here is −2x; pay is 0 − (−x) = x; release is 2x.
    return FundTotals(
        allocated=allocated,
        approved=-by_kind.get(FundEntryKind.COMMIT, zero) / 2,
        paid=by_kind.get(FundEntryKind.PAY, zero),
        released=by_kind.get(FundEntryKind.RELEASE, zero) / 2,
        available=balances["available"] or zero,
        committed=balances["committed"] or zero,
    )


# --- A partner's funds ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerFunds:
    """What the partner's Funds page shows for one period: the account's money and its requests."""

    period: FundPeriod | None
    account: FundAccount | None
    totals: FundTotals | None
    requests: list[FundRequest]
    payouts: list[FundPayout]


def partner_funds_get(*, partner: Partner, period: FundPeriod | None) -> PartnerFunds:
    """The partner's account in the period, its totals, requests (with their claims) and payouts (five queries)."""
    if period is None:
        return PartnerFunds(None, None, None, [], [])
    account = FundAccount.objects.filter(partner=partner, period=period, purpose=FundAccount.Purpose.MDF).first()
    if account is None:
        return PartnerFunds(period, None, None, [], [])
    requests = list(
        FundRequest.objects.filter(account=account).prefetch_related(
            Prefetch("claims", queryset=FundClaim.objects.order_by("-submitted_at", "-pk"))
        )
    )
    payouts = list(FundPayout.objects.filter(account=account).select_related("claim__request"))
    return PartnerFunds(period, account, fund_totals(account_ids=[account.pk]), requests, payouts)


def partner_fund_usage(*, partner: Partner) -> FundTotals | None:
    """The partner's funds in the current period, for "Your Gold benefits" (None: no period or no account)."""
    period = fund_period_current()
    if period is None:
        return None
    account_ids = list(
        FundAccount.objects.filter(partner=partner, period=period, purpose=FundAccount.Purpose.MDF).values_list(
            "pk", flat=True
        )
    )
    return fund_totals(account_ids=account_ids) if account_ids else None


# --- Review queues -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerFundHistory:
    """A partner's record with funds, shown beside each item in the review queues."""

    requests: int = 0
    rejected_requests: int = 0
    expired_requests: int = 0
    claims_paid: int = 0
    claims_rejected: int = 0
    paid: Decimal = Decimal(0)


def partner_fund_histories(*, partner_ids: list[int]) -> dict[int, PartnerFundHistory]:
    """Per partner, counts of its requests and claims by outcome and what it was paid, over every period
    (two queries)."""
    requests = (
        FundRequest.objects.filter(partner_id__in=partner_ids)
        .values("partner_id")
        .annotate(
            total=Count("pk"),
            rejected=Count("pk", filter=Q(status=FundRequest.Status.REJECTED)),
            expired=Count("pk", filter=Q(status=FundRequest.Status.EXPIRED)),
        )
        .order_by()
    )
    claims = (
        FundClaim.objects.filter(partner_id__in=partner_ids)
        .values("partner_id")
        .annotate(
            paid_count=Count("pk", filter=Q(status=FundClaim.Status.APPROVED)),
            rejected=Count("pk", filter=Q(status=FundClaim.Status.REJECTED)),
            paid=Sum("approved_amount", filter=Q(status=FundClaim.Status.APPROVED)),
        )
        .order_by()
    )
    by_partner: dict[int, dict] = defaultdict(dict)
    for row in requests:
        by_partner[row["partner_id"]].update(
            requests=row["total"], rejected_requests=row["rejected"], expired_requests=row["expired"]
        )
    for row in claims:
        by_partner[row["partner_id"]].update(
            claims_paid=row["paid_count"], claims_rejected=row["rejected"], paid=row["paid"] or Decimal(0)
        )
    return {partner_id: PartnerFundHistory(**by_partner.get(partner_id, {})) for partner_id in partner_ids}


@dataclass(frozen=True)
class ReviewQueues:
    requests: list[FundRequest]
    claims: list[FundClaim]
    histories: dict[int, PartnerFundHistory]


def fund_review_queues() -> ReviewQueues:
    """Requests awaiting pre-approval and claims awaiting review, oldest first, with each partner's history
    (five queries however long the queues)."""
    requests = list(
        FundRequest.objects.filter(status=FundRequest.Status.SUBMITTED)
        .select_related("partner", "account__period")
        .order_by("submitted_at", "pk")
    )
    claims = list(
        FundClaim.objects.filter(status=FundClaim.Status.SUBMITTED)
        .select_related("partner", "request")
        .prefetch_related("proofs")
        .order_by("submitted_at", "pk")
    )
    partner_ids = sorted({item.partner_id for item in [*requests, *claims]})
    return ReviewQueues(requests, claims, partner_fund_histories(partner_ids=partner_ids))


# --- Budgets -------------------------------------------------------------------------------------------------------

BUDGET_COLUMNS = ("allocated", "requested", "approved", "claimed", "paid", "expired")


@dataclass
class BudgetLine:
    """One line of a period's budget: a tier or a region, and its money by stage."""

    label: str
    partners: int = 0
    allocated: Decimal = Decimal(0)
    requested: Decimal = Decimal(0)
    approved: Decimal = Decimal(0)
    claimed: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    expired: Decimal = Decimal(0)

    def add(self, other: "BudgetLine") -> None:
        self.partners += other.partners
        for column in BUDGET_COLUMNS:
            setattr(self, column, getattr(self, column) + getattr(other, column))


@dataclass(frozen=True)
class Budget:
    period: FundPeriod
    currency: str
    by_tier: list[BudgetLine]
    by_region: list[BudgetLine]
    total: BudgetLine


def fund_budget(*, period: FundPeriod, no_tier: str, no_region: str) -> Budget:
    """The period's money by stage, per tier (the tier that decided each allocation) and per region (four queries).

    Allocated = tier allocations + accruals + top-ups − deductions; requested = every request's amount; approved =
    commitments made by pre-approvals; claimed = claims under review or approved; paid = payouts; expired =
    pre-approvals released when their claim window ended unclaimed.
    """
    accounts = list(
        FundAccount.objects.filter(period=period, purpose=FundAccount.Purpose.MDF)
        .values_list("pk", "tier__rank", "tier__name", "partner__region", "currency")
        .order_by()
    )
    lines: dict[int, BudgetLine] = {account_id: BudgetLine("", partners=1) for account_id, *_rest in accounts}
    for account_id, kind, available, committed in (
        FundEntry.objects.filter(account__period=period, account__purpose=FundAccount.Purpose.MDF)
        .values_list("account_id", "kind")
        .annotate(available=Sum("available_delta"), committed=Sum("committed_delta"))
        .order_by()
    ):
        line = lines[account_id]
        if kind in (FundEntryKind.ALLOCATE, FundEntryKind.ACCRUE, FundEntryKind.TOP_UP, FundEntryKind.DEDUCT):
            line.allocated += available
        elif kind == FundEntryKind.COMMIT:
            line.approved += committed
        elif kind == FundEntryKind.PAY:
            line.paid -= committed
    for account_id, requested, expired in (
        FundRequest.objects.filter(account__period=period)
        .values_list("account_id")
        .annotate(
            requested=Sum("requested_amount"),
            expired=Sum("approved_amount", filter=Q(status=FundRequest.Status.EXPIRED)),
        )
        .order_by()
    ):
        lines[account_id].requested += requested or 0
        lines[account_id].expired += expired or 0
    for account_id, claimed in (
        FundClaim.objects.filter(request__account__period=period, status__in=["submitted", "approved"])
        .values_list("request__account_id")
        .annotate(claimed=Sum("amount"))
        .order_by()
    ):
        lines[account_id].claimed += claimed or 0
    by_tier: dict[tuple, BudgetLine] = {}
    by_region: dict[str, BudgetLine] = {}
    total = BudgetLine("")
    for account_id, tier_rank, tier_name, region, _currency in accounts:
        line = lines[account_id]
        tier_key = (-(tier_rank or 0), tier_name or "")
        by_tier.setdefault(tier_key, BudgetLine(tier_name or no_tier)).add(line)
        by_region.setdefault(region or "", BudgetLine(region or no_region)).add(line)
        total.add(line)
    return Budget(
        period=period,
        currency=accounts[0][4] if accounts else current_tenant().currency,
        by_tier=[by_tier[key] for key in sorted(by_tier)],
        by_region=[by_region[key] for key in sorted(by_region, key=lambda region: (region == "", region))],
        total=total,
    )


@dataclass(frozen=True)
class PartnerRebates:
    """A partner's rebates in a period: accrued so far (net of reversals), paid, the rate its tier grants now."""

    period: FundPeriod
    accrued: Decimal
    paid: Decimal
    rate: Decimal | None
    currency: str
    payouts: list[FundPayout]


def partner_rebates_get(*, partner: Partner, period: FundPeriod | None) -> PartnerRebates | None:
    """The partner's rebates in the period (None: no period, or no rebate account and no rate). Four queries."""
    if period is None:
        return None
    rate = partner_entitlement_value(partner=partner, kind=BenefitKind.REBATE_RATE)
    account = FundAccount.objects.filter(partner=partner, period=period, purpose=FundAccount.Purpose.REBATE).first()
    if account is None:
        if not rate:
            return None
        return PartnerRebates(period, Decimal(0), Decimal(0), rate, current_tenant().currency, [])
    by_kind = dict(
        FundEntry.objects.filter(account=account).values_list("kind").annotate(total=Sum("available_delta")).order_by()
    )
    return PartnerRebates(
        period=period,
        accrued=by_kind.get(FundEntryKind.ACCRUE, Decimal(0)),
        paid=-by_kind.get(FundEntryKind.SETTLE, Decimal(0)),
        rate=rate,
        currency=account.currency,
        payouts=list(FundPayout.objects.filter(account=account)),
    )
