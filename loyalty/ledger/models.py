"""The points ledger: accounts, append-only entries, lots for expiry and their allocations.

Only `loyalty.ledger.services.points_post` writes accounts, entries, lots and allocations.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from loyalty.tenancy.models import TenantOwnedModel, tenant_key_in_composite


class AppendOnlyError(Exception):
    """Ledger entries are never updated or deleted; a correction is a new entry."""


class PointsAccount(TenantOwnedModel):
    """A partner's points: `balance` always equals the sum of its entries and of its lots' remaining points.

    Entries and lots refer to it by (tenant, id) through the unique index `points_account_tenant_id`, which only
    the database knows (migration 0010, loyalty/tenancy/composite_keys.py).
    """

    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="points_accounts", verbose_name=_("partner")
    )
    balance = models.BigIntegerField(default=0, verbose_name=_("balance"))
    lifetime_earned = models.BigIntegerField(default=0, verbose_name=_("lifetime earned"))
    lifetime_redeemed = models.BigIntegerField(default=0, verbose_name=_("lifetime redeemed"))
    # Head of the hash chain over this account's entries: tampering with any entry breaks it.
    chain_head = models.CharField(max_length=64, default="", editable=False, verbose_name=_("chain head"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "partner"], name="points_account_one_per_partner"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="points_account_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Points of partner {self.partner_id}"


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earned")
    REDEEM = "redeem", _("Redeemed")
    REFUND = "refund", _("Refunded")
    EXPIRE = "expire", _("Expired")
    ADJUST = "adjust", _("Adjustment")
    REVERSE = "reverse", _("Reversal")


class LedgerEntryQuerySet(models.QuerySet):
    def update(self, **kwargs) -> int:
        raise AppendOnlyError("Ledger entries cannot be updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Ledger entries cannot be deleted.")


AppendOnlyManager = models.Manager.from_queryset(LedgerEntryQuerySet)


class LedgerEntry(TenantOwnedModel):
    """One movement of points. Append-only: the model, its queryset and (on the database) a trigger refuse changes.

    Foreign keys get no index of their own where a tenant-leading index below serves their lookups, and the mostly
    empty causes (reversal, expiry, redemption) are indexed only where set (both by `lead_indexes_with_tenant`):
    every index costs each insert, and bulk ingestion inserts ~1.4 entries per activity (docs/ingestion.md).
    """

    # One composite key (tenant, account) → account (tenant, id) in place of a key each (loyalty/tenancy/
    # composite_keys.py, migration 0010): a check per inserted entry fewer, and the account's tenant is the entry's.
    tenant = tenant_key_in_composite()
    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="entries", db_constraint=False, verbose_name=_("account")
    )
    kind = models.CharField(max_length=16, choices=EntryKind.choices, verbose_name=_("kind"))
    points = models.BigIntegerField(verbose_name=_("points"))
    balance_after = models.BigIntegerField(verbose_name=_("balance after"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    effective_at = models.DateTimeField(default=timezone.now, verbose_name=_("effective at"))
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
    # The cause: an activity and the rule that priced it, a redemption, the entry this one reverses, or the lot
    # that expired.
    activity = models.ForeignKey(
        "partners.Activity",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("activity"),
    )
    earning_rule = models.ForeignKey(
        "earning.EarningRule",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entries",
        verbose_name=_("earning rule"),
    )
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        verbose_name=_("reverses"),
    )
    expired_lot = models.ForeignKey(
        "ledger.PointsLot",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="expiry_entries",
        verbose_name=_("expired lot"),
    )
    redemption = models.ForeignKey(
        "rewards.Redemption",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("redemption"),
    )
    entry_hash = models.CharField(max_length=64, editable=False, verbose_name=_("entry hash"))

    objects = ScopedManager(tenant="tenant", _manager_class=AppendOnlyManager)
    all_tenants = AppendOnlyManager()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="ledger_entry_idempotency_key_unique"),
            models.CheckConstraint(condition=~Q(points=0), name="ledger_entry_points_not_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="ledger_entry_balance_after_not_negative"),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=["earn", "refund"], points__gt=0)
                    | Q(kind__in=["redeem", "expire"], points__lt=0)
                    | Q(kind__in=["adjust", "reverse"])
                ),
                name="ledger_entry_sign_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind="reverse", reverses__isnull=False) | ~Q(kind="reverse"),
                name="ledger_entry_reversal_names_its_entry",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "account", "created_at"], name="ledger_entry_account_time"),
            models.Index(fields=["tenant", "activity"], name="ledger_entry_activity"),
            models.Index(fields=["tenant", "earning_rule", "account", "effective_at"], name="ledger_entry_rule_cap"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnlyError("Ledger entries cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Ledger entries cannot be deleted.")


class PointsLot(TenantOwnedModel):
    """Points credited together, expiring together; debits consume lots first-to-expire."""

    # Looked up through points_lot_account_expiry, which leads with the tenant (see LedgerEntry).
    # Keyed (tenant, account) → account (tenant, id), as entries are.
    tenant = tenant_key_in_composite()
    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="lots", db_constraint=False, verbose_name=_("account")
    )
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="lot", verbose_name=_("entry"))
    points = models.BigIntegerField(verbose_name=_("points"))
    remaining = models.BigIntegerField(verbose_name=_("remaining"))
    earned_at = models.DateTimeField(verbose_name=_("earned at"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))

    class Meta:
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        ordering = [F("expires_at").asc(nulls_last=True), "earned_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="points_lot_points_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("points")), name="points_lot_remaining_in_range"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "account", "expires_at"], name="points_lot_account_expiry"),
            models.Index(
                fields=["tenant", "expires_at"], condition=Q(remaining__gt=0), name="points_lot_open_by_expiry"
            ),
        ]

    def __str__(self) -> str:
        return f"Lot {self.pk}: {self.remaining}/{self.points}"


class LotAllocation(TenantOwnedModel):
    """How many points a debit took from a lot, so that its reversal or refund puts them back."""

    entry = models.ForeignKey(
        LedgerEntry, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("entry")
    )
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("lot"))
    points = models.BigIntegerField(verbose_name=_("points"))

    class Meta:
        verbose_name = _("lot allocation")
        verbose_name_plural = _("lot allocations")
        constraints = [models.CheckConstraint(condition=~Q(points=0), name="lot_allocation_points_not_zero")]
        indexes = [models.Index(fields=["tenant", "entry"], name="lot_allocation_entry")]


class AdjustmentRequest(TenantOwnedModel):
    """A manual adjustment larger than the program lets one person post: it waits for a second program manager or
    owner (four eyes). Approving posts the adjustment, under the request's own key, so it posts once."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a second person")
        APPROVED = "approved", _("Approved and posted")
        REJECTED = "rejected", _("Rejected")

    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="adjustment_requests", verbose_name=_("account")
    )
    points = models.BigIntegerField(verbose_name=_("points"))
    reason = models.TextField(verbose_name=_("reason"))
    idempotency_key = models.CharField(max_length=200, verbose_name=_("idempotency key"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(default=timezone.now, verbose_name=_("requested at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decision_note = models.TextField(blank=True, verbose_name=_("decision note"))
    entry = models.OneToOneField(
        LedgerEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="adjustment_request",
        verbose_name=_("entry"),
    )

    class Meta:
        verbose_name = _("adjustment request")
        verbose_name_plural = _("adjustment requests")
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="adjustment_request_key_unique"),
            models.CheckConstraint(condition=~Q(points=0), name="adjustment_request_points_not_zero"),
            models.CheckConstraint(
                condition=Q(status="approved", entry__isnull=False) | ~Q(status="approved"),
                name="adjustment_request_approved_has_entry",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status", "requested_at"], name="adjustment_request_queue")]

    def __str__(self) -> str:
        return f"{self.points:+,d} points for partner {self.account.partner}"
