"""Deal registrations: a partner's claim on a customer opportunity, its protection, conflicts and status history."""

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_countries.fields import CountryField

from loyalty.tenancy.models import StatusChange, TenantOwnedModel
from partners.evidence import evidence_path


class DealSettings(TenantOwnedModel):
    """The program's deal registration rules; a program without a row uses the defaults of the fields."""

    class Policy(models.TextChoices):
        FIRST_COME = "first_come", _("First come: an earlier open registration by another partner keeps the customer")
        REVIEWER = "reviewer", _("The reviewer decides between conflicting registrations")

    class Counts(models.TextChoices):
        APPROVED = "approved", _("Approved registrations (approved, won, lost or expired later)")
        WON = "won", _("Won registrations only")

    conflict_policy = models.CharField(
        max_length=16, choices=Policy.choices, default=Policy.FIRST_COME, verbose_name=_("conflict policy")
    )
    default_protection_days = models.PositiveSmallIntegerField(
        default=30,
        help_text=_("Protection for a partner whose tier grants no deal protection."),
        verbose_name=_("default protection days"),
    )
    recently_won_days = models.PositiveSmallIntegerField(
        default=180,
        help_text=_("A won registration conflicts with new ones for the same customer this long."),
        verbose_name=_("recently won days"),
    )
    scorecard_counts = models.CharField(
        max_length=16, choices=Counts.choices, default=Counts.APPROVED, verbose_name=_("scorecard counts")
    )
    reminder_days = models.PositiveSmallIntegerField(
        default=14,
        help_text=_("Remind the partner this many days before protection lapses."),
        verbose_name=_("reminder days"),
    )

    class Meta:
        verbose_name = _("deal settings")
        verbose_name_plural = _("deal settings")
        constraints = [models.UniqueConstraint(fields=["tenant"], name="deal_settings_one_per_tenant")]

    def __str__(self) -> str:
        return "Deal registration settings"


class DealRegistration(TenantOwnedModel):
    class Status(models.TextChoices):
        # A context of their own: in Spanish a registration is "una oportunidad", and the words agree with it.
        DRAFT = "draft", pgettext_lazy("deal status", "Draft")
        SUBMITTED = "submitted", pgettext_lazy("deal status", "Submitted")
        APPROVED = "approved", pgettext_lazy("deal status", "Approved")
        REJECTED = "rejected", pgettext_lazy("deal status", "Rejected")
        WON = "won", pgettext_lazy("deal status", "Won")
        LOST = "lost", pgettext_lazy("deal status", "Lost")
        EXPIRED = "expired", pgettext_lazy("deal status", "Expired")

    class Source(models.TextChoices):
        PORTAL = "portal", _("Portal")
        API = "api", _("API")
        CSV = "csv", _("CSV import")
        ADMIN = "admin", _("Admin")

    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="deals", verbose_name=_("partner")
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("registered by"),
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PORTAL, verbose_name=_("source"))
    external_id = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("The opportunity's id in the partner's or vendor's CRM."),
        verbose_name=_("external ID"),
    )
    customer_name = models.CharField(max_length=200, verbose_name=_("customer name"))
    customer_key = models.CharField(
        max_length=200, editable=False, help_text=_("The name normalised for matching."), verbose_name=_("customer key")
    )
    customer_domain = models.CharField(max_length=253, blank=True, verbose_name=_("customer domain"))
    customer_country = CountryField(blank=True, verbose_name=_("customer country"))
    customer_tax_id = models.CharField(
        max_length=50,
        blank=True,
        validators=[RegexValidator(r"^[A-Z0-9]*$", _("Letters and digits only."))],
        verbose_name=_("customer tax ID"),
    )
    contact_name = models.CharField(max_length=200, blank=True, verbose_name=_("contact name"))
    contact_email = models.EmailField(blank=True, verbose_name=_("contact email"))
    products = models.CharField(
        max_length=500, blank=True, help_text=_("Products or categories, as the CRM says."), verbose_name=_("products")
    )
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, validators=[MinValueValidator(0)], verbose_name=_("amount")
    )
    currency = models.CharField(max_length=3, validators=[RegexValidator(r"^[A-Z]{3}$")], verbose_name=_("currency"))
    expected_close = models.DateField(verbose_name=_("expected close"))
    notes = models.TextField(blank=True, verbose_name=_("notes"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, verbose_name=_("status"))
    submitted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("submitted at"))
    approved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("approved at"))
    protection_days = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("protection days"))
    protected_until = models.DateField(
        null=True, blank=True, help_text=_("Last day of protection (inclusive)."), verbose_name=_("protected until")
    )
    extended_at = models.DateTimeField(null=True, blank=True, verbose_name=_("extended at"))
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))
    sale_activity = models.OneToOneField(
        "partners.Activity",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deal",
        editable=False,
        verbose_name=_("sale activity"),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("deal registration")
        verbose_name_plural = _("deal registrations")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "partner", "external_id"],
                condition=~Q(external_id=""),
                name="deal_external_id_unique_per_partner",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="deal_amount_not_negative"),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(protected_until__isnull=False),
                name="deal_approved_is_protected",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "submitted_at"], name="deal_queue"),
            models.Index(fields=["tenant", "partner", "status"], name="deal_partner_status"),
            models.Index(fields=["tenant", "customer_key"], name="deal_customer_key"),
            models.Index(
                fields=["tenant", "customer_domain"], condition=~Q(customer_domain=""), name="deal_customer_domain"
            ),
            models.Index(
                fields=["tenant", "customer_tax_id"], condition=~Q(customer_tax_id=""), name="deal_customer_tax_id"
            ),
            models.Index(
                fields=["tenant", "protected_until"], condition=Q(status="approved"), name="deal_protection_lapse"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} · {self.customer_name}"

    @property
    def reference(self) -> str:
        return f"DR-{self.pk or 0:06d}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.SUBMITTED, self.Status.APPROVED)


class DealEvent(StatusChange):
    """Who moved a registration, when and why (an extension is a move from approved to approved)."""

    deal = models.ForeignKey(DealRegistration, on_delete=models.CASCADE, related_name="events", verbose_name=_("deal"))
    from_status = models.CharField(
        max_length=16, choices=DealRegistration.Status.choices, blank=True, verbose_name=_("from status")
    )
    to_status = models.CharField(max_length=16, choices=DealRegistration.Status.choices, verbose_name=_("to status"))

    class Meta:
        verbose_name = _("deal event")
        verbose_name_plural = _("deal events")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["tenant", "deal"], name="deal_event_deal")]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.from_status or '—'} → {self.to_status}"


class DealConflict(TenantOwnedModel):
    """A registration found, on submission, to cover the same customer as an earlier open or recently won one."""

    class Rule(models.TextChoices):
        TAX_ID = "tax_id", _("Same tax id")
        DOMAIN = "domain", _("Same web domain")
        NAME = "name", _("Same name once normalised")
        SIMILAR_NAME = "similar_name", _("Similar name")

    deal = models.ForeignKey(
        DealRegistration, on_delete=models.CASCADE, related_name="conflicts", verbose_name=_("deal")
    )
    other = models.ForeignKey(DealRegistration, on_delete=models.CASCADE, related_name="+", verbose_name=_("other"))
    rule = models.CharField(max_length=16, choices=Rule.choices, verbose_name=_("rule"))
    score = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        help_text=_("Similarity from 0 to 1."),
        verbose_name=pgettext_lazy("model field", "score"),
    )
    is_same_partner = models.BooleanField(default=False, verbose_name=_("is same partner"))
    detected_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("detected at"))

    class Meta:
        verbose_name = _("deal conflict")
        verbose_name_plural = _("deal conflicts")
        ordering = ["-score", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "deal", "other"], name="deal_conflict_once_per_pair"),
            models.CheckConstraint(condition=Q(score__gte=0) & Q(score__lte=1), name="deal_conflict_score_range"),
        ]

    def __str__(self) -> str:
        return f"{self.deal_id} ~ {self.other_id} ({self.rule}, {self.score})"


class DealAttachment(TenantOwnedModel):
    """A file backing a registration (the customer's request, a quote, a bill of materials), scanned by content
    (loyalty.uploads.EVIDENCE: PDF, PNG, JPEG) like claim evidence and stored under a random name."""

    deal = models.ForeignKey(
        DealRegistration, on_delete=models.CASCADE, related_name="attachments", verbose_name=_("deal")
    )
    file = models.FileField(upload_to=evidence_path, max_length=200, verbose_name=_("file"))
    content_type = models.CharField(max_length=100, verbose_name=_("content type"))
    original_name = models.CharField(max_length=200, verbose_name=_("original name"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("uploaded at"))

    class Meta:
        verbose_name = _("deal attachment")
        verbose_name_plural = _("deal attachments")
        ordering = ["pk"]
        indexes = [models.Index(fields=["tenant", "deal"], name="deal_attachment_deal")]

    def __str__(self) -> str:
        return self.original_name
