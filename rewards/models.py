"""The reward catalog, gift-card code pools, and redemptions with their status history."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.tenancy.models import StatusChange, TenantOwnedModel
from loyalty.translations import Translatable


class Reward(Translatable, TenantOwnedModel):
    TRANSLATED_FIELDS = ("name", "description")

    class Kind(models.TextChoices):
        GIFT_CARD = "gift_card", _("Gift card")
        MERCHANDISE = "merchandise", _("Merchandise")
        TRAVEL = "travel", _("Travel")
        MDF = "mdf", _("Marketing development funds")
        REBATE_CREDIT = "rebate_credit", _("Rebate credit")
        TRAINING = "training", _("Training")
        EXPERIENCE = "experience", _("Experience")

    class Fulfilment(models.TextChoices):
        MANUAL = "manual", _("Shipped or arranged by the program team")
        CODE_POOL = "code_pool", _("A code from a pre-loaded pool, shown at once")
        CREDIT_NOTE = "credit_note", _("A credit note for rebates and MDF")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        HIDDEN = "hidden", _("Hidden from the catalog")
        RETIRED = "retired", _("Retired")

    class LimitPeriod(models.TextChoices):
        MONTH = "month", _("Per month")
        QUARTER = "quarter", _("Per quarter")
        YEAR = "year", _("Per year")
        EVER = "ever", _("Ever")

    sku = models.CharField(max_length=64, verbose_name=_("SKU"))
    name = models.CharField(max_length=200, verbose_name=_("name"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    kind = models.CharField(max_length=32, choices=Kind.choices, verbose_name=_("kind"))
    image = models.ImageField(upload_to="rewards/", blank=True, verbose_name=_("image"))
    points_cost = models.PositiveIntegerField(validators=[MinValueValidator(1)], verbose_name=_("points cost"))
    minimum_tier_rank = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=_("Rank of the lowest tier that may redeem (1 = entry tier). Empty: anyone."),
        verbose_name=_("minimum tier rank"),
    )
    stock = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Empty: unlimited."), verbose_name=_("stock")
    )
    limit_per_partner = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("limit per partner"))
    limit_period = models.CharField(
        max_length=16, choices=LimitPeriod.choices, default=LimitPeriod.YEAR, verbose_name=_("limit period")
    )
    available_from = models.DateTimeField(null=True, blank=True, verbose_name=_("available from"))
    available_until = models.DateTimeField(null=True, blank=True, verbose_name=_("available until"))
    requires_approval = models.BooleanField(default=False, verbose_name=_("requires approval"))
    options = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("Choices the member picks one of when redeeming, comma-separated (sizes, colours). Empty: none."),
        verbose_name=_("options"),
    )
    monthly_cap_points = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Redemptions past this many points in a month wait for approval."),
        verbose_name=_("monthly cap points"),
    )
    fulfilment = models.CharField(
        max_length=16, choices=Fulfilment.choices, default=Fulfilment.MANUAL, verbose_name=_("fulfilment")
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, verbose_name=_("status"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["points_cost", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sku"], name="reward_sku_unique_per_tenant"),
            models.CheckConstraint(condition=Q(stock__isnull=True) | Q(stock__gte=0), name="reward_stock_not_negative"),
            models.CheckConstraint(condition=Q(points_cost__gt=0), name="reward_points_cost_positive"),
        ]
        indexes = [models.Index(fields=["tenant", "status", "points_cost"], name="reward_catalog")]

    def __str__(self) -> str:
        return self.i18n.name

    @property
    def option_list(self) -> list[str]:
        return [option.strip() for option in self.options.split(",") if option.strip()]

    @property
    def is_shipped(self) -> bool:
        return self.kind == self.Kind.MERCHANDISE


class GiftCode(TenantOwnedModel):
    """A pre-loaded code, encrypted at rest; assigned to one redemption and shown only to its partner."""

    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="codes", verbose_name=_("reward"))
    code_encrypted = models.TextField(editable=False, verbose_name=_("code encrypted"))
    code_digest = models.CharField(max_length=64, editable=False, verbose_name=_("code digest"))
    last_four = models.CharField(max_length=4, editable=False, verbose_name=_("last four"))
    redemption = models.ForeignKey(
        "rewards.Redemption",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="codes",
        editable=False,
        verbose_name=_("redemption"),
    )
    loaded_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("loaded at"))

    class Meta:
        verbose_name = _("gift code")
        verbose_name_plural = _("gift codes")
        indexes = [models.Index(fields=["tenant", "reward", "redemption"], name="gift_code_free")]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "reward", "code_digest"], name="gift_code_once_per_pool"),
        ]

    def __str__(self) -> str:
        return f"…{self.last_four}"


class Redemption(TenantOwnedModel):
    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved")
        FULFILLED = "fulfilled", _("Fulfilled")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")

    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("partner")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("reward"))
    quantity = models.PositiveIntegerField(default=1, verbose_name=_("quantity"))
    points = models.PositiveIntegerField(verbose_name=_("points"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED, verbose_name=_("status"))
    idempotency_key = models.CharField(max_length=200, verbose_name=_("idempotency key"))
    review_reasons = models.JSONField(default=list, blank=True, verbose_name=_("review reasons"))
    option = models.CharField(
        max_length=50, blank=True, help_text=_("The member's pick of the reward's options."), verbose_name=_("option")
    )
    shipping_address = models.TextField(
        blank=True, help_text=_("Where merchandise goes."), verbose_name=_("shipping address")
    )
    tracking = models.CharField(max_length=200, blank=True, verbose_name=_("tracking"))
    credit_note = models.CharField(max_length=64, blank=True, verbose_name=_("credit note"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="redemption_idempotency_key_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="redemption_quantity_positive"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "created_at"], name="redemption_queue"),
            models.Index(fields=["tenant", "partner", "reward", "created_at"], name="redemption_partner_limit"),
        ]

    def __str__(self) -> str:
        return f"{self.reward} × {self.quantity} for partner {self.partner_id}"


class RedemptionEvent(StatusChange):
    """Who moved a redemption between statuses, when and why."""

    redemption = models.ForeignKey(
        Redemption, on_delete=models.CASCADE, related_name="events", verbose_name=_("redemption")
    )
    from_status = models.CharField(
        max_length=16, choices=Redemption.Status.choices, blank=True, verbose_name=_("from status")
    )
    to_status = models.CharField(max_length=16, choices=Redemption.Status.choices, verbose_name=_("to status"))

    class Meta:
        verbose_name = _("redemption event")
        verbose_name_plural = _("redemption events")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["tenant", "redemption"], name="redemption_event_redemption")]
