"""Tenants, their domains, global users, memberships with roles, invitations, and the tenant-owned base model."""

import zoneinfo
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, router
from django.db.models.constants import LOOKUP_SEP
from django.db.models.signals import class_prepared
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager
from django_scopes.exceptions import ScopeError

from loyalty.reasons import CodedReason, reason_shown
from loyalty.tenancy.caching import TenancyCachedManager, TenancyCachedModel, generation_bump, saved_fields

_current_tenant: ContextVar["Tenant | None"] = ContextVar("tierline_current_tenant", default=None)


class TenantNotActiveError(ScopeError):
    """Tenant-owned data was touched with no tenant active: the call fails closed."""


class CrossTenantError(ScopeError):
    """An object of one tenant was written while another tenant is active."""


def current_tenant() -> "Tenant":
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantNotActiveError("No tenant is active; enter tenant_context(tenant) first.")
    return tenant


def current_tenant_or_none() -> "Tenant | None":
    return _current_tenant.get()


# A slug is one DNS label: it becomes <slug>.<BASE_DOMAIN>.
slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", _("Use lowercase letters, digits and inner hyphens (a DNS label).")
)
RESERVED_SLUGS = frozenset({"www", "admin", "api", "app", "static", "media", "mail", "platform", "status"})


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


def validate_slug_not_reserved(value: str) -> None:
    if value in RESERVED_SLUGS:
        raise ValidationError(_("%(value)s is reserved."), params={"value": value})


ACCOUNT_CODE = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9.:/_-]{0,19}$",
    _("Use up to 20 letters, digits and . : / _ -, starting with a letter or digit."),
)


class Tenant(TenancyCachedModel):
    """A vendor running a loyalty program, with its program-wide settings (cached by host: tenancy/caching.py)."""

    class PointsExpiry(models.TextChoices):
        NEVER = "never", _("Points never expire")
        MONTHS_AFTER_EARNING = "months", _("A number of months after they are earned")
        END_OF_FOLLOWING_YEAR = "following_year", _("At the end of the year after they are earned")

    slug = models.CharField(
        max_length=63, unique=True, validators=[slug_validator, validate_slug_not_reserved], verbose_name=_("slug")
    )
    name = models.CharField(max_length=200, verbose_name=_("name"))
    currency = models.CharField(
        max_length=3, default="USD", validators=[RegexValidator(r"^[A-Z]{3}$")], verbose_name=_("currency")
    )
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_timezone], verbose_name=_("time zone")
    )
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en", verbose_name=_("language"))
    brand_colour = models.CharField(
        max_length=7,
        default="#1f5fbf",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Use #RRGGBB."))],
        verbose_name=_("brand colour"),
    )
    logo = models.ImageField(upload_to="tenants/logos/", blank=True, verbose_name=_("logo"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    objects = TenancyCachedManager()

    point_value = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        default=Decimal("0.01"),
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("What one point is worth in the program's currency, for liability reporting."),
        verbose_name=_("point value"),
    )
    points_expiry = models.CharField(
        max_length=16,
        choices=PointsExpiry.choices,
        default=PointsExpiry.MONTHS_AFTER_EARNING,
        verbose_name=_("points expiry"),
    )
    points_expiry_months = models.PositiveSmallIntegerField(
        default=24, validators=[MinValueValidator(1)], verbose_name=_("points expiry months")
    )
    claim_review_threshold = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Claims above this amount always wait for review. Empty: no threshold."),
        verbose_name=_("claim review threshold"),
    )
    monthly_redemption_budget = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_(
            "Value of points redeemed per month, in the program's currency, beyond which redemptions wait "
            "for approval. Empty: no budget."
        ),
        verbose_name=_("monthly redemption budget"),
    )
    activity_max_age_days = models.PositiveSmallIntegerField(
        default=730,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_(
            "The oldest activity or claim the program accepts, in days before today (at least the qualification "
            "window). Older ones are refused, through every channel."
        ),
        verbose_name=_("activity max age days"),
    )
    activity_max_amount = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=Decimal("10000000.00"),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("The largest amount one activity or claim may carry, in the program's currency (a typo guard)."),
        verbose_name=_("activity max amount"),
    )
    adjustment_approval_points = models.PositiveIntegerField(
        default=10_000,
        validators=[MinValueValidator(1), MaxValueValidator(10**9)],
        help_text=_(
            "Manual adjustments of more points than this (added or deducted) wait for a second program manager or "
            "owner to approve them."
        ),
        verbose_name=_("adjustment approval points"),
    )
    claims_auto_approve = models.BooleanField(
        default=False,
        help_text=_("Approve claims at once when they are under the threshold and resemble no earlier claim."),
        verbose_name=_("claims auto approve"),
    )
    journal_expense_account = models.CharField(
        max_length=20,
        default="6100",
        validators=[ACCOUNT_CODE],
        help_text=_("Debited when points are issued: the incentive expense (or contra-revenue) account."),
        verbose_name=_("journal expense account"),
    )
    journal_liability_account = models.CharField(
        max_length=20,
        default="2450",
        validators=[ACCOUNT_CODE],
        help_text=_("Credited when points are issued, debited when they are redeemed or expire: the points liability."),
        verbose_name=_("journal liability account"),
    )
    journal_redemption_account = models.CharField(
        max_length=20,
        default="2100",
        validators=[ACCOUNT_CODE],
        help_text=_("Credited when points are redeemed: what the rewards cost to fulfil (payable or cost of rewards)."),
        verbose_name=_("journal redemption account"),
    )
    journal_breakage_account = models.CharField(
        max_length=20,
        default="4950",
        validators=[ACCOUNT_CODE],
        help_text=_("Credited when points expire unredeemed: breakage."),
        verbose_name=_("journal breakage account"),
    )
    applications_open = models.BooleanField(
        default=False,
        help_text=_("Companies may apply to join on the public application page; staff review each application."),
        verbose_name=_("applications open"),
    )

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Domain(TenancyCachedModel):
    """A custom host name that serves a tenant, besides <slug>.<BASE_DOMAIN>."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="domains", verbose_name=_("tenant"))
    domain = models.CharField(max_length=253, unique=True, verbose_name=_("domain"))

    objects = TenancyCachedManager()

    class Meta:
        verbose_name = _("domain")
        verbose_name_plural = _("domains")
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args, **kwargs) -> None:
        self.domain = self.domain.strip().lower().rstrip(".")
        super().save(*args, **kwargs)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> "User":
        if not email:
            raise ValueError("Users need an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra_fields)


# What `User.__str__` shows: a write to any of them reaches the cached pages that name members.
SHOWN_FIELDS = frozenset({"first_name", "last_name", "email"})


class User(AbstractUser):
    """A person, global to the platform: one email login across every program they belong to."""

    username = None
    email = models.EmailField(_("email address"), unique=True)
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("For the portal and emails; blank follows each program's language."),
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Saved; a change to how the user is shown (`SHOWN_FIELDS`) replaces the tenancy cache's entries, which
        show members by name (a partner's team on its dashboard), as a membership's write would."""
        update_fields = saved_fields(kwargs)
        super().save(*args, **kwargs)
        if update_fields is None or not SHOWN_FIELDS.isdisjoint(update_fields):
            generation_bump(using=kwargs.get("using") or router.db_for_write(type(self), instance=self))


def _constraint_field(constraint: models.BaseConstraint) -> str | None:
    """The one field (besides `tenant`) a constraint is about, or None when it spans several."""
    if isinstance(constraint, models.UniqueConstraint):
        names = set(constraint.fields)
    elif isinstance(constraint, models.CheckConstraint):
        names = {name.split(LOOKUP_SEP)[0] for name in constraint.condition.referenced_base_fields}
    else:
        return None
    names.discard("tenant")
    return names.pop() if len(names) == 1 else None


def tenant_key_in_composite() -> models.ForeignKey:
    """`TenantOwnedModel.tenant` for a model whose composite key (tenant, parent) → parent (tenant, id) stands in for
    the tenant's own foreign key (loyalty/tenancy/composite_keys.py): no database constraint of its own."""
    return models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        db_constraint=False,
        verbose_name=_("tenant"),
    )


class TenantOwnedModel(models.Model):
    """Base of every tenant-owned model.

    The default manager is scoped to the current tenant and raises when none is active, so a
    forgotten filter fails closed. `all_tenants` reads across tenants: platform jobs only.
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, related_name="+", editable=False, verbose_name=_("tenant")
    )

    objects = ScopedManager(tenant="tenant")
    all_tenants = models.Manager()  # noqa: DJ012 - a second manager, not a field

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        tenant = current_tenant()
        if self.tenant_id is None:
            self.tenant = tenant
        elif self.tenant_id != tenant.pk:
            raise CrossTenantError(f"{type(self).__name__} of tenant {self.tenant_id} saved while {tenant.pk} active.")
        self._check_related_tenants()
        super().save(*args, **kwargs)

    # --- Validation: every constraint leads with `tenant`, which no form edits (issue 17, item 1) ---------------
    # Django skips a constraint when one of its fields is excluded from validation, and a form excludes the fields
    # it does not show: `tenant` always. Unvalidated, a duplicate reached the database as an IntegrityError (a 500).
    # Here the tenant is filled in from the context and kept in, so a form's `full_clean` checks every unique and
    # check constraint, and the error lands on the one field the constraint is about when there is one.

    def _exclusions_with_tenant(self, exclude: Iterable[str] | None) -> set[str] | None:
        if not exclude or "tenant" not in exclude:
            return set(exclude) if exclude else exclude
        if self.tenant_id is None:
            tenant = current_tenant_or_none()
            if tenant is None:
                return set(exclude)
            self.tenant = tenant
        return set(exclude) - {"tenant"}

    def validate_unique(self, exclude: Iterable[str] | None = None) -> None:
        super().validate_unique(exclude=self._exclusions_with_tenant(exclude))

    def validate_constraints(self, exclude: Iterable[str] | None = None) -> None:
        exclude = self._exclusions_with_tenant(exclude)
        using = router.db_for_write(type(self), instance=self)
        errors: dict[str, list[ValidationError]] = {}
        for model_class, constraints in self.get_constraints():
            for constraint in constraints:
                try:
                    constraint.validate(model_class, self, exclude=exclude, using=using)
                except ValidationError as error:
                    errors.setdefault(_constraint_field(constraint) or NON_FIELD_ERRORS, []).append(error)
        if errors:
            raise ValidationError(errors)

    def unique_error_message(self, model_class: type[models.Model], unique_check: Sequence[str]) -> ValidationError:
        """Names the fields without `tenant`: "Partner type with this Code already exists."."""
        return super().unique_error_message(model_class, tuple(name for name in unique_check if name != "tenant"))

    def _check_related_tenants(self) -> None:
        """Refuse links to another tenant's rows (checked on related objects already loaded)."""
        for field in self._meta.concrete_fields:
            if not field.is_relation or not issubclass(field.related_model, TenantOwnedModel):
                continue
            related = field.get_cached_value(self, default=None)
            if related is not None and related.tenant_id != self.tenant_id:
                raise CrossTenantError(f"{type(self).__name__}.{field.name} points at another tenant's row.")


def lead_indexes_with_tenant(sender: type[models.Model], **kwargs: object) -> None:
    """Make every index of a tenant-owned table lead with `tenant_id` (Citus-ready, and what queries filter by).

    Django indexes each foreign key (and slug) on its own column; on a tenant-owned model that index becomes
    (tenant, column), partial on `column IS NOT NULL` for a nullable column (most rows leave optional links
    empty), or is dropped when an index or constraint of the model already starts with those two. The index on
    `tenant_id` alone goes too when a full index or constraint starts with it.
    """
    opts = sender._meta
    if not issubclass(sender, TenantOwnedModel) or opts.abstract or opts.proxy:
        return

    def full_indexes() -> list[list[str]]:
        """Column lists of the model's indexes and unique constraints that cover every row."""
        found = [list(index.fields) for index in opts.indexes if index.condition is None]
        found += [list(c.fields) for c in opts.constraints if getattr(c, "fields", ()) and c.condition is None]
        return found + [list(fields) for fields in opts.unique_together]

    covered = {tuple(fields[:2]) for fields in full_indexes()}
    for field in opts.local_fields:
        if field.name == "tenant" or field.unique or not field.db_index:
            continue
        field.db_index = False
        if ("tenant", field.name) not in covered:
            index = models.Index(fields=["tenant", field.name])
            index.set_name_with_model(sender)
            if field.null:
                condition = models.Q(**{f"{field.name}__isnull": False})
                index = models.Index(fields=index.fields, name=index.name, condition=condition)
            opts.indexes.append(index)
    opts.original_attrs["indexes"] = opts.indexes  # what migrations read
    if any(fields[0] == "tenant" for fields in full_indexes()):
        opts.get_field("tenant").db_index = False


class_prepared.connect(lead_indexes_with_tenant)


class StatusChange(TenantOwnedModel):
    """Base of status histories: who moved a row from one status to another, when and why.

    Subclasses add the foreign key to their row and `from_status`/`to_status` with their own choices.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    reason = models.TextField(blank=True, verbose_name=_("reason"))
    # A system reason's code and parameters (loyalty.reasons), so pages say it in the reader's language; empty
    # when a person typed the reason. The database defaults serve rows inserted by columns (bulk ingestion).
    reason_code = models.CharField(
        max_length=40, blank=True, default="", db_default="", editable=False, verbose_name=_("reason code")
    )
    reason_params = models.JSONField(null=True, blank=True, editable=False, verbose_name=_("reason params"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if isinstance(self.reason, CodedReason):
            self.reason_code, self.reason_params = self.reason.code, self.reason.params
        super().save(*args, **kwargs)

    @property
    def reason_shown(self) -> str:
        """The reason in the reader's language (a system reason), or as the person typed it."""
        return reason_shown(self.reason, self.reason_code, self.reason_params)


class Role(models.TextChoices):
    PARTNER_USER = "partner_user", _("Partner user")
    PARTNER_ADMIN = "partner_admin", _("Partner admin")
    ACCOUNT_MANAGER = "account_manager", _("Account manager")
    PROGRAM_MANAGER = "program_manager", _("Program manager")
    OWNER = "owner", _("Owner")
    FINANCE = "finance", _("Finance")


PARTNER_ROLES = frozenset({Role.PARTNER_USER, Role.PARTNER_ADMIN})
STAFF_ROLES = frozenset({Role.ACCOUNT_MANAGER, Role.PROGRAM_MANAGER, Role.OWNER})
PROGRAM_ROLES = frozenset({Role.PROGRAM_MANAGER, Role.OWNER})
# Finance reads the points liability and its journal, nothing else: no partner, no admin, no review.
FINANCE_ROLES = frozenset({Role.FINANCE, Role.PROGRAM_MANAGER, Role.OWNER})


class Membership(TenancyCachedModel, TenantOwnedModel):
    """A user's role in one tenant; partner roles also name the partner they act for (cached: tenancy/caching.py)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    role = models.CharField(max_length=32, choices=Role.choices, verbose_name=_("role"))
    partner = models.ForeignKey(
        "partners.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("partner"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    objects = ScopedManager(tenant="tenant", _manager_class=TenancyCachedManager)
    all_tenants = TenancyCachedManager()  # noqa: DJ012 - a second manager, not a field

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["user__email"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_one_per_user_and_tenant"),
            models.CheckConstraint(
                condition=(
                    models.Q(role__in=sorted(PARTNER_ROLES), partner__isnull=False)
                    | (~models.Q(role__in=sorted(PARTNER_ROLES)) & models.Q(partner__isnull=True))
                ),
                name="membership_partner_iff_partner_role",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "partner"], name="membership_tenant_partner")]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("has_totp", None)  # security state is never cached (tenancy/caching.py)
        return state

    @property
    def is_program_staff(self) -> bool:
        return self.role in PROGRAM_ROLES

    @cached_property
    def has_totp(self) -> bool:
        """Whether the member activated TOTP: read live on first use (a cached membership never carries it)."""
        from allauth.mfa.models import Authenticator  # noqa: PLC0415 - allauth's models load after this app's

        return Authenticator.objects.filter(user_id=self.user_id, type=Authenticator.Type.TOTP).exists()


class Invitation(TenantOwnedModel):
    """An invitation by email to join a tenant with a role; the emailed link carries a signed, expiring token."""

    email = models.EmailField(verbose_name=_("email"))
    role = models.CharField(max_length=32, choices=Role.choices, verbose_name=_("role"))
    partner = models.ForeignKey(
        "partners.Partner",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="invitations",
        verbose_name=_("partner"),
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("invited by"),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    expires_at = models.DateTimeField(editable=False, verbose_name=_("expires at"))
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("accepted at"))
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("accepted by"),
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("revoked at"))

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "email"], name="invitation_tenant_email")]

    def __str__(self) -> str:
        return f"{self.email} as {self.get_role_display()}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class ProgramSettings(Tenant):
    """The current tenant's own settings, as program staff edit them in the tenant admin."""

    class Meta:
        proxy = True
        verbose_name = _("program settings")
        verbose_name_plural = _("program settings")


class AuditEntry(TenantOwnedModel):
    """One change or security event in a tenant: who, what, from where, and values before and after. Never edited."""

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        CHANGE = "change", _("Changed")
        DELETE = "delete", _("Deleted")
        ACTION = "action", _("Action")

    class Category(models.TextChoices):
        """What kind of event: every category but `change` is security-relevant and shows in the security log."""

        CHANGE = "change", _("Program change")
        SIGN_IN = "sign_in", _("Sign-in and sign-out")
        CREDENTIALS = "credentials", _("Password and two-factor")
        ROLES = "roles", _("Roles and members")
        API_KEYS = "api_keys", _("API keys")
        POINTS = "points", _("Points adjustments")
        TIERS = "tiers", _("Tier overrides")
        WEBHOOKS = "webhooks", _("Webhook endpoints and secrets")
        SSO = "sso", _("Single sign-on")

    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    category = models.CharField(
        max_length=16, choices=Category.choices, default=Category.CHANGE, verbose_name=_("category")
    )
    action = models.CharField(max_length=16, choices=Action.choices, verbose_name=_("action"))
    target_type = models.CharField(
        max_length=100, blank=True, help_text=_("app_label.model of the changed row."), verbose_name=_("target type")
    )
    target_id = models.CharField(max_length=64, blank=True, verbose_name=_("target ID"))
    target_repr = models.CharField(max_length=200, blank=True, verbose_name=_("target repr"))
    summary = models.CharField(max_length=300, blank=True, verbose_name=_("summary"))
    # {"fields": {name: {"before": …, "after": …}}, "inlines": [{"model", "object", "action", "fields"}]}
    changes = models.JSONField(default=dict, blank=True, verbose_name=_("changes"))
    # Where a signed-in (or failed) request came from; empty for changes made by tasks and commands.
    ip_address = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("IP address"))
    user_agent = models.CharField(max_length=300, blank=True, verbose_name=_("user agent"))

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="audit_tenant_time"),
            models.Index(fields=["tenant", "target_type", "target_id"], name="audit_tenant_target"),
            models.Index(fields=["tenant", "category", "created_at"], name="audit_tenant_category_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.target_repr or self.summary}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValidationError(_("Audit entries cannot be changed."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs) -> tuple[int, dict[str, int]]:
        raise ValidationError(_("Audit entries cannot be deleted."))


SECURITY_CATEGORIES = [category for category in AuditEntry.Category if category != AuditEntry.Category.CHANGE]


class SecurityEvent(AuditEntry):
    """The audit log's security-relevant entries (every category but program changes), for the security log."""

    class Meta:
        proxy = True
        verbose_name = _("security event")
        verbose_name_plural = _("security log")


# A signed-in session is bound to the host it was opened on: the tenant's id, or "platform" for the bare domain.
SESSION_HOST_KEY = "tierline_host"
# How many programs the person belongs to, counted at sign-in: the header offers "Switch program" from two on.
SESSION_PROGRAM_COUNT_KEY = "tierline_program_count"
# The tenancy cache's generation that count was read in: counted again once it moved (context_processors.py).
SESSION_PROGRAM_GENERATION_KEY = "tierline_program_count_generation"


def session_host(request: object) -> int | str:
    tenant = getattr(request, "tenant", None)
    return "platform" if tenant is None else tenant.pk


class SignInHandoff(models.Model):
    """A one-time pass from the platform's "My programs" into one program's host, for one person.

    Platform-level (sessions are per host and no cookie is shared across tenants): the signed token names this row,
    which is spent on first use; the target host still applies its own two-factor step and membership check.
    """

    nonce = models.CharField(max_length=43, unique=True, verbose_name=_("nonce"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", verbose_name=_("tenant"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("used at"))

    class Meta:
        verbose_name = _("sign-in handoff")
        verbose_name_plural = _("sign-in handoffs")

    def __str__(self) -> str:
        return f"{self.user} → {self.tenant}"
