"""Celery tasks of the analytics rollup: the nightly fan-out, one refresh per tenant."""

from celery import shared_task

from analytics.services import rollup_refresh
from loyalty.tenancy.models import Tenant
from loyalty.tenancy.tasks import tenant_task


@shared_task(name="analytics.rollup_all_tenants")
def rollup_all_tenants() -> int:
    """Nightly (django-celery-beat): one rollup refresh per active tenant."""
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        rollup_tenant.delay(tenant_id=tenant_id)
    return len(tenant_ids)


# A full rebuild of 5 M activities takes about a minute; the limits only stop a stuck one.
@tenant_task(name="analytics.rollup_tenant", acks_late=True, soft_time_limit=30 * 60, time_limit=35 * 60)
def rollup_tenant(*, tenant_id: int, full: bool = False) -> int:
    """Refresh the tenant's rollup (idempotent: a repeated message rebuilds nothing new). Returns rows written."""
    return rollup_refresh(full=full).rows_written
