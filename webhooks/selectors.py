"""Reads of webhooks: the endpoints an event goes to, and the deliveries due for a try."""

from django.utils import timezone

from loyalty.tenancy.context import platform_context
from webhooks.models import WebhookDelivery, WebhookEndpoint

SWEEP_LIMIT = 1000


def webhook_endpoints_for(*, event: str) -> list[WebhookEndpoint]:
    """The current tenant's active endpoints subscribed to `event`: one query, the subscription read in Python."""
    return [endpoint for endpoint in WebhookEndpoint.objects.filter(is_active=True) if event in endpoint.events]


def deliveries_due(*, limit: int = SWEEP_LIMIT) -> list[tuple[int, int]]:
    """(tenant id, delivery id) of pending deliveries whose next try is due, oldest first, across active tenants.

    A platform read for the sweeper, hence `all_tenants` and the platform context.
    """
    with platform_context():
        return list(
            WebhookDelivery.all_tenants.filter(
                status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now(), tenant__is_active=True
            )
            .order_by("next_attempt_at", "pk")
            .values_list("tenant_id", "pk")[:limit]
        )
