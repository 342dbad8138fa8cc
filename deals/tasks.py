"""Celery tasks of deal registration: the nightly expiry of lapsed protection, per tenant."""

from celery import shared_task

from deals.services import deals_expire
from loyalty.tenancy.models import Tenant
from loyalty.tenancy.tasks import tenant_task


@shared_task(name="deals.expire_all_tenants")
def expire_all_tenants() -> int:
    """Nightly (django-celery-beat): one expiry per active tenant."""
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        expire_deals.delay(tenant_id=tenant_id)
    return len(tenant_ids)


@tenant_task(name="deals.expire_deals", acks_late=True)
def expire_deals(*, tenant_id: int) -> int:
    """Expire the tenant's registrations whose protection ended before today (idempotent)."""
    return deals_expire()
