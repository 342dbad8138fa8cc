"""Celery tasks of engagement: every few minutes, publish the announcements and send the surveys that are due."""

from celery import shared_task

from engagement.services import announcements_publish_due, surveys_send_due
from loyalty.tenancy.models import Tenant
from loyalty.tenancy.tasks import tenant_task


@shared_task(name="engagement.publish_due_all_tenants")
def publish_due_all_tenants() -> int:
    """django-celery-beat, every five minutes: one task per active tenant."""
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        publish_due.delay(tenant_id=tenant_id)
    return len(tenant_ids)


@tenant_task(name="engagement.publish_due", acks_late=True)
def publish_due(*, tenant_id: int) -> tuple[int, int]:
    """Publish the due announcements and invite the due surveys' audiences (idempotent: re-runs add nothing)."""
    return announcements_publish_due(), surveys_send_due()
