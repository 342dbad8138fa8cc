"""Tier models (versioned scorecards), their tiers, pathways, criteria and gates; evaluations and tier state."""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from loyalty.tenancy.models import TenantOwnedModel
from loyalty.translations import Translatable
from partners.models import ActivityKind


class Metric(models.TextChoices):
    """What a criterion or gate measures; the computation of each lives in `tiers.metrics`."""

    REVENUE = "revenue", _("Revenue in the window")
    REVENUE_GROWTH = "revenue_growth", _("Revenue growth vs the previous window (%)")
    ACTIVITY_COUNT = "activity_count", _("Approved activities of a kind in the window")
    DEAL_REGISTRATIONS = "deal_registrations", _("Deal registrations in the window")
    VALID_CERTIFICATIONS = "valid_certifications", _("Distinct certifications valid on the evaluation date")
    POINTS_EARNED = "points_earned", _("Points earned in the window")


class TierModel(TenantOwnedModel):
    """A version of the program's scorecard. Drafts are edited and simulated; publishing makes one active, or
    scheduled when its effective date is ahead (it becomes active on that date, nightly)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")

    class Window(models.TextChoices):
        ROLLING_12_MONTHS = "rolling_12_months", _("Rolling 12 months")
        CALENDAR_YEAR = "calendar_year", _("Calendar year to date")
        FISCAL_YEAR = "fiscal_year", _("Fiscal year to date")
        QUARTER = "quarter", _("Quarter to date")

    class PublicationDowngrades(models.TextChoices):
        """What publishing does to partners the new model would place lower than the tier they hold."""

        GRACE = "grace", _("Apply the model's grace period, then its downgrade policy")
        PROTECT = "protect", _("Protect current tiers until the end of the model's first qualification window")

    class Downgrade(models.TextChoices):
        ONE_STEP = "one_step", _("At most one tier down per evaluation, after the grace period")
        TO_QUALIFIED = "to_qualified", _("Straight to the qualified tier, after the grace period")
        WINDOW_END = "window_end", _("Only at the end of the qualification window")

    name = models.CharField(max_length=200, verbose_name=_("name"))
    version = models.PositiveIntegerField(default=1, verbose_name=_("version"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, verbose_name=_("status"))
    effective_from = models.DateField(default=timezone.localdate, verbose_name=_("effective from"))
    window = models.CharField(
        max_length=32, choices=Window.choices, default=Window.ROLLING_12_MONTHS, verbose_name=_("window")
    )
    fiscal_year_start_month = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(12)], verbose_name=_("fiscal year start month")
    )
    downgrade = models.CharField(
        max_length=16, choices=Downgrade.choices, default=Downgrade.ONE_STEP, verbose_name=_("downgrade")
    )
    grace_days = models.PositiveIntegerField(
        default=30, help_text=_("How long a partner keeps a tier it no longer meets."), verbose_name=_("grace days")
    )
    publication_downgrades = models.CharField(
        max_length=16,
        choices=PublicationDowngrades.choices,
        default=PublicationDowngrades.GRACE,
        help_text=_("Partners the new model would place lower than the tier they hold when it takes effect."),
        verbose_name=_("publication downgrades"),
    )
    published_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("published at"))
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("published by"),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    # The model a designer draft started from: the designer reopens that draft rather than copying twice.
    copied_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("copied from"),
    )
    # A draft's saves, counted: a designer page saves only onto the revision it was opened at, so a second tab or
    # a colleague's save is never overwritten unseen (`tiers.services.tier_model_draft_save`). The fingerprint is
    # of the last save's typed content: the same save sent again (a double click, back and resubmit) is not a clash.
    revision = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("revision"))
    revision_fingerprint = models.CharField(
        max_length=64, blank=True, default="", editable=False, verbose_name=_("revision fingerprint")
    )

    class Meta:
        verbose_name = _("tier model")
        verbose_name_plural = _("tier models")
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(status="active"), name="tier_model_one_active_per_tenant"
            ),
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(status="scheduled"), name="tier_model_one_scheduled_per_tenant"
            ),
            models.UniqueConstraint(fields=["tenant", "version"], name="tier_model_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.get_status_display()})"


class Tier(Translatable, TenantOwnedModel):
    TRANSLATED_FIELDS = ("name",)

    model = models.ForeignKey(TierModel, on_delete=models.CASCADE, related_name="tiers", verbose_name=_("model"))
    name = models.CharField(max_length=100, verbose_name=_("name"))
    rank = models.PositiveSmallIntegerField(
        help_text=_("1 is the entry tier; higher ranks are better."), verbose_name=_("rank")
    )
    minimum_score = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        verbose_name=_("minimum score"),
    )
    point_multiplier = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal(0))],
        verbose_name=_("point multiplier"),
    )
    colour = models.CharField(max_length=7, default="#6b7280", verbose_name=_("colour"))

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["model", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "model", "rank"], name="tier_rank_unique_per_model"),
            models.CheckConstraint(
                condition=Q(minimum_score__gte=0) & Q(minimum_score__lte=100), name="tier_minimum_score_range"
            ),
        ]

    def __str__(self) -> str:
        return self.i18n.name


class BenefitKind(models.TextChoices):
    """What a tier's benefit gives; services read these kinds and values, never the labels."""

    MDF_ALLOCATION = "mdf_allocation", _("Market development funds")
    REBATE_RATE = "rebate_rate", _("Rebate rate")
    DISCOUNT_RATE = "discount_rate", _("Discount rate")
    DEAL_PROTECTION_DAYS = "deal_protection_days", _("Deal protection")
    SUPPORT_LEVEL = "support_level", _("Support level")
    EARLY_ACCESS = "early_access", _("Early access")
    TEXT = "text", _("Other benefit")


# What each kind's value means: an amount in a currency, a percentage, a number of days, or nothing (the text says it).
BENEFIT_VALUE_UNITS = {
    BenefitKind.MDF_ALLOCATION: "amount",
    BenefitKind.REBATE_RATE: "percent",
    BenefitKind.DISCOUNT_RATE: "percent",
    BenefitKind.DEAL_PROTECTION_DAYS: "days",
}


class TierBenefit(Translatable, TenantOwnedModel):
    """One typed entitlement of a tier ("Gold: 3 % rebate on approved sales"), versioned with its tier model."""

    TRANSLATED_FIELDS = ("text",)

    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="benefits", verbose_name=_("tier"))
    kind = models.CharField(
        max_length=32, choices=BenefitKind.choices, default=BenefitKind.TEXT, verbose_name=_("kind")
    )
    value = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("An amount for funds, a percentage for rates, a number of days for deal protection."),
        verbose_name=_("value"),
    )
    currency = models.CharField(
        max_length=3, blank=True, help_text=_("For fund allocations: ISO 4217 code."), verbose_name=_("currency")
    )
    text = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("What the partner reads, e.g. the support level."),
        verbose_name=_("text"),
    )
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))

    class Meta:
        verbose_name = _("tier benefit")
        verbose_name_plural = _("tier benefits")
        ordering = ["tier", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(value__isnull=True) | Q(value__gte=0), name="tier_benefit_value_positive"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["rebate_rate", "discount_rate"]) | Q(value__lte=100),
                name="tier_benefit_rate_at_most_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.i18n.text or self.value}"

    def clean(self) -> None:
        unit = BENEFIT_VALUE_UNITS.get(self.kind)
        if unit and self.value is None:
            raise ValidationError({"value": _("This kind of benefit needs a value.")})
        if unit == "days" and self.value is not None and self.value != self.value.to_integral_value():
            raise ValidationError({"value": _("Deal protection is a whole number of days.")})
        if unit == "amount" and len(self.currency) != 3:
            raise ValidationError({"currency": _("Give the currency of the allocation (e.g. USD).")})
        if self.kind == BenefitKind.TEXT and not self.text.strip():  # support and early access have default words
            raise ValidationError({"text": _("Say what the benefit is.")})


class MetricSpec(models.Model):
    """A metric with its parameters: the activity kind and code for counts."""

    metric = models.CharField(max_length=32, choices=Metric.choices, verbose_name=_("metric"))
    activity_kind = models.CharField(
        max_length=32, choices=ActivityKind.choices, blank=True, verbose_name=_("activity kind")
    )
    code = models.CharField(max_length=100, blank=True, verbose_name=_("code"))

    class Meta:
        abstract = True

    @property
    def spec(self) -> tuple[str, str, str]:
        return (self.metric, self.activity_kind, self.code)


class TierGate(Translatable, TenantOwnedModel, MetricSpec):
    """A minimum the score alone cannot buy: "Gold needs 2 valid certifications"."""

    TRANSLATED_FIELDS = ("label",)

    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="gates", verbose_name=_("tier"))
    label = models.CharField(max_length=200, verbose_name=_("label"))
    minimum = models.DecimalField(
        max_digits=16, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))], verbose_name=_("minimum")
    )

    class Meta:
        verbose_name = _("tier gate")
        verbose_name_plural = _("tier gates")
        constraints = [models.CheckConstraint(condition=Q(minimum__gt=0), name="tier_gate_minimum_positive")]

    def __str__(self) -> str:
        return self.i18n.label


class Pathway(Translatable, TenantOwnedModel):
    """A track of criteria for some partner types; partners are scored on each track they may take."""

    TRANSLATED_FIELDS = ("name",)

    model = models.ForeignKey(TierModel, on_delete=models.CASCADE, related_name="pathways", verbose_name=_("model"))
    name = models.CharField(max_length=100, verbose_name=_("name"))
    partner_types = models.ManyToManyField(
        "partners.PartnerType",
        blank=True,
        related_name="+",
        help_text=_("Empty: every partner type."),
        verbose_name=_("partner types"),
    )

    class Meta:
        verbose_name = _("pathway")
        verbose_name_plural = _("pathways")
        ordering = ["model", "pk"]

    def __str__(self) -> str:
        return self.i18n.name


class Criterion(Translatable, TenantOwnedModel, MetricSpec):
    TRANSLATED_FIELDS = ("label",)

    pathway = models.ForeignKey(Pathway, on_delete=models.CASCADE, related_name="criteria", verbose_name=_("pathway"))
    label = models.CharField(max_length=200, verbose_name=_("label"))
    weight = models.DecimalField(
        max_digits=6, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))], verbose_name=_("weight")
    )
    target = models.DecimalField(
        max_digits=16, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))], verbose_name=_("target")
    )
    cap = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("Most credit as a multiple of the target (1 = no extra credit above the target)."),
        verbose_name=_("cap"),
    )

    class Meta:
        ordering = ["pathway", "pk"]
        verbose_name = _("criterion")
        verbose_name_plural = _("criteria")
        constraints = [
            models.CheckConstraint(condition=Q(target__gt=0), name="criterion_target_positive"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="criterion_weight_positive"),
            models.CheckConstraint(condition=Q(cap__gt=0), name="criterion_cap_positive"),
        ]

    def __str__(self) -> str:
        return self.i18n.label


class EvaluationRun(TenantOwnedModel):
    """One evaluation of every partner for a date; resumable and idempotent by (tenant, evaluated_on)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    evaluated_on = models.DateField(verbose_name=_("evaluated on"))
    tier_model = models.ForeignKey(
        TierModel, on_delete=models.PROTECT, related_name="runs", verbose_name=_("tier model")
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, verbose_name=_("status"))
    total = models.PositiveIntegerField(default=0, verbose_name=_("total"))
    done = models.PositiveIntegerField(default=0, verbose_name=_("done"))
    upgrades = models.PositiveIntegerField(default=0, verbose_name=_("upgrades"))
    downgrades = models.PositiveIntegerField(default=0, verbose_name=_("downgrades"))
    errors = models.JSONField(default=list, blank=True, verbose_name=_("errors"))
    started_at = models.DateTimeField(default=timezone.now, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    # When a chunk last committed (or the run was opened or its missing chunks re-sent): a running run that has
    # not moved for `EVALUATION_STALL_MINUTES` lost its messages with a worker, and the watchdog re-sends them.
    progressed_at = models.DateTimeField(default=timezone.now, verbose_name=_("progressed at"))

    class Meta:
        verbose_name = _("evaluation run")
        verbose_name_plural = _("evaluation runs")
        ordering = ["-evaluated_on"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "evaluated_on"], name="evaluation_run_one_per_day"),
        ]

    def __str__(self) -> str:
        return f"Evaluation of {self.evaluated_on}"


class PartnerScore(TenantOwnedModel):
    """A stored evaluation: score, tier, per-criterion breakdown, the gap to the next tier and the forecast."""

    class Source(models.TextChoices):
        NIGHTLY = "nightly", _("Nightly evaluation")
        INSTANT = "instant", _("Instant re-score")

    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, related_name="scores", verbose_name=_("partner")
    )
    evaluated_on = models.DateField(verbose_name=_("evaluated on"))
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.NIGHTLY, verbose_name=_("source"))
    # Scores are written by the hundred thousand each night and read by partner and day: the foreign keys
    # below need no index of their own (the composite indexes serve every query). Nor a database constraint:
    # they point at the scorecard the chunk has just loaded (and at its run), which PROTECT keeps from deletion;
    # checking 500,000 of them at each night's commits cost as much as writing the scores (bench/README.md),
    # and Citus could not keep them anyway (keys between distributed tables must include tenant_id).
    tier_model = models.ForeignKey(
        TierModel,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
        verbose_name=_("tier model"),
    )
    pathway = models.ForeignKey(
        Pathway,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
        verbose_name=_("pathway"),
    )
    score = models.DecimalField(max_digits=5, decimal_places=2, verbose_name=pgettext_lazy("model field", "score"))
    qualified_tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
        verbose_name=_("qualified tier"),
    )
    tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
        verbose_name=_("tier"),
    )
    breakdown = models.JSONField(default=list, verbose_name=_("breakdown"))
    gaps = models.JSONField(default=dict, verbose_name=_("gaps"))
    # When the partner reaches the next tier at its pace, and what leaving the window does (tiers/forecasts.py).
    forecast = models.JSONField(default=dict, blank=True, verbose_name=_("forecast"))
    run = models.ForeignKey(
        EvaluationRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="scores",
        db_index=False,
        db_constraint=False,
        verbose_name=_("run"),
    )
    computed_at = models.DateTimeField(default=timezone.now, verbose_name=_("computed at"))

    class Meta:
        verbose_name = _("partner score")
        verbose_name_plural = _("partner scores")
        ordering = ["-evaluated_on", "-computed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "partner", "evaluated_on", "source"], name="partner_score_one_per_day_and_source"
            ),
        ]
        # "Who is already scored today" needs no index of its own: the unique constraint answers it for a chunk
        # (its insert skips what is there) and partner_score_day_tier for a run's start.
        indexes = [models.Index(fields=["tenant", "evaluated_on", "tier"], name="partner_score_day_tier")]


def pin_holds(*, pinned_tier_id: int | None, pinned_until: date | None, on: date) -> bool:
    """A pin holds the tier it was given through its last day, whatever the evaluations (and models) say."""
    return pinned_tier_id is not None and pinned_until is not None and pinned_until >= on


class PartnerTier(TenantOwnedModel):
    """A partner's current tier, when it was reached, a pending downgrade, and any manual pin."""

    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, related_name="tier_states", verbose_name=_("partner")
    )
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="+", verbose_name=_("tier"))
    since = models.DateField(verbose_name=_("since"))
    below_since = models.DateField(
        null=True, blank=True, help_text=_("First evaluation that qualified lower."), verbose_name=_("below since")
    )
    pinned_tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("pinned tier")
    )
    pinned_until = models.DateField(null=True, blank=True, verbose_name=_("pinned until"))
    pin_reason = models.TextField(blank=True, verbose_name=_("pin reason"))
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("pinned by"),
    )

    class Meta:
        verbose_name = _("partner tier")
        verbose_name_plural = _("partner tiers")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "partner"], name="partner_tier_one_per_partner"),
            models.CheckConstraint(
                condition=Q(pinned_tier__isnull=True) | (Q(pinned_until__isnull=False) & ~Q(pin_reason="")),
                name="partner_tier_pin_has_end_and_reason",
            ),
        ]

    def is_pinned_on(self, day: date) -> bool:
        return pin_holds(pinned_tier_id=self.pinned_tier_id, pinned_until=self.pinned_until, on=day)


class TierChange(TenantOwnedModel):
    """Every move of a partner between tiers, with its cause."""

    class Cause(models.TextChoices):
        EVALUATION = "evaluation", _("Nightly evaluation")
        INSTANT = "instant", _("Instant re-score")
        PIN = "pin", _("Manual pin")
        MODEL_CHANGE = "model_change", _("New tier model")

    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, related_name="tier_changes", verbose_name=_("partner")
    )
    # As on PartnerScore: no database constraints on the tiers and the score, and no index on the tiers (only a
    # tier's deletion, refused by PROTECT, looks changes up by tier): a first night writes 100,000 changes.
    from_tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
        verbose_name=_("from tier"),
    )
    to_tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False, verbose_name=_("to tier")
    )
    cause = models.CharField(max_length=16, choices=Cause.choices, verbose_name=_("cause"))
    evaluated_on = models.DateField(verbose_name=_("evaluated on"))
    score = models.ForeignKey(
        PartnerScore,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        verbose_name=pgettext_lazy("model field", "score"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    note = models.TextField(blank=True, verbose_name=_("note"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-created_at"]
        constraints = [
            # A re-run of the same evaluation never records the same move twice.
            models.UniqueConstraint(
                fields=["tenant", "partner", "evaluated_on"],
                condition=Q(cause="evaluation"),
                name="tier_change_once_per_evaluation",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "partner", "created_at"], name="tier_change_partner_time"),
            # The tenant's latest move (the designer's what-if reads it on every change): without it PostgreSQL walks
            # the primary key backwards past other tenants' newer rows (bench/README.md, mend10).
            models.Index(fields=["tenant", "id"], name="tier_change_tenant_latest"),
        ]
