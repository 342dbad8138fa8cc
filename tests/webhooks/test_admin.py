"""The tenant admin of webhooks: endpoints (events as checkboxes, secret, rotation, test event) and the delivery
log (filters, attempts, resend), for this tenant's program managers and owners only."""

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry, Role
from tests.conftest import World
from tests.webhooks.conftest import Receiver, endpoint_for
from webhooks.models import Event, WebhookDelivery, WebhookEndpoint

ENDPOINTS = "/admin/webhooks/webhookendpoint/"
DELIVERIES = "/admin/webhooks/webhookdelivery/"
PAGES = [ENDPOINTS, f"{ENDPOINTS}add/", DELIVERIES]


def delivery_for(world: World, endpoint: WebhookEndpoint, **fields: object) -> WebhookDelivery:
    with tenant_context(world.tenant):
        return WebhookDelivery.objects.create(
            endpoint=endpoint,
            event=Event.ACTIVITY_REVIEWED,
            payload={"id": "e1", "type": "activity.reviewed", "data": {"n": 1}},
            **{"status": "failed", "attempts": 8, "last_status_code": 500, "last_error": "HTTP 500: down", **fields},
        )


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("role", [Role.PROGRAM_MANAGER, Role.OWNER])
def test_program_staff_open_the_webhook_pages(acme: World, client_for, role: Role, path: str) -> None:
    assert client_for(acme, acme.user_for(role)).get(path).status_code == 200


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER])
def test_other_roles_are_refused(acme: World, client_for, role: Role, path: str) -> None:
    assert client_for(acme, acme.user_for(role)).get(path).status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_an_outsider_and_another_tenants_manager_are_refused(
    acme: World,
    globex: World,
    outsider,
    client_for,
    path: str,  # noqa: ANN001 - outsider is a User
) -> None:
    assert client_for(acme, outsider).get(path).status_code == 403
    assert client_for(acme, globex.manager).get(path).status_code == 403
    assert Client(HTTP_HOST=acme.host).get(path).status_code == 302  # anonymous: to sign in


def test_adding_an_endpoint_with_checked_events_generates_its_secret(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    form = client.get(f"{ENDPOINTS}add/").content.decode()
    assert 'type="checkbox" name="events" value="partner.tier_changed"' in form
    assert 'value="webhook.test"' not in form  # test events are sent from the list, not subscribed to

    response = client.post(
        f"{ENDPOINTS}add/",
        {
            "url": "http://127.0.0.1:9/crm",
            "description": "CRM",
            "events": ["partner.tier_changed", "points.expiring"],
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    with tenant_context(acme.tenant):
        endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.url, endpoint.events, endpoint.is_active) == (
        "http://127.0.0.1:9/crm",
        ["partner.tier_changed", "points.expiring"],
        True,
    )
    assert endpoint.secret.startswith("whsec_")
    assert len(endpoint.secret) > 40
    change_page = client.get(f"{ENDPOINTS}{endpoint.pk}/change/").content.decode()
    assert f"<code>{endpoint.secret}</code>" in change_page
    with tenant_context(acme.tenant):
        entry = AuditEntry.objects.get(target_type="webhooks.webhookendpoint")
    assert entry.action == AuditEntry.Action.CREATE


def test_a_private_url_is_refused_in_production_settings_and_nothing_is_saved(
    acme: World, client_for, settings
) -> None:
    settings.WEBHOOKS_ALLOW_HTTP, settings.WEBHOOKS_ALLOW_PRIVATE = False, False
    response = client_for(acme, acme.manager).post(
        f"{ENDPOINTS}add/", {"url": "https://169.254.169.254/latest", "events": ["points.expiring"]}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["url"] == [
        "Webhook URLs must reach a public address; 169.254.169.254 resolves to 169.254.169.254, which is not public."
    ]
    with tenant_context(acme.tenant):
        assert WebhookEndpoint.objects.count() == 0


def test_an_endpoint_needs_at_least_one_known_event(acme: World, client_for) -> None:
    response = client_for(acme, acme.manager).post(
        f"{ENDPOINTS}add/", {"url": "http://127.0.0.1:9/crm", "events": ["webhook.test"]}
    )
    assert response.status_code == 200
    assert "events" in response.context["adminform"].form.errors
    with tenant_context(acme.tenant):
        assert WebhookEndpoint.objects.count() == 0


def test_rotating_the_secret_replaces_it_and_is_audited(acme: World, globex: World, client_for) -> None:
    mine = endpoint_for(acme, "http://127.0.0.1:9/crm")
    theirs = endpoint_for(globex, "http://127.0.0.1:9/globex")
    response = client_for(acme, acme.manager).post(
        ENDPOINTS, {"action": "rotate_secret", ACTION_CHECKBOX_NAME: [mine.pk, theirs.pk], "confirmed": "1"}
    )
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        rotated = WebhookEndpoint.objects.get(pk=mine.pk)
        assert AuditEntry.objects.filter(summary="Rotated the signing secret").count() == 1
    assert rotated.secret != mine.secret
    assert rotated.secret.startswith("whsec_")
    with tenant_context(globex.tenant):
        assert WebhookEndpoint.objects.get(pk=theirs.pk).secret == theirs.secret  # another tenant's: untouched


def test_send_test_event_posts_a_signed_test_to_the_receiver(
    acme: World, receiver: Receiver, client_for, django_capture_on_commit_callbacks
) -> None:
    endpoint = endpoint_for(acme, receiver.url, events=[Event.POINTS_EXPIRING])
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(acme, acme.manager).post(
            ENDPOINTS, {"action": "send_test_event", ACTION_CHECKBOX_NAME: [endpoint.pk]}
        )
    assert response.status_code == 302
    assert [request.json["type"] for request in receiver.received] == ["webhook.test"]
    with tenant_context(acme.tenant):
        delivery = WebhookDelivery.objects.get()
    assert (delivery.event, delivery.status, delivery.attempts) == ("webhook.test", "succeeded", 1)


def test_resend_starts_a_new_delivery_and_keeps_the_failed_one(
    acme: World, receiver: Receiver, client_for, django_capture_on_commit_callbacks
) -> None:
    endpoint = endpoint_for(acme, receiver.url)
    failed = delivery_for(acme, endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(acme, acme.manager).post(
            DELIVERIES, {"action": "resend", ACTION_CHECKBOX_NAME: [failed.pk]}
        )
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        original = WebhookDelivery.objects.get(pk=failed.pk)
        again = WebhookDelivery.objects.exclude(pk=failed.pk).get()
        assert AuditEntry.objects.get(target_id=str(failed.pk)).summary == f"Resent as delivery {again.pk}"
    assert (original.status, original.attempts, original.last_error) == ("failed", 8, "HTTP 500: down")
    assert (again.status, again.attempts, again.resend_of_id, again.event_id) == (
        "succeeded",
        1,
        failed.pk,
        failed.event_id,
    )
    assert receiver.received[0].json == failed.payload


def test_another_tenants_deliveries_are_neither_listed_nor_resent_nor_opened(
    acme: World, globex: World, client_for, django_capture_on_commit_callbacks
) -> None:
    theirs = delivery_for(globex, endpoint_for(globex, "http://127.0.0.1:9/globex"))
    client = client_for(acme, acme.manager)
    assert list(client.get(DELIVERIES).context["cl"].result_list) == []
    with django_capture_on_commit_callbacks(execute=True):
        client.post(DELIVERIES, {"action": "resend", ACTION_CHECKBOX_NAME: [theirs.pk]})
    with tenant_context(globex.tenant):
        assert WebhookDelivery.objects.count() == 1
    # The admin answers a missing object by redirecting to its index with "doesn't exist".
    assert client.get(f"{DELIVERIES}{theirs.pk}/change/").status_code == 302
    assert client.get(f"{ENDPOINTS}{theirs.endpoint_id}/change/").status_code == 302


def test_the_delivery_page_shows_the_payload_and_every_attempt(acme: World, client_for) -> None:
    endpoint = endpoint_for(acme, "http://127.0.0.1:9/crm")
    delivery = delivery_for(acme, endpoint)
    with tenant_context(acme.tenant):
        for number in (1, 2):
            delivery.attempt_log.create(number=number, attempted_at=timezone.now(), status_code=500, error="down")
    page = client_for(acme, acme.manager).get(f"{DELIVERIES}{delivery.pk}/change/").content.decode()
    assert "&quot;type&quot;: &quot;activity.reviewed&quot;" in page
    assert re.findall(r'<td class="field-error">\s*<p>(.*?)</p>', page) == ["down", "down"]


def test_the_delivery_log_filters_by_status_event_and_endpoint(acme: World, client_for) -> None:
    first = endpoint_for(acme, "http://127.0.0.1:9/one")
    second = endpoint_for(acme, "http://127.0.0.1:9/two")
    failed = delivery_for(acme, first)
    delivered = delivery_for(acme, second, status="succeeded", attempts=1, last_status_code=200, last_error="")
    client = client_for(acme, acme.manager)

    def listed(query: str) -> list[int]:
        return [row.pk for row in client.get(f"{DELIVERIES}?{query}").context["cl"].result_list]

    assert listed("status__exact=failed") == [failed.pk]
    assert listed(f"endpoint__id__exact={second.pk}") == [delivered.pk]
    assert sorted(listed("event__exact=activity.reviewed")) == sorted([failed.pk, delivered.pk])


@pytest.mark.parametrize("count", [3, 60])
def test_the_delivery_log_costs_the_same_queries_for_3_and_60_rows(
    acme: World, client_for, django_assert_max_num_queries, count: int
) -> None:
    endpoint = endpoint_for(acme, "http://127.0.0.1:9/crm")
    for _index in range(count):
        delivery_for(acme, endpoint)
    client = client_for(acme, acme.manager)
    # The tenant (host), session, user, membership; the endpoints for the filter; COUNT twice (filtered and
    # total); whether the program's onboarding exists (the sidebar's add link); the page of deliveries joined to
    # their endpoints.
    with django_assert_max_num_queries(9):
        response = client.get(DELIVERIES)
    assert len(response.context["cl"].result_list) == count
