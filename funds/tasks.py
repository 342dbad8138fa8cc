"""Nightly fund work: expire pre-approvals whose claim window has passed, one task per tenant."""

from celery import shared_task

from funds.services import fund_preapprovals_expire, rebates_accrue_pending
from loyalty.tenancy.models import Tenant
from loyalty.tenancy.tasks import tenant_task


@tenant_task(name="funds.expire_preapprovals")
def expire_preapprovals(*, tenant_id: int) -> int:
    return fund_preapprovals_expire()


@shared_task(name="funds.expire_preapprovals_all_tenants")
def expire_preapprovals_all_tenants() -> int:
    """Fan out one expiry task per active tenant (scheduled nightly by beat)."""
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        expire_preapprovals.delay(tenant_id=tenant_id)
    return len(tenant_ids)


@tenant_task(name="funds.rebates_accrue_pending")
def rebates_accrue_pending_task(*, tenant_id: int) -> int:
    """Accrue rebates on approved sales that have none yet (bulk ingestion enqueues this after its batch)."""
    return rebates_accrue_pending()
