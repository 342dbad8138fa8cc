"""Celery tasks of badges: the nightly award run, per tenant."""

from celery import shared_task

from badges.services import badges_award
from loyalty.tenancy.models import Tenant
from loyalty.tenancy.tasks import tenant_task


@shared_task(name="badges.award_all_tenants")
def award_all_tenants() -> int:
    """Nightly (django-celery-beat): one award run per active tenant."""
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        award_badges.delay(tenant_id=tenant_id)
    return len(tenant_ids)


@tenant_task(name="badges.award_badges", acks_late=True)
def award_badges(*, tenant_id: int) -> int:
    """Award every badge its partners now meet (idempotent: a re-run awards nothing twice)."""
    return len(badges_award())
