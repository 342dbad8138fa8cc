"""The endpoints an event goes to, cached with the tenancy rows (webhooks/selectors.py, `webhook_endpoints_for`):
read once, then from the cache; every write to an endpoint shows at once; two tenants never cross."""

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.webhooks.conftest import endpoint_for
from webhooks.models import Event, WebhookEndpoint
from webhooks.selectors import webhook_endpoints_for

pytestmark = [
    pytest.mark.django_db(transaction=True),  # inside a test's transaction the fixtures' writes bypass the cache
    pytest.mark.skipif(not settings.REDIS_URL, reason="the tenancy cache is Redis's: set REDIS_URL"),
]
EVENT = Event.REDEMPTION_STATUS_CHANGED


def listening(world: World) -> tuple[list[int], int]:
    """The world's endpoints for EVENT, and the queries of endpoints that reading them cost."""
    with tenant_context(world.tenant), CaptureQueriesContext(connection) as captured:
        found = webhook_endpoints_for(event=EVENT)
    return found, sum('"webhooks_webhookendpoint"' in query["sql"] for query in captured.captured_queries)


def test_read_once_then_from_the_cache_and_every_write_shows_at_once(acme: World) -> None:
    first = endpoint_for(acme, "https://crm.example/hooks", events=[EVENT])
    assert listening(acme) == ([first.pk], 1)
    assert listening(acme) == ([first.pk], 0)

    second = endpoint_for(acme, "https://erp.example/hooks", events=[Event.ACTIVITY_REVIEWED])  # created
    assert listening(acme) == ([first.pk], 1)
    with tenant_context(acme.tenant):
        second.events = [Event.ACTIVITY_REVIEWED, EVENT]  # subscribed
        second.save()
    assert sorted(listening(acme)[0]) == sorted([first.pk, second.pk])
    with tenant_context(acme.tenant):
        first.is_active = False  # deactivated, one by one
        first.save(update_fields=["is_active"])
    assert listening(acme)[0] == [second.pk]
    with tenant_context(acme.tenant):
        WebhookEndpoint.objects.update(is_active=True)  # in bulk
    assert sorted(listening(acme)[0]) == sorted([first.pk, second.pk])
    with tenant_context(acme.tenant):
        WebhookEndpoint.objects.filter(pk=first.pk).delete()  # deleted in bulk
    assert listening(acme)[0] == [second.pk]
    with tenant_context(acme.tenant):
        second.delete()  # deleted one by one
    assert listening(acme) == ([], 1)
    assert listening(acme) == ([], 0)


def test_two_tenants_never_cross(acme: World, globex: World) -> None:
    ours = endpoint_for(acme, "https://crm.example/hooks", events=[EVENT])
    theirs = endpoint_for(globex, "https://crm.globex.example/hooks", events=[EVENT])
    for _round in range(2):  # read, then from the cache
        assert listening(acme)[0] == [ours.pk]
        assert listening(globex)[0] == [theirs.pk]
