"""The nightly points.expiring notice: one event per partner and expiry date within 30 days, never twice."""

from datetime import timedelta

from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from loyalty.ledger.models import PointsLot
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant
from tests.conftest import World
from tests.ledger.factories import set_expiry_rule
from tests.rewards.factories import give_points
from tests.webhooks.conftest import Receiver, endpoint_for
from webhooks.models import Event, WebhookDelivery
from webhooks.tasks import points_expiring_all_tenants


def lots_expiring(world: World) -> None:
    """acme's partner: 100 + 50 points expiring in 20 days, 70 in 40 days; its second partner: 30 in 5 days."""
    set_expiry_rule(world.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=2)
    with tenant_context(world.tenant):
        give_points(world.partner, 100, "soon-a")
        give_points(world.partner, 50, "soon-b")
        give_points(world.partner, 70, "later")
        give_points(world.unmanaged_partner, 30, "sooner")
        now = timezone.now()
        for key, days in (("soon-a", 20), ("soon-b", 20), ("later", 40), ("sooner", 5)):
            # Lots are written only by the ledger; here time moves instead: the expiry dates are set directly.
            PointsLot.objects.filter(entry__idempotency_key=key).update(expires_at=now + timedelta(days=days))


def test_the_nightly_run_announces_each_partner_and_expiry_date_once(
    acme: World, globex: World, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    endpoint_for(acme, receiver.url, events=[Event.POINTS_EXPIRING])
    endpoint_for(globex, receiver.url + "/globex", events=[Event.POINTS_EXPIRING])
    lots_expiring(acme)
    with tenant_context(acme.tenant):
        soon = timezone.localdate() + timedelta(days=20)
        sooner = timezone.localdate() + timedelta(days=5)

    with django_capture_on_commit_callbacks(execute=True):
        assert points_expiring_all_tenants() == 2

    announced = sorted(
        (r.json["data"]["partner"]["external_id"], r.json["data"]["points"], r.json["data"]["expires_on"])
        for r in receiver.received
    )
    assert announced == sorted(
        [
            (acme.partner.external_id, 150, soon.isoformat()),
            (acme.unmanaged_partner.external_id, 30, sooner.isoformat()),
        ]
    )
    assert {r.path for r in receiver.received} == {"/hooks/tierline"}  # globex has nothing expiring
    assert {r.json["type"] for r in receiver.received} == {"points.expiring"}

    # The next night (and any re-run) finds the same lots: nothing new is emitted or sent.
    with django_capture_on_commit_callbacks(execute=True):
        points_expiring_all_tenants()
        points_expiring_all_tenants()
    assert len(receiver.received) == 2
    with tenant_context(acme.tenant):
        assert WebhookDelivery.objects.count() == 2
        assert sorted(WebhookDelivery.objects.values_list("event_key", flat=True)) == sorted(
            [f"{acme.partner.pk}:{soon.isoformat()}", f"{acme.unmanaged_partner.pk}:{sooner.isoformat()}"]
        )


def test_an_endpoint_added_later_hears_of_what_is_still_expiring(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    endpoint_for(acme, receiver.url + "/first", events=[Event.POINTS_EXPIRING])
    lots_expiring(acme)
    with django_capture_on_commit_callbacks(execute=True):
        points_expiring_all_tenants()
    endpoint_for(acme, receiver.url + "/second", events=[Event.POINTS_EXPIRING])
    with django_capture_on_commit_callbacks(execute=True):
        points_expiring_all_tenants()
    assert sorted(r.path for r in receiver.received) == ["/hooks/tierline/first"] * 2 + ["/hooks/tierline/second"] * 2


def test_beat_runs_the_sweeper_every_minute_and_the_expiring_notice_nightly_after_expiry(db: None) -> None:
    sweeper = PeriodicTask.objects.get(task="webhooks.sweep")
    assert (sweeper.enabled, sweeper.interval.every, sweeper.interval.period) == (True, 1, "minutes")
    nightly = PeriodicTask.objects.get(task="webhooks.points_expiring_all_tenants")
    assert (nightly.enabled, nightly.crontab.hour, nightly.crontab.minute) == (True, "2", "45")
    expiry = PeriodicTask.objects.get(task="ledger.expire_points_all_tenants")
    assert (expiry.crontab.hour, expiry.crontab.minute) == ("2", "15")  # expiry first, then the notice
