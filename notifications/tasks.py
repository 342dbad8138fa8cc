"""Daily notification tasks: raise what no single change raises, then send the digests."""

from datetime import date

from celery import shared_task
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant
from loyalty.tenancy.tasks import tenant_task
from notifications.events import daily_notifications_raise
from notifications.sending import notifications_digest_send


@tenant_task(name="notifications.daily")
def notifications_daily(*, tenant_id: int, today: str) -> None:
    """The day's notifications that no single change raises (expiring points, grace, near the next tier, the
    monthly statement), then the digests."""
    daily_notifications_raise(today=date.fromisoformat(today))
    notifications_digest_send.delay(tenant_id=tenant_id)


@shared_task(name="notifications.daily_all_tenants")
def notifications_daily_all_tenants() -> int:
    """Daily (django-celery-beat, after the nightly evaluation): one task per active tenant, on its local date."""
    tenants = list(Tenant.objects.filter(is_active=True))
    for tenant in tenants:
        with tenant_context(tenant):
            today = timezone.localdate()
        notifications_daily.delay(tenant_id=tenant.pk, today=today.isoformat())
    return len(tenants)
