"""API keys (stored hashed, scoped, revocable) and the idempotency records of API writes."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_scopes import ScopedManager

from loyalty.tenancy.caching import TenancyCachedManager, TenancyCachedModel
from loyalty.tenancy.models import TenantOwnedModel

# What each scope allows; the API's views name the scopes they need per method.
SCOPES = {
    "partners:read": _("Read partners and their tier status"),
    "partners:write": _("Create and update partners"),
    "activities:read": _("Read activities"),
    "activities:write": _("Record activities"),
    "activities:review": _("Approve and reject activities"),
    "ledger:read": _("Read ledger entries"),
    "ledger:write": _("Post manual point adjustments"),
    "rewards:read": _("Read the reward catalog"),
    "redemptions:read": _("Read redemptions"),
    "redemptions:write": _("Redeem rewards for partners and cancel redemptions"),
    "redemptions:review": _("Approve, fulfil and reject redemptions"),
    "tiers:read": _("Read tier models, tiers, criteria and pathways, and simulate them"),
    "tiers:write": _("Start tier model drafts and publish them"),
    "deals:read": _("Read deal registrations"),
    "deals:write": _("Register deals for partners and close them as won or lost"),
    "rates:read": _("Read the program's exchange rates"),
    "rates:write": _("Enter and correct exchange rates (activities of that currency and day are re-converted)"),
}


class ApiKey(TenancyCachedModel, TenantOwnedModel):
    """A tenant's API key. Only the SHA-256 of its secret is stored; the full key is shown once, at creation.

    The secret is 32 random bytes, so a fast hash is enough: there is nothing to brute-force.

    Read per request through the request cache (api/authentication.py), under a family of its own: every write
    (created, revoked, edited, deleted, its author deleted: api/apps.py) bumps it when it commits; the touch of
    `last_used_at` does not (authentication does not depend on it), so busy keys do not empty each other's entries.
    """

    cache_family = "api_keys"
    uncached_fields = frozenset({"last_used_at"})

    name = models.CharField(max_length=100, verbose_name=_("name"))
    prefix = models.CharField(
        max_length=16, editable=False, help_text=_("Identifies the key; not a secret."), verbose_name=_("prefix")
    )
    secret_hash = models.CharField(max_length=64, editable=False, verbose_name=_("secret hash"))
    scopes = models.JSONField(default=list, verbose_name=_("scopes"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Empty: never expires."), verbose_name=_("expires at")
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("revoked at"))
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("last used at"))

    objects = ScopedManager(tenant="tenant", _manager_class=TenancyCachedManager)
    all_tenants = TenancyCachedManager()  # noqa: DJ012 - a second manager, not a field

    class Meta:
        ordering = ["-created_at", "-pk"]
        # A context of their own: the Spanish is lower case here ("Seleccione clave de API"), capitalised in headings.
        verbose_name = pgettext_lazy("model name", "API key")
        verbose_name_plural = pgettext_lazy("model name", "API keys")
        constraints = [models.UniqueConstraint(fields=["tenant", "prefix"], name="api_key_prefix_unique_per_tenant")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def label(self) -> str:
        """How the ledger and histories name this key."""
        return f"API key {self.prefix} ({self.name})"

    def is_usable_at(self, moment) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > moment)


class IdempotencyRecord(TenantOwnedModel):
    """The first request made with an Idempotency-Key and, once it finished, its response for replays.

    The row is inserted (and committed) before the work starts: the unique constraint makes the claim atomic,
    so a second request with the same key while the first is in flight is refused instead of running twice.
    """

    key = models.CharField(max_length=200, verbose_name=_("key"))
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+", verbose_name=_("API key"))
    fingerprint = models.CharField(
        max_length=64, help_text=_("SHA-256 of method, path, body and API key."), verbose_name=_("fingerprint")
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("response status"))
    response_body = models.JSONField(null=True, blank=True, verbose_name=_("response body"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("completed at"))

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="idempotency_key_unique_per_tenant")]
        # The hourly purge is platform-wide, by age alone.
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_at")]

    def __str__(self) -> str:
        return self.key

    @property
    def is_in_flight(self) -> bool:
        return self.completed_at is None
