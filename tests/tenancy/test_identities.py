"""Identities: invitations by email (create or join an account, once, on its own tenant), sign-in, reset, sign-out."""

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Invitation, Membership, Role, User
from loyalty.tenancy.selectors import invitation_token
from loyalty.tenancy.services import invitation_create
from tests.conftest import World
from tests.factories import PASSWORD, InvitationFactory, UserFactory

SIGNUP = {
    "first_name": "Nina",
    "last_name": "New",
    "password1": "a-long-unusual-pass",
    "password2": "a-long-unusual-pass",
}


def _invite(world: World, django_capture_on_commit_callbacks, **kwargs) -> Invitation:
    with tenant_context(world.tenant), django_capture_on_commit_callbacks(execute=True):
        return invitation_create(invited_by=world.manager, **kwargs)


def _link_path(invitation: Invitation) -> str:
    return f"/invitations/{invitation_token(invitation=invitation)}/"


def test_admin_invitation_emails_a_link_to_the_tenants_host(
    acme: World, client_for, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(acme, acme.manager).post(
            "/admin/tenancy/invitation/add/", {"email": "New.Person@Example.com", "role": Role.ACCOUNT_MANAGER}
        )
    assert response.status_code == 302
    invitation = Invitation.all_tenants.get()
    assert (invitation.tenant, invitation.email, invitation.invited_by) == (
        acme.tenant,
        "new.person@example.com",
        acme.manager,
    )
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.person@example.com"]
    assert mail.outbox[0].subject == "You are invited to Acme Program on Tierline"
    assert f"http://acme.localhost{_link_path(invitation)}" in mail.outbox[0].body


def test_partner_role_without_partner_is_refused_in_the_admin(acme: World, client_for) -> None:
    response = client_for(acme, acme.manager).post(
        "/admin/tenancy/invitation/add/", {"email": "x@example.com", "role": Role.PARTNER_USER}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["partner"] == ["Partner roles need a partner."]
    assert not Invitation.all_tenants.exists()


def test_inviting_an_existing_member_is_refused(acme: World) -> None:
    with tenant_context(acme.tenant), pytest.raises(ValidationError) as error:
        invitation_create(email=acme.partner_user.email.upper(), role=Role.OWNER, invited_by=acme.owner)
    assert error.value.message_dict == {"email": ["This person is already a member of the program."]}


def test_a_new_invitation_revokes_the_pending_one(acme: World, django_capture_on_commit_callbacks) -> None:
    first = _invite(acme, django_capture_on_commit_callbacks, email="twice@example.com", role=Role.OWNER)
    _invite(acme, django_capture_on_commit_callbacks, email="twice@example.com", role=Role.PROGRAM_MANAGER)
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert Client(HTTP_HOST=acme.host).get(_link_path(first)).status_code == 410


def test_new_person_creates_an_account_and_joins(acme: World, django_capture_on_commit_callbacks) -> None:
    invitation = _invite(
        acme, django_capture_on_commit_callbacks, email="nina@example.com", role=Role.PARTNER_USER, partner=acme.partner
    )
    client = Client(HTTP_HOST=acme.host)
    assert client.get(_link_path(invitation)).status_code == 200
    response = client.post(_link_path(invitation), SIGNUP)
    assert response.status_code == 302
    user = User.objects.get(email="nina@example.com")
    with tenant_context(acme.tenant):
        membership = Membership.objects.get(user=user)
    assert (membership.role, membership.partner) == (Role.PARTNER_USER, acme.partner)
    assert EmailAddress.objects.get(user=user).verified
    assert client.get("/", follow=True).status_code == 200  # signed in, and a member
    assert client.get(_link_path(invitation)).status_code == 410  # the link works once


def test_weak_password_is_refused_and_nothing_is_created(acme: World, django_capture_on_commit_callbacks) -> None:
    invitation = _invite(acme, django_capture_on_commit_callbacks, email="weak@example.com", role=Role.OWNER)
    response = Client(HTTP_HOST=acme.host).post(
        _link_path(invitation), {**SIGNUP, "password1": "123", "password2": "123"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["password1"]
    assert not User.objects.filter(email="weak@example.com").exists()


def test_existing_user_signs_in_then_accepts(
    acme: World, globex: World, client_for, django_capture_on_commit_callbacks
):
    invitation = _invite(acme, django_capture_on_commit_callbacks, email=globex.owner.email, role=Role.ACCOUNT_MANAGER)
    anonymous = Client(HTTP_HOST=acme.host)
    assert anonymous.get(_link_path(invitation)).context["sign_in_first"] is True
    assert anonymous.post(_link_path(invitation), SIGNUP).status_code == 200
    assert not Membership.all_tenants.filter(tenant=acme.tenant, user=globex.owner).exists()

    client = client_for(acme, globex.owner)
    assert client.get("/").status_code == 403
    assert client.post(_link_path(invitation)).status_code == 302
    assert client.get("/", follow=True).status_code == 200
    assert Membership.all_tenants.get(tenant=acme.tenant, user=globex.owner).role == Role.ACCOUNT_MANAGER
    # Their other program is untouched.
    assert Membership.all_tenants.get(tenant=globex.tenant, user=globex.owner).role == Role.OWNER


def test_signed_in_as_someone_else_cannot_accept(acme: World, client_for, outsider, django_capture_on_commit_callbacks):
    invitation = _invite(acme, django_capture_on_commit_callbacks, email="someone@example.com", role=Role.OWNER)
    response = client_for(acme, outsider).post(_link_path(invitation))
    assert response.status_code == 403
    assert not Membership.all_tenants.filter(user=outsider).exists()


def test_link_on_another_tenants_host_is_404(acme: World, globex: World, django_capture_on_commit_callbacks) -> None:
    invitation = _invite(acme, django_capture_on_commit_callbacks, email="cross@example.com", role=Role.OWNER)
    response = Client(HTTP_HOST=globex.host).post(_link_path(invitation), SIGNUP)
    assert response.status_code == 404
    assert not User.objects.filter(email="cross@example.com").exists()


@pytest.mark.parametrize("token", ["garbage", "eyJpbnZpdGF0aW9uIjoxfQ:forged:signature"])
def test_forged_token_is_404(acme: World, token: str) -> None:
    assert Client(HTTP_HOST=acme.host).get(f"/invitations/{token}/").status_code == 404


def test_expired_invitation_is_gone(acme: World) -> None:
    invitation = InvitationFactory(tenant=acme.tenant, expires_at=timezone.now() - timedelta(minutes=1))
    response = Client(HTTP_HOST=acme.host).post(_link_path(invitation), SIGNUP)
    assert response.status_code == 410
    assert not User.objects.filter(email=invitation.email).exists()


def test_invite_command_invites_into_the_named_tenant(
    acme: World, globex: World, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        call_command("invite", "--tenant", "globex", "--email", "boss@example.com", "--role", "owner")
    invitation = Invitation.all_tenants.get(email="boss@example.com")
    assert invitation.tenant == globex.tenant
    assert "http://globex.localhost/invitations/" in mail.outbox[0].body


def test_invite_command_rejects_unknown_tenant_and_partner(acme: World) -> None:
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        call_command("invite", "--tenant", "nope", "--email", "a@example.com", "--role", "owner")
    with pytest.raises(CommandError, match="No partner with external id 'ZZZ'"):
        call_command(
            "invite", "--tenant", "acme", "--email", "a@example.com", "--role", "partner_user", "--partner", "ZZZ"
        )
    assert not Invitation.all_tenants.exists()


def test_login_by_email_works_on_a_tenant_host(acme: World) -> None:
    user = UserFactory(email="login@example.com")
    client = Client(HTTP_HOST=acme.host)
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 403  # signed in, but not a member of acme


def test_password_reset_link_points_at_the_tenant_host(acme: World) -> None:
    client = Client(HTTP_HOST=acme.host)
    response = client.post("/accounts/password/reset/", {"email": acme.partner_user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "http://acme.localhost/accounts/password/reset/key/" in mail.outbox[0].body


def test_logout_ends_the_session(acme: World, client_for) -> None:
    client = client_for(acme, acme.partner_user)
    assert client.get("/", follow=True).status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302
