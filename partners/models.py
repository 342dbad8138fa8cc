"""Partners: the companies in a tenant's program, and the per-tenant list of partner types."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_countries.fields import CountryField
from django_scopes import ScopedManager

from loyalty.tenancy.caching import TenancyCachedManager, TenancyCachedModel
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import Role, StatusChange, TenantOwnedModel, tenant_key_in_composite
from partners.evidence import evidence_path


def account_manager_choices() -> Q:
    """Users who are active account managers of the current tenant (choices for Partner.account_manager)."""
    return Q(
        memberships__tenant=current_tenant(),
        memberships__role=Role.ACCOUNT_MANAGER,
        memberships__is_active=True,
    )


class PartnerType(TenantOwnedModel):
    """A kind of partner (distributor, reseller, installer, agent…), configurable per tenant."""

    code = models.SlugField(max_length=50, verbose_name=_("code"))
    name = models.CharField(max_length=100, verbose_name=_("name"))

    class Meta:
        verbose_name = _("partner type")
        verbose_name_plural = _("partner types")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="partner_type_code_unique_per_tenant")]

    def __str__(self) -> str:
        return self.name


class Partner(TenancyCachedModel, TenantOwnedModel):
    """A company in the program (cached with its members' memberships: loyalty/tenancy/caching.py)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        LEFT = "left", _("Left")

    external_id = models.CharField(
        max_length=100, help_text=_("The partner's id in the vendor's CRM."), verbose_name=_("external ID")
    )
    name = models.CharField(max_length=200, verbose_name=_("name"))
    partner_type = models.ForeignKey(
        PartnerType, on_delete=models.PROTECT, related_name="partners", verbose_name=_("partner type")
    )
    region = models.CharField(max_length=100, blank=True, verbose_name=_("region"))
    segment = models.CharField(max_length=100, blank=True, verbose_name=_("segment"))
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="managed_partners",
        limit_choices_to=account_manager_choices,
        verbose_name=_("account manager"),
    )
    joined_at = models.DateField(default=timezone.localdate, verbose_name=_("joined at"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, verbose_name=_("status"))

    objects = ScopedManager(tenant="tenant", _manager_class=TenancyCachedManager)
    all_tenants = TenancyCachedManager()  # noqa: DJ012 - a second manager, not a field

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "external_id"], name="partner_external_id_unique_per_tenant")
        ]
        indexes = [
            models.Index(fields=["tenant", "account_manager"], name="partner_tenant_account_manager"),
            models.Index(fields=["tenant", "status"], name="partner_tenant_status"),
        ]

    def __str__(self) -> str:
        return self.name


class ActivityKind(models.TextChoices):
    SALE = "sale", _("Sale")
    DEAL_REGISTRATION = "deal_registration", _("Deal registration")
    TRAINING = "training", _("Training")
    CERTIFICATION = "certification", _("Certification")
    MARKETING = "marketing", _("Marketing")
    REFERRAL = "referral", _("Referral")
    CUSTOM = "custom", _("Custom")


class Activity(TenantOwnedModel):
    """Something a partner did that may earn points and count towards a tier."""

    class Source(models.TextChoices):
        API = "api", _("API")
        CSV = "csv", _("CSV import")
        CLAIM = "claim", _("Claim")
        ADMIN = "admin", _("Admin")
        COURSE = "course", _("Course")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    # Looked up through activity_partner_kind_time, which leads with the tenant: an index of its own would only
    # cost each insert (bulk ingestion, docs/ingestion.md).
    # One composite key (tenant, partner) → partner (tenant, id) in place of a key each (loyalty/tenancy/
    # composite_keys.py, migration 0015): a check per inserted activity fewer, and the partner's tenant is the
    # activity's. Partners carry the unique index `partner_tenant_id` for it, which only the database knows.
    tenant = tenant_key_in_composite()
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="activities", db_constraint=False, verbose_name=_("partner")
    )
    kind = models.CharField(max_length=32, choices=ActivityKind.choices, verbose_name=_("kind"))
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True, verbose_name=_("amount"))
    currency = models.CharField(max_length=3, blank=True, verbose_name=_("currency"))
    # The amount in the program's currency (`Tenant.currency`) at the rate of the activity's day
    # (partners.currency): what earning rules, tier metrics and analytics read. Equal to `amount` (rate 1) when
    # the activity is in the program's currency.
    amount_converted = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, editable=False, verbose_name=_("amount converted")
    )
    exchange_rate = models.DecimalField(
        max_digits=18, decimal_places=8, null=True, blank=True, editable=False, verbose_name=_("exchange rate")
    )
    quantity = models.PositiveIntegerField(default=1, verbose_name=_("quantity"))
    product_sku = models.CharField(max_length=100, blank=True, verbose_name=_("product SKU"))
    product_category = models.CharField(max_length=100, blank=True, verbose_name=_("product category"))
    code = models.CharField(
        max_length=100, blank=True, help_text=_("Course or certification id."), verbose_name=_("code")
    )
    valid_until = models.DateField(
        null=True, blank=True, help_text=_("When a certification lapses."), verbose_name=_("valid until")
    )
    source = models.CharField(max_length=16, choices=Source.choices, verbose_name=_("source"))
    external_id = models.CharField(max_length=200, blank=True, verbose_name=_("external ID"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    evidence = models.FileField(upload_to=evidence_path, blank=True, max_length=200, verbose_name=_("evidence"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source", "external_id"],
                condition=~Q(external_id=""),
                name="activity_external_id_unique_per_tenant_and_source",
            ),
            models.CheckConstraint(condition=Q(amount__isnull=True) | Q(amount__gt=0), name="activity_amount_positive"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="activity_quantity_positive"),
        ]
        indexes = [
            models.Index(fields=["tenant", "partner", "kind", "occurred_at"], name="activity_partner_kind_time"),
            # Analytics read approved activities by time across partners (the open month, a period's edges):
            # the included columns let PostgreSQL answer from the index alone, wherever the rows lie in the table.
            models.Index(
                fields=["tenant", "status", "occurred_at"],
                include=["partner", "kind", "amount_converted"],
                name="activity_status_time",
            ),
            # The tier metrics read approved activities per partner and kind; PostgreSQL answers from the index.
            models.Index(
                fields=["tenant", "partner", "kind", "occurred_at"],
                include=["amount_converted", "code", "valid_until"],
                condition=Q(status="approved"),
                name="activity_approved_metrics",
            ),
            # A rate correction finds the activities of its currency and day.
            models.Index(fields=["tenant", "currency", "occurred_at"], name="activity_currency_time"),
        ]

    def save(self, *args, **kwargs) -> None:
        """An amount in the program's currency is its own converted amount; others are converted by the services."""
        if self.amount is not None and self.amount_converted is None and self.currency == current_tenant().currency:
            self.amount_converted, self.exchange_rate = self.amount, Decimal(1)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.partner.name} on {self.occurred_at:%Y-%m-%d}"


class ActivityStatusChange(StatusChange):
    """Who moved an activity from one status to another, when and why."""

    # Looked up through activity_change_activity, which leads with the tenant.
    activity = models.ForeignKey(
        Activity, on_delete=models.CASCADE, related_name="status_changes", verbose_name=_("activity")
    )
    from_status = models.CharField(
        max_length=16, choices=Activity.Status.choices, blank=True, verbose_name=_("from status")
    )
    to_status = models.CharField(max_length=16, choices=Activity.Status.choices, verbose_name=_("to status"))

    class Meta:
        verbose_name = _("activity status change")
        verbose_name_plural = _("activity status changes")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["tenant", "activity"], name="activity_change_activity")]


class Claim(TenantOwnedModel):
    """A partner member's request for credit, backed by evidence; it becomes an activity when approved."""

    class Type(models.TextChoices):
        SALE = "sale", _("Sale")
        TRAINING = "training", _("Training")
        CERTIFICATION = "certification", _("Certification")
        MARKETING = "marketing", _("Marketing participation")
        REFERRAL = "referral", _("Referral")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="claims", verbose_name=_("partner"))
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("submitted by")
    )
    claim_type = models.CharField(max_length=16, choices=Type.choices, verbose_name=_("claim type"))
    activity = models.OneToOneField(
        Activity, on_delete=models.PROTECT, related_name="claim", verbose_name=_("activity")
    )
    invoice_number = models.CharField(max_length=100, blank=True, verbose_name=_("invoice number"))
    invoice_date = models.DateField(null=True, blank=True, verbose_name=_("invoice date"))
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True, verbose_name=_("amount"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("duplicate of")
    )
    review_reasons = models.JSONField(
        default=list, blank=True, help_text=_("Why the claim waits for review."), verbose_name=_("review reasons")
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("reviewed at"))
    review_note = models.TextField(blank=True, verbose_name=_("review note"))
    submitted_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("submitted at"))

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        ordering = ["-submitted_at", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "status", "submitted_at"], name="claim_status_time"),
            models.Index(fields=["tenant", "invoice_number"], name="claim_invoice"),
            models.Index(fields=["tenant", "partner", "amount", "invoice_date"], name="claim_partner_amount_date"),
        ]

    def __str__(self) -> str:
        return f"{self.get_claim_type_display()} claim {self.pk}"

    @property
    def is_flagged_duplicate(self) -> bool:
        return self.duplicate_of_id is not None


class PartnerNote(TenantOwnedModel):
    """A note by staff about a partner (coaching, calls, plans); staff read it, partner members never do."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="notes", verbose_name=_("partner"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("author")
    )
    body = models.TextField(verbose_name=_("body"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("partner note")
        verbose_name_plural = _("partner notes")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "partner", "created_at"], name="partner_note_partner_time")]

    def __str__(self) -> str:
        return f"Note on {self.partner.name} by {self.author}"


def import_path(instance: object, filename: str) -> str:
    """imports/<tenant id>/<random>.csv: no user-chosen names on disk, outside the web root like evidence."""
    return f"imports/{instance.tenant_id}/{uuid.uuid4().hex}.csv"


class ImportJob(TenantOwnedModel):
    """A CSV file of activities uploaded in the tenant admin: checked in a dry run, then imported on request."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        VALIDATING = "validating", _("Checking")
        VALIDATED = "validated", _("Checked, ready to import")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    file = models.FileField(upload_to=import_path, max_length=200, verbose_name=_("file"))
    original_name = models.CharField(max_length=255, verbose_name=_("original name"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED, verbose_name=_("status"))
    approve = models.BooleanField(
        default=True,
        help_text=_("Record the activities approved and post their points (your own systems' data)."),
        verbose_name=_("approve"),
    )
    total_rows = models.PositiveIntegerField(default=0, verbose_name=_("total rows"))
    processed_rows = models.PositiveIntegerField(default=0, verbose_name=_("processed rows"))
    created_count = models.PositiveIntegerField(default=0, verbose_name=_("created count"))
    duplicate_count = models.PositiveIntegerField(default=0, verbose_name=_("duplicate count"))
    error_count = models.PositiveIntegerField(default=0, verbose_name=_("error count"))
    # The first per-row errors ({"row", "field", "message"}) and the first rows as parsed ({"row", "cells", "status"}).
    errors = models.JSONField(default=list, blank=True, verbose_name=_("errors"))
    preview = models.JSONField(default=list, blank=True, verbose_name=_("preview"))
    failure = models.TextField(blank=True, verbose_name=_("failure"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    validated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("validated at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = pgettext_lazy("model name", "CSV import")  # lower case in Spanish, unlike the source label
        verbose_name_plural = _("CSV imports")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "created_at"], name="import_job_tenant_time")]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.get_status_display()})"

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.UPLOADED, self.Status.VALIDATING, self.Status.IMPORTING)


class PartnerApplication(TenantOwnedModel):
    """A company's request to join the program, from the public application page; staff approve or reject it."""

    class Status(models.TextChoices):
        UNVERIFIED = "unverified", _("Email not yet confirmed")
        PENDING = "pending", _("Waiting for review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    company_name = models.CharField(_("company name"), max_length=200)
    website = models.URLField(_("website"), max_length=200)
    domain = models.CharField(
        max_length=253, editable=False, help_text=_("The website's host, without www."), verbose_name=_("domain")
    )
    country = CountryField(_("country"), blank_label=_("Choose a country"))
    partner_type = models.ForeignKey(PartnerType, on_delete=models.PROTECT, related_name="+", verbose_name=_("type"))
    contact_name = models.CharField(_("contact name"), max_length=200)
    contact_email = models.EmailField(_("contact email"))
    message = models.TextField(_("message"), blank=True, max_length=2000)
    terms_accepted_at = models.DateTimeField(editable=False, verbose_name=_("terms accepted at"))
    ip_address = models.GenericIPAddressField(null=True, blank=True, editable=False, verbose_name=_("IP address"))
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.UNVERIFIED, verbose_name=_("status")
    )
    submitted_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("submitted at"))
    verified_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("verified at"))
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("reviewed at"))
    decision_reason = models.TextField(blank=True, verbose_name=_("decision reason"))
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("partner")
    )

    class Meta:
        verbose_name = _("partner application")
        verbose_name_plural = _("partner applications")
        ordering = ["-submitted_at", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "status", "submitted_at"], name="application_status_time"),
            models.Index(fields=["tenant", "domain"], name="application_domain"),
        ]

    def __str__(self) -> str:
        return self.company_name


class ExchangeRate(TenantOwnedModel):
    """What one unit of `currency` was worth in the program's currency on a day (entered, imported or by API).

    Activities in another currency are converted at the rate of their day in the program's time zone; a day
    without a rate refuses them, naming the missing rate (partners.currency).
    """

    class Source(models.TextChoices):
        ADMIN = "admin", _("Admin")
        CSV = "csv", _("CSV import")
        API = "api", _("API")

    currency = models.CharField(
        max_length=3, help_text=_("ISO 4217 code of the foreign currency, e.g. EUR."), verbose_name=_("currency")
    )
    day = models.DateField(
        help_text=_("The day the rate applies to, in the program's time zone."), verbose_name=_("day")
    )
    rate = models.DecimalField(
        max_digits=18,
        decimal_places=8,
        help_text=_("Units of the program's currency for one unit of this currency (EUR→USD 1.08 is 1.08)."),
        verbose_name=_("rate"),
    )
    source = models.CharField(
        max_length=16, choices=Source.choices, default=Source.ADMIN, editable=False, verbose_name=_("source")
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("updated by"),
    )
    updated_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        ordering = ["-day", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "currency", "day"], name="exchange_rate_unique_per_day"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchange_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.day:%Y-%m-%d} {self.rate}"
