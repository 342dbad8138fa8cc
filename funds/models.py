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
from django.utils.translation import pgettext_lazy
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

    name = models.CharField(max_length=100, verbose_name=_("name"))
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.QUARTER, verbose_name=_("kind"))
    starts_on = models.DateField(verbose_name=_("starts on"))
    ends_on = models.DateField(help_text=_("Last day of the period."), verbose_name=_("ends on"))
    accrual_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text=_("Funds accrued as a percentage of each partner's approved sales in the period (0: none)."),
        verbose_name=_("accrual percent"),
    )
    max_reimbursement_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(100),
        validators=[MinValueValidator(Decimal(1)), MaxValueValidator(Decimal(100))],
        help_text=_("The most of an activity's cost that a claim may reimburse."),
        verbose_name=_("max reimbursement percent"),
    )
    claim_window_days = models.PositiveSmallIntegerField(
        default=60,
        help_text=_("Days after the activity within which its claim must arrive."),
        verbose_name=_("claim window days"),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

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

    purpose = models.CharField(max_length=8, choices=Purpose.choices, default=Purpose.MDF, verbose_name=_("purpose"))
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="fund_accounts", verbose_name=_("partner")
    )
    period = models.ForeignKey(FundPeriod, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("period"))
    # The tier whose entitlement decided the allocation (budgets are reported by it), kept if tiers move later.
    tier = models.ForeignKey(
        "tiers.Tier", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("tier")
    )
    currency = models.CharField(**CURRENCY, verbose_name=_("currency"))
    available = models.DecimalField(**MONEY, default=Decimal(0), verbose_name=pgettext_lazy("model field", "available"))
    committed = models.DecimalField(**MONEY, default=Decimal(0), verbose_name=_("committed"))
    chain_head = models.CharField(max_length=64, default="", editable=False, verbose_name=_("chain head"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=_("updated at"))

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

    account = models.ForeignKey(
        FundAccount, on_delete=models.PROTECT, related_name="entries", verbose_name=_("account")
    )
    kind = models.CharField(max_length=16, choices=FundEntryKind.choices, verbose_name=_("kind"))
    available_delta = models.DecimalField(**MONEY, verbose_name=_("available delta"))
    committed_delta = models.DecimalField(**MONEY, verbose_name=_("committed delta"))
    available_after = models.DecimalField(**MONEY, verbose_name=_("available after"))
    committed_after = models.DecimalField(**MONEY, verbose_name=_("committed after"))
    currency = models.CharField(**CURRENCY, verbose_name=_("currency"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    memo = models.TextField(blank=True, verbose_name=_("memo"))
    idempotency_key = models.CharField(max_length=200, verbose_name=_("idempotency key"))
    request = models.ForeignKey(
        "funds.FundRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entries",
        verbose_name=_("request"),
    )
    claim = models.ForeignKey(
        "funds.FundClaim", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("claim")
    )
    entry_hash = models.CharField(max_length=64, editable=False, verbose_name=_("entry hash"))

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

    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="fund_requests", verbose_name=_("partner")
    )
    account = models.ForeignKey(
        FundAccount, on_delete=models.PROTECT, related_name="requests", verbose_name=_("account")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    activity_type = models.CharField(max_length=16, choices=ActivityType.choices, verbose_name=_("activity type"))
    title = models.CharField(max_length=200, verbose_name=_("title"))
    description = models.TextField(verbose_name=_("description"))
    planned_on = models.DateField(verbose_name=_("planned on"))
    expected_results = models.TextField(blank=True, verbose_name=_("expected results"))
    requested_amount = models.DecimalField(**MONEY, verbose_name=_("requested amount"))
    approved_amount = models.DecimalField(**MONEY, null=True, blank=True, verbose_name=_("approved amount"))
    currency = models.CharField(**CURRENCY, verbose_name=_("currency"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED, verbose_name=_("status"))
    decision_reason = models.TextField(blank=True, verbose_name=_("decision reason"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    claim_deadline = models.DateField(null=True, blank=True, verbose_name=_("claim deadline"))
    submitted_at = models.DateTimeField(default=timezone.now, verbose_name=_("submitted at"))
    idempotency_key = models.CharField(max_length=200, verbose_name=_("idempotency key"))

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

    request = models.ForeignKey(FundRequest, on_delete=models.PROTECT, related_name="claims", verbose_name=_("request"))
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="fund_claims", verbose_name=_("partner")
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("submitted by")
    )
    performed_on = models.DateField(verbose_name=_("performed on"))
    total_cost = models.DecimalField(**MONEY, verbose_name=_("total cost"))
    amount = models.DecimalField(**MONEY, help_text=_("The reimbursement claimed."), verbose_name=_("amount"))
    approved_amount = models.DecimalField(**MONEY, null=True, blank=True, verbose_name=_("approved amount"))
    currency = models.CharField(**CURRENCY, verbose_name=_("currency"))
    results = models.TextField(
        help_text=_("What the activity achieved: attendees, leads, opportunities."), verbose_name=_("results")
    )
    leads_generated = models.PositiveIntegerField(default=0, verbose_name=_("leads generated"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED, verbose_name=_("status"))
    decision_reason = models.TextField(blank=True, verbose_name=_("decision reason"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    submitted_at = models.DateTimeField(default=timezone.now, verbose_name=_("submitted at"))
    idempotency_key = models.CharField(max_length=200, verbose_name=_("idempotency key"))

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

    claim = models.ForeignKey(FundClaim, on_delete=models.CASCADE, related_name="proofs", verbose_name=_("claim"))
    kind = models.CharField(max_length=16, choices=ProofKind.choices, verbose_name=_("kind"))
    file = models.FileField(upload_to=evidence_path, max_length=200, verbose_name=_("file"))
    content_type = models.CharField(max_length=100, verbose_name=_("content type"))
    original_name = models.CharField(max_length=200, verbose_name=_("original name"))

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
    claim = models.ForeignKey(
        FundClaim, on_delete=models.PROTECT, null=True, blank=True, related_name="payouts", verbose_name=_("claim")
    )
    account = models.ForeignKey(
        FundAccount, on_delete=models.PROTECT, related_name="payouts", verbose_name=_("account")
    )
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="fund_payouts", verbose_name=_("partner")
    )
    entry = models.ForeignKey(FundEntry, on_delete=models.PROTECT, related_name="+", verbose_name=_("entry"))
    method = models.CharField(
        max_length=16, choices=Method.choices, default=Method.CREDIT_NOTE, verbose_name=_("method")
    )
    number = models.CharField(max_length=32, verbose_name=_("number"))
    amount = models.DecimalField(**MONEY, verbose_name=_("amount"))
    currency = models.CharField(**CURRENCY, verbose_name=_("currency"))
    issued_at = models.DateTimeField(default=timezone.now, verbose_name=_("issued at"))

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

    activity = models.ForeignKey(
        "partners.Activity", on_delete=models.PROTECT, related_name="rebate_accruals", verbose_name=_("activity")
    )
    account = models.ForeignKey(
        FundAccount, on_delete=models.PROTECT, related_name="rebate_accruals", verbose_name=_("account")
    )
    sale_amount = models.DecimalField(**MONEY, verbose_name=_("sale amount"))
    rate = models.DecimalField(max_digits=5, decimal_places=2, verbose_name=_("rate"))
    amount = models.DecimalField(**MONEY, verbose_name=_("amount"))
    accrued_at = models.DateTimeField(default=timezone.now, verbose_name=_("accrued at"))
    reversed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("reversed at"))

    class Meta:
        verbose_name = _("rebate accrual")
        verbose_name_plural = _("rebate accruals")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "activity"], name="rebate_accrual_one_per_sale"),
            models.CheckConstraint(condition=Q(amount__gte=0, rate__gte=0), name="rebate_accrual_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Rebate on activity {self.activity_id}"
