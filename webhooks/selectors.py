"""Reads of webhooks: the endpoints an event goes to, and the deliveries due for a try."""

from django.utils import timezone

from loyalty.tenancy.caching import cached
from loyalty.tenancy.context import current_tenant, platform_context
from webhooks.models import WebhookDelivery, WebhookEndpoint

SWEEP_LIMIT = 1000


def webhook_endpoints_for(*, event: str) -> list[int]:
    """Ids of the current tenant's active endpoints subscribed to `event`, the subscriptions read in Python.

    Read on every event a change emits, inside its transaction (a redemption's), written rarely: the tenant's
    (id, events) pairs are cached with the tenancy rows, which every write of an endpoint invalidates
    (loyalty/tenancy/caching.py); no secret or address goes to the cache.
    """
    tenant_id = current_tenant().pk

    def subscriptions() -> tuple[int, list[tuple[int, list[str]]]]:
        return tenant_id, list(WebhookEndpoint.objects.filter(is_active=True).values_list("pk", "events"))

    owner, endpoints = cached(f"webhook-endpoints:{tenant_id}", subscriptions)
    if owner != tenant_id:  # never expected (the key names the tenant): read again rather than trust it
        owner, endpoints = subscriptions()
    return [endpoint_id for endpoint_id, events in endpoints if event in events]


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
