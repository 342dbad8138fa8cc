"""Earning rules: how many points an approved activity earns (DESIGN §4)."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.tenancy.models import TenantOwnedModel
from loyalty.translations import Translatable
from partners.models import ActivityKind


class EarningRule(Translatable, TenantOwnedModel):
    """How many points an approved activity earns; several rules may apply to one activity (base rate + SPIFF)."""

    TRANSLATED_FIELDS = ("name",)

    class Basis(models.TextChoices):
        PER_ACTIVITY = "per_activity", _("Points per activity")
        PER_CURRENCY_UNIT = "per_currency_unit", _("Points per unit of currency")
        PER_QUANTITY = "per_quantity", _("Points per unit of quantity")

    class CapPeriod(models.TextChoices):
        MONTH = "month", _("Per month")
        QUARTER = "quarter", _("Per quarter")
        YEAR = "year", _("Per year")
        EVER = "ever", _("Over the rule's life")

    name = models.CharField(max_length=200, verbose_name=_("name"))
    activity_kind = models.CharField(max_length=32, choices=ActivityKind.choices, verbose_name=_("activity kind"))
    partner_types = models.ManyToManyField(
        "partners.PartnerType",
        blank=True,
        related_name="+",
        help_text=_("Empty: every partner type."),
        verbose_name=_("partner types"),
    )
    product_categories = models.JSONField(
        default=list, blank=True, help_text=_("Empty: every category."), verbose_name=_("product categories")
    )
    minimum_amount = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, verbose_name=_("minimum amount")
    )
    code = models.CharField(
        max_length=100, blank=True, help_text=_("Only activities with this code. Empty: any."), verbose_name=_("code")
    )
    basis = models.CharField(max_length=32, choices=Basis.choices, verbose_name=_("basis"))
    rate = models.DecimalField(
        max_digits=12, decimal_places=4, validators=[MinValueValidator(Decimal("0.0001"))], verbose_name=_("rate")
    )
    applies_tier_multiplier = models.BooleanField(default=True, verbose_name=_("applies tier multiplier"))
    valid_from = models.DateField(
        null=True, blank=True, help_text=_("Campaigns and SPIFFs: first day."), verbose_name=_("valid from")
    )
    valid_until = models.DateField(
        null=True, blank=True, help_text=_("Campaigns and SPIFFs: last day."), verbose_name=_("valid until")
    )
    cap_points = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Most points per partner per period."), verbose_name=_("cap points")
    )
    cap_period = models.CharField(
        max_length=16, choices=CapPeriod.choices, default=CapPeriod.YEAR, verbose_name=_("cap period")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        db_table = "ledger_earningrule"  # the table predates this app (moved from the ledger, state only)
        ordering = ["activity_kind", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(rate__gt=0), name="earning_rule_rate_positive"),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_until__isnull=True)
                | Q(valid_until__gte=F("valid_from")),
                name="earning_rule_window_ordered",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "activity_kind", "is_active"], name="earning_rule_kind")]

    def __str__(self) -> str:
        return self.i18n.name

    def clean(self) -> None:
        """Categories are a list of names; a blank field means every category."""
        super().clean()
        if self.product_categories in (None, ""):
            self.product_categories = []
        if not isinstance(self.product_categories, list) or not all(
            isinstance(name, str) for name in self.product_categories
        ):
            raise ValidationError(
                {
                    "product_categories": _(
                        'Give a list of category names, like ["hardware", "cloud"], or leave it empty.'
                    )
                }
            )
