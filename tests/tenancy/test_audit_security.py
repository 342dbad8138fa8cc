"""The security log: sign-ins, credentials, roles, API keys, adjustments, overrides, each with a category; read by
program staff of that tenant only."""

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory
from django.utils import timezone

from api.models import ApiKey
from loyalty.ledger.services import points_account_for
from loyalty.tenancy import signals
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry, Membership, Role, SecurityEvent, User
from loyalty.tenancy.services import audit_record, invitation_accept, invitation_create
from tests.admin_forms import change_form_data
from tests.api.conftest import api_client, make_key
from tests.conftest import World
from tests.factories import PASSWORD, UserFactory, totp_now, totp_secret
from tests.rewards.factories import give_points
from tests.tiers.test_simulation_and_admin import models_for
from tests.webhooks.conftest import endpoint_for
from tiers.models import PartnerTier, Tier, TierModel

Category = AuditEntry.Category
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
LOG = "/admin/tenancy/securityevent/"


def entries(world: World, category: str | None = None) -> list[AuditEntry]:
    with tenant_context(world.tenant):
        found = AuditEntry.objects.select_related("actor").order_by("pk")
        return list(found.filter(category=category) if category else found)


def browser(world: World) -> Client:
    return Client(HTTP_HOST=world.host, HTTP_USER_AGENT=BROWSER, REMOTE_ADDR="203.0.113.9")


def staff_sign_in(world: World, user: User) -> Client:
    """Sign in as program staff do: password, then the TOTP code (the sign-in happens at the second step)."""
    client = browser(world)
    assert client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}).status_code == 302
    assert client.post("/accounts/2fa/authenticate/", {"code": totp_now(totp_secret(user))}).status_code == 302
    return client


# --- Sign-in, sign-out, credentials -----------------------------------------------------------------------------


def test_a_sign_in_is_recorded_for_the_tenant_with_ip_and_user_agent(acme: World, globex: World) -> None:
    staff_sign_in(acme, acme.manager)
    [entry] = entries(acme, Category.SIGN_IN)
    assert (entry.actor, entry.summary, entry.ip_address, entry.user_agent) == (
        acme.manager,
        "Signed in with a password and a second factor",
        "203.0.113.9",
        BROWSER,
    )
    assert entries(globex) == []


def test_a_failed_sign_in_names_the_address_tried_and_no_actor(acme: World, globex: World) -> None:
    response = browser(acme).post("/accounts/login/", {"login": acme.owner.email, "password": "wrong"})
    assert response.status_code == 200
    [entry] = entries(acme, Category.SIGN_IN)
    assert (entry.actor, entry.summary, entry.ip_address) == (
        None,
        f"Failed sign-in as {acme.owner.email}",
        "203.0.113.9",
    )
    assert "wrong" not in str(entry.changes) + entry.summary
    assert entries(globex) == []


def test_sign_out_and_password_change_are_recorded(acme: World) -> None:
    client = browser(acme)
    client.post("/accounts/login/", {"login": acme.partner_user.email, "password": PASSWORD})
    changed = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": "another-long-passphrase", "password2": "another-long-passphrase"},
    )
    assert changed.status_code == 302
    client.post("/accounts/logout/")
    assert [(entry.category, entry.summary, entry.actor) for entry in entries(acme)] == [
        (Category.SIGN_IN, "Signed in with a password", acme.partner_user),
        (Category.CREDENTIALS, "Changed their password", acme.partner_user),
        (Category.SIGN_IN, "Signed out", acme.partner_user),
    ]


def test_sign_ins_on_the_platform_host_are_recorded_in_no_tenant(acme: World) -> None:
    Client(HTTP_HOST="localhost").post("/admin/login/", {"username": acme.owner.email, "password": "wrong"})
    assert AuditEntry.all_tenants.count() == 0


@pytest.mark.parametrize(("verb", "summary"), [("Turned on", "Turned on two-factor"), ("Reset", "Reset two-factor")])
def test_mfa_changes_are_recorded_as_credentials(acme: World, verb: str, summary: str) -> None:
    # allauth.mfa sends these (helper "security" installs it); the receiver is connected when the app is installed.
    request = RequestFactory().post("/accounts/2fa/", HTTP_USER_AGENT=BROWSER)
    request.tenant = acme.tenant
    with tenant_context(acme.tenant):
        signals._mfa_receiver(verb)(sender=None, request=request, user=acme.owner)
    [entry] = entries(acme, Category.CREDENTIALS)
    assert (entry.actor, entry.summary, entry.ip_address) == (acme.owner, summary, "127.0.0.1")


# --- Roles, API keys, adjustments --------------------------------------------------------------------------------


def test_a_role_change_in_the_admin_is_a_roles_event_with_before_and_after(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    with tenant_context(acme.tenant):
        membership = Membership.objects.get(user=acme.account_manager)
    url = f"/admin/tenancy/membership/{membership.pk}/change/"
    client.post(url, change_form_data(client.get(url), role=Role.PROGRAM_MANAGER))
    [entry] = entries(acme, Category.ROLES)
    assert entry.changes["fields"]["role"] == {"before": "account_manager", "after": "program_manager"}
    assert entry.actor == acme.manager


def test_invitations_sent_and_accepted_and_members_removed_are_roles_events(acme: World, client_for) -> None:
    newcomer = UserFactory(email="new@partner.acme.test")
    with tenant_context(acme.tenant):
        invitation = invitation_create(
            email=newcomer.email, role=Role.PARTNER_USER, partner=acme.partner, invited_by=acme.partner_admin
        )
        membership = invitation_accept(invitation=invitation, user=newcomer)
    removal = client_for(acme, acme.partner_admin).post(f"/team/members/{membership.pk}/remove/")
    assert removal.status_code in (200, 302)
    assert [(entry.actor, entry.summary) for entry in entries(acme, Category.ROLES)] == [
        (acme.partner_admin, f"Invited new@partner.acme.test as Partner user of {acme.partner}"),
        (newcomer, f"Accepted the invitation: Partner user of {acme.partner}"),
        (acme.partner_admin, f"Removed {newcomer} (Partner user) from the program"),
    ]


def test_api_keys_created_and_revoked_in_the_admin_are_recorded(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    client.post("/admin/api/apikey/add/", {"name": "CRM sync", "scopes": ["partners:read"]})
    with tenant_context(acme.tenant):
        api_key = ApiKey.objects.get(name="CRM sync")
    client.post("/admin/api/apikey/", {"action": "revoke", ACTION_CHECKBOX_NAME: [api_key.pk], "confirmed": "1"})
    assert [(entry.action, entry.target_id, entry.summary) for entry in entries(acme, Category.API_KEYS)] == [
        (AuditEntry.Action.CREATE, str(api_key.pk), ""),
        (AuditEntry.Action.ACTION, str(api_key.pk), "Revoked"),
    ]


def test_an_adjustment_through_the_api_is_a_points_event_under_the_keys_author(acme: World) -> None:
    api_key, token = make_key(acme)
    response = api_client(acme, token).post(
        "/api/v1/ledger/adjustments/",
        {"partner": acme.partner.external_id, "points": 75, "reason": "Goodwill"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="adj-audit",
    )
    assert response.status_code == 201
    [entry] = entries(acme, Category.POINTS)
    assert (entry.actor, entry.ip_address) == (acme.manager, "127.0.0.1")
    assert entry.summary == f"Adjusted by +75 points: Goodwill (via API key {api_key.label.removeprefix('API key ')})"


# --- The security log page ---------------------------------------------------------------------------------------


def _events(world: World) -> None:
    with tenant_context(world.tenant):
        audit_record(actor=world.owner, action="action", category=Category.SIGN_IN, summary="Signed in")
        audit_record(actor=world.manager, action="action", category=Category.API_KEYS, summary="Revoked")
        audit_record(actor=world.manager, action="change", target=world.partner, summary="Renamed")


def test_the_security_log_lists_security_events_only_filtered_and_searched(acme: World, client_for) -> None:
    _events(acme)
    client = client_for(acme, acme.manager)
    assert [e.summary for e in client.get(LOG).context["cl"].result_list] == ["Revoked", "Signed in"]
    assert [e.summary for e in client.get(LOG, {"category__exact": "sign_in"}).context["cl"].result_list] == [
        "Signed in"
    ]
    assert [e.summary for e in client.get(LOG, {"q": acme.owner.email}).context["cl"].result_list] == ["Signed in"]
    by_actor = client.get(LOG, {"actor__id__exact": acme.manager.pk}).context["cl"].result_list
    assert [e.summary for e in by_actor] == ["Revoked"]


def test_only_program_staff_read_the_security_log(acme: World, client_for) -> None:
    assert client_for(acme, acme.owner).get(LOG).status_code == 200
    for role in (Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER):
        assert client_for(acme, acme.user_for(role)).get(LOG).status_code == 403
    assert Client(HTTP_HOST=acme.host).get(LOG).status_code == 302


def test_another_tenants_security_events_are_never_shown(acme: World, globex: World, client_for) -> None:
    _events(globex)
    client = client_for(acme, acme.manager)
    assert client.get(LOG).context["cl"].result_count == 0
    with tenant_context(globex.tenant):
        foreign = SecurityEvent.objects.filter(category=Category.SIGN_IN).get()
    assert client.get(f"{LOG}{foreign.pk}/change/").status_code == 302  # "does not exist" → the index
    assert client_for(globex, globex.manager).get(f"{LOG}{foreign.pk}/change/").status_code == 200


def test_the_security_log_is_read_only(acme: World, client_for) -> None:
    _events(acme)
    client = client_for(acme, acme.manager)
    with tenant_context(acme.tenant):
        event = SecurityEvent.objects.filter(category=Category.SIGN_IN).get()
        with pytest.raises(ValidationError):
            event.save()
        with pytest.raises(ValidationError):
            event.delete()
    assert client.get(f"{LOG}add/").status_code == 403
    assert client.post(f"{LOG}{event.pk}/delete/").status_code == 403
    with tenant_context(acme.tenant):
        assert SecurityEvent.objects.get(pk=event.pk).summary == "Signed in"


def test_admin_adjustments_tier_pins_and_secret_rotations_carry_their_category(acme: World, client_for) -> None:
    models_for(acme)
    with tenant_context(acme.tenant):
        give_points(acme.partner, 100, "audit-earn")
        account = points_account_for(partner=acme.partner)
        tier = Tier.objects.filter(model__status=TierModel.Status.ACTIVE).order_by("rank").last()
        state = PartnerTier.objects.get(partner=acme.partner)  # the model's publication placed every partner
    endpoint = endpoint_for(acme, "http://127.0.0.1:9/crm")
    client = client_for(acme, acme.manager)

    adjust = f"/admin/ledger/pointsaccount/{account.pk}/adjust/"
    client.post(adjust, {"points": "-40", "reason": "Bonus twice", "idempotency_key": "adjust:audit", "confirm": "1"})
    pin = f"/admin/tiers/partnertier/{state.pk}/change/"
    until = (timezone.localdate() + timedelta(days=30)).isoformat()
    client.post(pin, change_form_data(client.get(pin), pinned_tier=tier.pk, pinned_until=until, pin_reason="Deal"))
    client.post(
        "/admin/webhooks/webhookendpoint/",
        {"action": "rotate_secret", ACTION_CHECKBOX_NAME: [endpoint.pk], "confirmed": "1"},
    )

    assert [(entry.category, entry.target_id) for entry in entries(acme) if entry.category != Category.CHANGE] == [
        (Category.POINTS, str(account.pk)),
        (Category.TIERS, str(state.pk)),
        (Category.WEBHOOKS, str(endpoint.pk)),
    ]
    [pinned] = entries(acme, Category.TIERS)
    assert pinned.changes["fields"]["pin_reason"] == {"before": "", "after": "Deal"}


def test_sign_ins_stay_out_of_the_admin_index_recent_changes(acme: World, client_for) -> None:
    staff_sign_in(acme, acme.owner)
    with tenant_context(acme.tenant):
        audit_record(actor=acme.manager, action="change", target=acme.partner, summary="Renamed")
    recent = client_for(acme, acme.manager).get("/admin/").context["recent_changes"]
    assert [entry.summary for entry in recent] == ["Renamed"]
    assert [entry.summary for entry in entries(acme, Category.SIGN_IN)] == [
        "Signed in with a password and a second factor"
    ]
