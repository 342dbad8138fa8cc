"""Webhook endpoints a tenant configures, and the outbox of deliveries (with every attempt) sent to them."""

import secrets
import uuid

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from loyalty.tenancy.caching import TenancyCachedManager, TenancyCachedModel
from loyalty.tenancy.models import TenantOwnedModel
from webhooks.addresses import validate_webhook_url


class Event(models.TextChoices):
    PARTNER_TIER_CHANGED = "partner.tier_changed", _("A partner's tier changed")
    REDEMPTION_STATUS_CHANGED = "redemption.status_changed", _("A redemption's status changed")
    ACTIVITY_REVIEWED = "activity.reviewed", _("An activity was approved or rejected by a person")
    POINTS_EXPIRING = "points.expiring", _("A partner has points expiring within 30 days")
    FUND_DECIDED = "fund.decided", _("A fund request or claim was decided")
    DEAL_SUBMITTED = "deal.submitted", _("A deal registration was submitted for review")
    DEAL_STATUS_CHANGED = "deal.status_changed", _("A deal registration's status changed")
    TEST = "webhook.test", _("Test event sent from the admin")


# What an endpoint can subscribe to; test events go to the endpoint they are sent from.
SUBSCRIBABLE_EVENTS = [choice for choice in Event.choices if choice[0] != Event.TEST]


def validate_events(value: object) -> None:
    allowed = {event for event, _label in SUBSCRIBABLE_EVENTS}
    if not isinstance(value, list) or not all(isinstance(event, str) for event in value):
        raise ValidationError(_("Events are a list of event names."))
    if unknown := sorted(set(value) - allowed):
        raise ValidationError(_("Unknown events: %(events)s.") % {"events": ", ".join(unknown)})


def generate_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


class WebhookEndpoint(TenancyCachedModel, TenantOwnedModel):
    """A URL of the vendor's that receives signed event notifications (which are active and what they subscribe to
    is cached with the tenancy rows: loyalty/tenancy/caching.py, `webhook_endpoints_for`)."""

    url = models.URLField(max_length=500, validators=[validate_webhook_url], verbose_name=_("URL"))
    description = models.CharField(max_length=200, blank=True, verbose_name=_("description"))
    events = models.JSONField(default=list, validators=[validate_events], verbose_name=_("events"))
    secret = models.CharField(
        max_length=100,
        default=generate_secret,
        editable=False,
        help_text=_("Signs every delivery (the Tierline-Signature header); the receiver verifies with it."),
        verbose_name=_("secret"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    objects = ScopedManager(tenant="tenant", _manager_class=TenancyCachedManager)
    all_tenants = TenancyCachedManager()  # noqa: DJ012 - a second manager, not a field

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["url", "pk"]
        indexes = [models.Index(fields=["tenant", "is_active"], name="webhook_endpoint_active")]

    def __str__(self) -> str:
        return self.description or self.url


class WebhookDelivery(TenantOwnedModel):
    """The outbox: one event for one endpoint, written in the transaction of the change it reports.

    A row exists if and only if that change committed; workers send it (and retry it) afterwards.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("endpoint")
    )
    event = models.CharField(max_length=40, choices=Event.choices, verbose_name=_("event"))
    # The same for every endpoint, every attempt and every resend: receivers deduplicate on it.
    event_id = models.UUIDField(default=uuid.uuid4, verbose_name=_("event ID"))
    # Events that must be sent at most once (points.expiring per partner and expiry date) carry a key.
    event_key = models.CharField(max_length=200, blank=True, verbose_name=_("event key"))
    payload = models.JSONField(encoder=DjangoJSONEncoder, verbose_name=_("payload"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next attempt at"))
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("last status code"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("delivered at"))
    resend_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="resends",
        editable=False,
        verbose_name=_("resend of"),
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "endpoint", "event_key"],
                condition=~Q(event_key="") & Q(resend_of__isnull=True),
                name="webhook_delivery_event_key_once",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "endpoint", "created_at"], name="webhook_delivery_log"),
            # The sweeper's work list: small, since only pending rows are in it.
            models.Index(
                fields=["tenant", "next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"
            ),
            models.Index(fields=["tenant", "event_id"], name="webhook_delivery_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(TenantOwnedModel):
    """One try at sending a delivery: what the receiver answered, and when the next try is due."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    number = models.PositiveSmallIntegerField(verbose_name=_("number"))
    attempted_at = models.DateTimeField(verbose_name=_("attempted at"))
    duration_ms = models.PositiveIntegerField(default=0, verbose_name=_("duration ms"))
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("status code"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Empty: no retry (delivered or given up)."), verbose_name=_("retry at")
    )

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["delivery", "number"]
        indexes = [models.Index(fields=["tenant", "delivery"], name="webhook_attempt_delivery")]

    def __str__(self) -> str:
        return f"Attempt {self.number} of delivery {self.delivery_id}"
