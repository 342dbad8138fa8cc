"""Destructive admin actions ask first (loyalty.tenancy.admin_sites.action_confirm): issue 17, item 19.

Revoking API keys, revoking invitations and rotating webhook secrets acted as soon as "Go" was clicked.
"""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from api.models import ApiKey
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Invitation, Role
from tests.api.conftest import make_key
from tests.conftest import World
from tests.factories import InvitationFactory
from tests.webhooks.conftest import endpoint_for
from webhooks.models import WebhookEndpoint


def _state(world: World) -> tuple:
    with tenant_context(world.tenant):
        return (
            list(ApiKey.objects.values_list("revoked_at", flat=True)),
            list(Invitation.objects.values_list("revoked_at", flat=True)),
            list(WebhookEndpoint.objects.values_list("secret", flat=True)),
        )


@pytest.fixture
def targets(acme: World) -> dict[str, tuple[str, int, str]]:
    api_key, _token = make_key(acme)
    endpoint = endpoint_for(acme, "http://127.0.0.1:9/crm")
    with tenant_context(acme.tenant):
        invitation = InvitationFactory(tenant=acme.tenant, role=Role.PARTNER_USER, partner=acme.partner)
    return {
        "api keys": ("/admin/api/apikey/", api_key.pk, "revoke"),
        "invitations": ("/admin/tenancy/invitation/", invitation.pk, "revoke"),
        "webhook secrets": ("/admin/webhooks/webhookendpoint/", endpoint.pk, "rotate_secret"),
    }


CONSEQUENCES = {
    "api keys": "Every request signed with these keys is refused from now on",
    "invitations": "The links in their emails stop working",
    "webhook secrets": "The old secret stops signing at once",
}


@pytest.mark.parametrize("what", ["api keys", "invitations", "webhook secrets"])
def test_a_destructive_admin_action_asks_first_and_acts_only_when_confirmed(
    acme: World, targets: dict, client_for, what: str
) -> None:
    """Issue 17, item 19: the action's page lists the rows and what will happen; only its Confirm acts."""
    url, pk, action = targets[what]
    client = client_for(acme, acme.manager)
    before = _state(acme)
    asked = client.post(url, {"action": action, ACTION_CHECKBOX_NAME: [pk]})
    assert asked.status_code == 200
    page = asked.content.decode()
    assert CONSEQUENCES[what] in page
    assert '<input type="hidden" name="confirmed" value="1">' in page
    assert 'name="reason"' not in page
    assert _state(acme) == before
    done = client.post(url, {"action": action, ACTION_CHECKBOX_NAME: [pk], "confirmed": "1"})
    assert done.status_code == 302
    assert _state(acme) != before
