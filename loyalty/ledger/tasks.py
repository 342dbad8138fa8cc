"""Nightly ledger work: expire points whose lots have passed their expiry, one task per tenant."""

from celery import shared_task

from loyalty.ledger.services import points_expire_due
from loyalty.tenancy.models import Tenant
from loyalty.tenancy.tasks import tenant_task


@tenant_task(name="ledger.expire_points")
def expire_points(*, tenant_id: int) -> int:
    return points_expire_due()


@shared_task(name="ledger.expire_points_all_tenants")
def expire_points_all_tenants() -> int:
    """Fan out one expiry task per active tenant (scheduled nightly by beat)."""
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        expire_points.delay(tenant_id=tenant_id)
    return len(tenant_ids)
