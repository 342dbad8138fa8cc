"""Market development funds (MDF/co-op): periods, the money ledger (accounts and append-only entries), fund
requests, claims with proof of performance, and payouts.

Funds are money, points are points (DESIGN §11): only `funds.services.fund_post` writes accounts and entries.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from loyalty.tenancy.models import TenantOwnedModel
from partners.evidence import evidence_path

MONEY = {"max_digits": 14, "decimal_places": 2}
CURRENCY = {"max_length": 3, "validators": [RegexValidator(r"^[A-Z]{3}$")]}


class AppendOnlyError(Exception):
    """Fund entries are never updated or deleted; a correction is a new entry."""


class FundPeriod(TenantOwnedModel):
    """A budget period (quarter, half, year): how much each tier's partners get, and the claim rules."""

    class Kind(models.TextChoices):
        QUARTER = "quarter", _("Quarter")
        HALF = "half", _("Half year")
        YEAR = "year", _("Year")

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.QUARTER)
    starts_on = models.DateField()
    ends_on = models.DateField(help_text=_("Last day of the period."))
    accrual_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text=_("Funds accrued as a percentage of each partner's approved sales in the period (0: none)."),
    )
    max_reimbursement_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(100),
        validators=[MinValueValidator(Decimal(1)), MaxValueValidator(Decimal(100))],
        help_text=_("The most of an activity's cost that a claim may reimburse."),
    )
    claim_window_days = models.PositiveSmallIntegerField(
        default=60, help_text=_("Days after the activity within which its claim must arrive.")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("fund period")
        verbose_name_plural = _("fund periods")
        ordering = ["-starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind", "starts_on"], name="fund_period_unique_start"),
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="fund_period_ends_after"),
            models.CheckConstraint(
                condition=Q(accrual_percent__gte=0, accrual_percent__lte=100), name="fund_period_accrual_range"
            ),
            models.CheckConstraint(
                condition=Q(max_reimbursement_percent__gt=0, max_reimbursement_percent__lte=100),
                name="fund_period_reimbursement_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FundAccount(TenantOwnedModel):
    """A partner's funds in one period: `available` to request, `committed` to pre-approved activities.

    Both equal the sums of the account's entries and never go below zero (database checks). A partner has one
    account per period for market development funds and one for rebates (accrued on sales, settled at period end).
    """

    class Purpose(models.TextChoices):
        MDF = "mdf", _("Market development funds")
        REBATE = "rebate", _("Rebates")

    purpose = models.CharField(max_length=8, choices=Purpose.choices, default=Purpose.MDF)
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="fund_accounts")
    period = models.ForeignKey(FundPeriod, on_delete=models.PROTECT, related_name="accounts")
    # The tier whose entitlement decided the allocation (budgets are reported by it), kept if tiers move later.
    tier = models.ForeignKey("tiers.Tier", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    currency = models.CharField(**CURRENCY)
    available = models.DecimalField(**MONEY, default=Decimal(0))
    committed = models.DecimalField(**MONEY, default=Decimal(0))
    chain_head = models.CharField(max_length=64, default="", editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("fund account")
        verbose_name_plural = _("fund accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "partner", "period", "purpose"], name="fund_account_one_per_period_and_purpose"
            ),
            models.CheckConstraint(condition=Q(available__gte=0), name="fund_account_available_not_negative"),
            models.CheckConstraint(condition=Q(committed__gte=0), name="fund_account_committed_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Funds of partner {self.partner_id} in period {self.period_id}"


class FundEntryKind(models.TextChoices):
    ALLOCATE = "allocate", _("Allocated by tier")
    ACCRUE = "accrue", _("Accrued on sales")
    TOP_UP = "top_up", _("Top-up")
    DEDUCT = "deduct", _("Deduction")
    COMMIT = "commit", _("Committed to a pre-approval")
    RELEASE = "release", _("Released")
    PAY = "pay", _("Paid out")
    SETTLE = "settle", _("Rebate paid")


class FundEntryQuerySet(models.QuerySet):
    def update(self, **kwargs) -> int:
        raise AppendOnlyError("Fund entries cannot be updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Fund entries cannot be deleted.")


FundEntryManager = models.Manager.from_queryset(FundEntryQuerySet)


class FundEntry(TenantOwnedModel):
    """One movement of a fund account: how much `available` and `committed` moved (signed), with its cause.

    Allocate, accrue and top-up credit `available`; deduct debits it; commit moves an amount from `available` to
    `committed` (a pre-approval); release moves it back (expiry, the rest of a claim paid below its
    pre-approval); pay takes it out of `committed` (a payout). Append-only, like the points ledger.
    """

    account = models.ForeignKey(FundAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=FundEntryKind.choices)
    available_delta = models.DecimalField(**MONEY)
    committed_delta = models.DecimalField(**MONEY)
    available_after = models.DecimalField(**MONEY)
    committed_after = models.DecimalField(**MONEY)
    currency = models.CharField(**CURRENCY)
    created_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    memo = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=200)
    request = models.ForeignKey(
        "funds.FundRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    claim = models.ForeignKey("funds.FundClaim", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    entry_hash = models.CharField(max_length=64, editable=False)

    objects = ScopedManager(tenant="tenant", _manager_class=FundEntryManager)
    all_tenants = FundEntryManager()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("fund entry")
        verbose_name_plural = _("fund entries")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="fund_entry_idempotency_key_unique"),
            models.CheckConstraint(
                condition=Q(available_after__gte=0, committed_after__gte=0), name="fund_entry_after_not_negative"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=["allocate", "top_up"], available_delta__gt=0, committed_delta=0)
                    | Q(kind="accrue", committed_delta=0) & ~Q(available_delta=0)
                    | Q(kind="deduct", available_delta__lt=0, committed_delta=0)
                    | Q(kind="commit", available_delta__lt=0, committed_delta=-models.F("available_delta"))
                    | Q(kind="release", available_delta__gt=0, committed_delta=-models.F("available_delta"))
                    | Q(kind="pay", available_delta=0, committed_delta__lt=0)
                    | Q(kind="settle", available_delta__lt=0, committed_delta=0)
                ),
                name="fund_entry_deltas_match_kind",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "account", "created_at"], name="fund_entry_account_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.available_delta:+} / {self.committed_delta:+} {self.currency}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnlyError("Fund entries cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Fund entries cannot be deleted.")


class ActivityType(models.TextChoices):
    WEBINAR = "webinar", _("Webinar")
    EVENT = "event", _("Event")
    TRADE_SHOW = "trade_show", _("Trade show")
    DIGITAL = "digital", _("Digital campaign")
    PRINT = "print", _("Print and direct mail")
    TRAINING = "training", _("Sales training")
    OTHER = "other", _("Other")


class FundRequest(TenantOwnedModel):
    """A partner's plan for a marketing activity and the funds it asks for; pre-approved in full, in part
    (with a reason) or rejected. A pre-approval commits funds until a claim is paid or the claim window ends."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Awaiting pre-approval")
        APPROVED = "approved", _("Pre-approved")
        REJECTED = "rejected", _("Rejected")
        CLAIMED = "claimed", _("Claim submitted")
        PAID = "paid", _("Paid")
        EXPIRED = "expired", _("Expired")

    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="fund_requests")
    account = models.ForeignKey(FundAccount, on_delete=models.PROTECT, related_name="requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    activity_type = models.CharField(max_length=16, choices=ActivityType.choices)
    title = models.CharField(max_length=200)
    description = models.TextField()
    planned_on = models.DateField()
    expected_results = models.TextField(blank=True)
    requested_amount = models.DecimalField(**MONEY)
    approved_amount = models.DecimalField(**MONEY, null=True, blank=True)
    currency = models.CharField(**CURRENCY)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    claim_deadline = models.DateField(null=True, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=200)

    class Meta:
        verbose_name = _("fund request")
        verbose_name_plural = _("fund requests")
        ordering = ["-submitted_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="fund_request_idempotency_key_unique"),
            models.CheckConstraint(condition=Q(requested_amount__gt=0), name="fund_request_amount_positive"),
            models.CheckConstraint(
                condition=Q(approved_amount__isnull=True)
                | Q(approved_amount__gt=0, approved_amount__lte=models.F("requested_amount")),
                name="fund_request_approved_within_requested",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "submitted_at"], name="fund_request_status_time"),
            models.Index(fields=["tenant", "partner", "submitted_at"], name="fund_request_partner_time"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_partial(self) -> bool:
        return self.approved_amount is not None and self.approved_amount < self.requested_amount


class FundClaim(TenantOwnedModel):
    """After the activity: what it cost, what it achieved, proof of performance, and the reimbursement asked."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Awaiting review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    request = models.ForeignKey(FundRequest, on_delete=models.PROTECT, related_name="claims")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="fund_claims")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    performed_on = models.DateField()
    total_cost = models.DecimalField(**MONEY)
    amount = models.DecimalField(**MONEY, help_text=_("The reimbursement claimed."))
    approved_amount = models.DecimalField(**MONEY, null=True, blank=True)
    currency = models.CharField(**CURRENCY)
    results = models.TextField(help_text=_("What the activity achieved: attendees, leads, opportunities."))
    leads_generated = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=200)

    class Meta:
        verbose_name = _("fund claim")
        verbose_name_plural = _("fund claims")
        ordering = ["-submitted_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="fund_claim_idempotency_key_unique"),
            # At most one claim under review or approved per request; a rejected one may be followed by another.
            models.UniqueConstraint(
                fields=["tenant", "request"],
                condition=Q(status__in=["submitted", "approved"]),
                name="fund_claim_one_open_per_request",
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0, total_cost__gt=0, amount__lte=models.F("total_cost")),
                name="fund_claim_amount_within_cost",
            ),
            models.CheckConstraint(
                condition=Q(approved_amount__isnull=True)
                | Q(approved_amount__gt=0, approved_amount__lte=models.F("amount")),
                name="fund_claim_approved_within_claimed",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status", "submitted_at"], name="fund_claim_status_time")]

    def __str__(self) -> str:
        return f"Claim for {self.request}"


class ProofKind(models.TextChoices):
    INVOICE = "invoice", _("Invoice")
    PHOTO = "photo", _("Photo")
    ATTENDEES = "attendees", _("Attendee list")
    LEADS = "leads", _("Leads generated")
    OTHER = "other", _("Other proof")


class FundProof(TenantOwnedModel):
    """One file of proof of performance, scanned by content (loyalty.uploads) like claim evidence."""

    claim = models.ForeignKey(FundClaim, on_delete=models.CASCADE, related_name="proofs")
    kind = models.CharField(max_length=16, choices=ProofKind.choices)
    file = models.FileField(upload_to=evidence_path, max_length=200)
    content_type = models.CharField(max_length=100)
    original_name = models.CharField(max_length=200)

    class Meta:
        verbose_name = _("fund proof")
        verbose_name_plural = _("fund proofs")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.original_name


class FundPayout(TenantOwnedModel):
    """What an approved claim paid: a credit note (or a payment record) finance can book."""

    class Method(models.TextChoices):
        CREDIT_NOTE = "credit_note", _("Credit note")
        PAYMENT = "payment", _("Payment")

    # A claim's reimbursement, or (claim empty) the settlement of a rebate account at period end.
    claim = models.ForeignKey(FundClaim, on_delete=models.PROTECT, null=True, blank=True, related_name="payouts")
    account = models.ForeignKey(FundAccount, on_delete=models.PROTECT, related_name="payouts")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="fund_payouts")
    entry = models.ForeignKey(FundEntry, on_delete=models.PROTECT, related_name="+")
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.CREDIT_NOTE)
    number = models.CharField(max_length=32)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(**CURRENCY)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("fund payout")
        verbose_name_plural = _("fund payouts")
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="fund_payout_number_unique"),
            models.UniqueConstraint(fields=["tenant", "claim"], name="fund_payout_one_per_claim"),
            models.UniqueConstraint(fields=["tenant", "entry"], name="fund_payout_one_per_entry"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="fund_payout_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.number


class RebateAccrual(TenantOwnedModel):
    """What one approved sale accrued to its partner's rebate account: the sale amount, the rate of the partner's
    tier when the sale was approved, and the amount; `reversed_at` is set when the sale is reversed."""

    activity = models.ForeignKey("partners.Activity", on_delete=models.PROTECT, related_name="rebate_accruals")
    account = models.ForeignKey(FundAccount, on_delete=models.PROTECT, related_name="rebate_accruals")
    sale_amount = models.DecimalField(**MONEY)
    rate = models.DecimalField(max_digits=5, decimal_places=2)
    amount = models.DecimalField(**MONEY)
    accrued_at = models.DateTimeField(default=timezone.now)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("rebate accrual")
        verbose_name_plural = _("rebate accruals")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "activity"], name="rebate_accrual_one_per_sale"),
            models.CheckConstraint(condition=Q(amount__gte=0, rate__gte=0), name="rebate_accrual_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Rebate on activity {self.activity_id}"
