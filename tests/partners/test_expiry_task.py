"""The nightly expiry: beat's schedule exists, and the fan-out expires each tenant's due lots once."""

from datetime import timedelta

from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.selectors import points_expiring
from loyalty.ledger.services import points_account_for, points_post
from loyalty.ledger.tasks import expire_points_all_tenants
from loyalty.tenancy.context import tenant_context
from tests.conftest import World


def earn(world: World, points: int, days_ago: int, key: str) -> None:
    with tenant_context(world.tenant):
        points_post(
            account=points_account_for(partner=world.partner),
            kind=EntryKind.EARN,
            points=points,
            idempotency_key=key,
            effective_at=timezone.now() - timedelta(days=days_ago),
        )


def test_nightly_schedule_is_installed(db: None) -> None:
    task = PeriodicTask.objects.get(task="ledger.expire_points_all_tenants")
    assert (task.enabled, task.crontab.hour, task.crontab.minute) == (True, "2", "15")


def test_fan_out_expires_each_tenants_due_points_once(acme: World, globex: World) -> None:
    for world in (acme, globex):
        world.tenant.points_expiry_months = 12
        world.tenant.save(update_fields=["points_expiry_months"])
    earn(acme, 300, days_ago=400, key="old")
    earn(acme, 50, days_ago=350, key="soon")
    earn(globex, 70, days_ago=380, key="old")
    assert expire_points_all_tenants.delay().get() == 2
    assert expire_points_all_tenants.delay().get() == 2  # a re-run expires nothing more
    expired = LedgerEntry.all_tenants.filter(kind=EntryKind.EXPIRE).values_list("tenant__slug", "points")
    assert sorted(expired) == [("acme", -300), ("globex", -70)]
    with tenant_context(acme.tenant):
        warning = points_expiring(within_days=30)
    assert [(row.partner_id, row.points) for row in warning] == [(acme.partner.pk, 50)]
