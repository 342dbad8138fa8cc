"""Tenant admin of webhooks: endpoints (secret, rotation, test event) and the delivery log (attempts, resend)."""

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from loyalty.tenancy.admin_sites import (
    ReadOnlyInline,
    ReadOnlyModelAdmin,
    TenantModelAdmin,
    action_confirm,
    tenant_admin_site,
)
from loyalty.tenancy.models import AuditEntry
from webhooks.forms import WebhookEndpointForm
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_delivery_resend, webhook_endpoint_secret_rotate, webhook_test_send


@admin.register(WebhookEndpoint, site=tenant_admin_site)
class WebhookEndpointAdmin(TenantModelAdmin):
    form = WebhookEndpointForm
    audit_category = AuditEntry.Category.WEBHOOKS  # where program data is sent, and the secret that signs it
    list_display = ["url", "description", "subscribed_events", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    readonly_fields = ["signing_secret", "created_at"]
    actions = ["rotate_secret", "send_test_event"]

    class Media:
        css = {"all": ["webhooks/admin.css"]}

    def get_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> list[str]:
        fields = ["url", "description", "events", "is_active"]
        # The secret exists once the endpoint is saved.
        return [*fields, "signing_secret", "created_at"] if obj is not None else fields

    @admin.display(description=_("Events"))
    def subscribed_events(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.events)

    @admin.display(description=_("Signing secret"))
    def signing_secret(self, endpoint: WebhookEndpoint) -> str:
        return format_html(
            _(
                "<code>{}</code><br>Verify the Tierline-Signature header of each request with it "
                "(docs/webhooks.md). Rotate it with the action in the list."
            ),
            endpoint.secret,
        )

    @admin.action(description=_("Rotate the signing secret of the selected endpoints"))
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> TemplateResponse | None:
        if page := action_confirm(
            request,
            queryset,
            action="rotate_secret",
            title=_("Rotate signing secrets"),
            consequences=[
                _("The old secret stops signing at once: receivers reject deliveries until they have the new one.")
            ],
        ):
            return page
        for endpoint in queryset:
            webhook_endpoint_secret_rotate(endpoint=endpoint)
            self.audit_action(request, endpoint, "Rotated the signing secret")
        self.message_user(
            request,
            _("New secret for %(count)s endpoint(s); give it to the receiver now, the old one no longer signs.")
            % {"count": queryset.count()},
            messages.SUCCESS,
        )
        return None

    @admin.action(description=_("Send a test event to the selected endpoints"))
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhook_test_send(endpoint=endpoint)
            self.audit_action(request, endpoint, "Sent a test event")
        self.message_user(
            request,
            _("Test event queued for %(count)s endpoint(s); see the delivery log.") % {"count": queryset.count()},
            messages.SUCCESS,
        )


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ["number", "attempted_at", "duration_ms", "status_code", "error", "retry_at"]
    readonly_fields = fields


@admin.register(WebhookDelivery, site=tenant_admin_site)
class WebhookDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = [
        "created_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "short_error",  # starts with the HTTP status when the receiver answered
        "next_attempt_at",
    ]
    list_filter = ["status", "event", "endpoint"]
    list_select_related = ["endpoint"]
    fields = [
        "endpoint",
        "event",
        "event_id",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
        "resend_of",
        "pretty_payload",
    ]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["resend"]

    class Media:
        css = {"all": ["webhooks/admin.css"]}

    @admin.display(description=_("Event"), ordering="event")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event  # the name receivers see in Tierline-Event

    @admin.display(description=_("Last error"))
    def short_error(self, delivery: WebhookDelivery) -> str:
        return delivery.last_error[:60]

    @admin.display(description=_("Payload"))
    def pretty_payload(self, delivery: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(delivery.payload, indent=2))

    @admin.action(description=_("Resend the selected deliveries (a new delivery; the log keeps the old one)"))
    def resend(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        deliveries = list(queryset.select_related("endpoint"))
        for delivery in deliveries:
            again = webhook_delivery_resend(delivery=delivery)
            self.audit_action(request, delivery, f"Resent as delivery {again.pk}")
        self.message_user(
            request, _("%(count)s delivery(ies) queued again.") % {"count": len(deliveries)}, messages.SUCCESS
        )
