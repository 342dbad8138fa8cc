"""Webhook work for Celery: one try per task, a sweeper that re-enqueues whatever is due, the nightly expiry notice."""

from celery import shared_task

from loyalty.tenancy.models import Tenant
from loyalty.tenancy.tasks import tenant_task
from webhooks.selectors import deliveries_due
from webhooks.services import points_expiring_emit, webhook_delivery_attempt


# acks_late: a worker that dies mid-task leaves the message to be redelivered; the claim makes that harmless.
@tenant_task(name="webhooks.deliver", acks_late=True)
def deliver(*, tenant_id: int, delivery_id: int) -> bool:
    return webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.sweep", acks_late=True)
def sweep() -> int:
    """Every minute (beat): enqueue a try for each pending delivery that is due.

    Retries are scheduled this way rather than with countdowns, and a lost task message or a dead worker
    costs at most a minute's delay, never a delivery. A delivery enqueued twice is tried once (see the claim).
    """
    due = deliveries_due()
    for tenant_id, delivery_id in due:
        deliver.delay(tenant_id=tenant_id, delivery_id=delivery_id)
    return len(due)


@tenant_task(name="webhooks.points_expiring", acks_late=True)
def points_expiring(*, tenant_id: int) -> int:
    return points_expiring_emit()


@shared_task(name="webhooks.points_expiring_all_tenants")
def points_expiring_all_tenants() -> int:
    """Nightly (beat): one points.expiring emission per active tenant."""
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        points_expiring.delay(tenant_id=tenant_id)
    return len(tenant_ids)
