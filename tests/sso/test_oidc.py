"""Single sign-on with OpenID Connect (issue 23, item 3) against a real provider running in its own process."""

from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Membership, Role, User
from loyalty.tenancy.services import handoff_issue
from tests.conftest import World
from tests.factories import PASSWORD, MembershipFactory
from tests.sso.support import oidc_provider_for, oidc_sign_in, oidc_start, security_log

pytestmark = pytest.mark.django_db


def signed_in_user(client: Client):
    return User.objects.filter(pk=client.session.get("_auth_user_id")).first()


def test_a_new_person_at_an_allowed_domain_joins_just_in_time(acme: World, oidc_idp) -> None:
    provider = oidc_provider_for(acme, oidc_idp)
    client, response = oidc_sign_in(acme, provider, oidc_idp, "Ana.Ruiz@partner.acme.test")
    assert (response.status_code, response["Location"]) == (302, "/")
    user = signed_in_user(client)
    assert user.email == "ana.ruiz@partner.acme.test"
    assert not user.has_usable_password()
    with tenant_context(acme.tenant):
        membership = Membership.objects.get(user=user)
    assert (membership.role, membership.partner, membership.is_active) == (Role.PARTNER_USER, acme.partner, True)
    assert SocialAccount.objects.get(user=user).provider == provider.provider_id
    assert client.get("/").status_code == 200
    assert security_log(acme)[-2:] == [
        f"Joined through single sign-on (Acme Okta) as Partner user of {acme.partner}",
        "Signed in with single sign-on (Acme Okta)",
    ]


def test_the_next_sign_in_finds_the_same_account(acme: World, oidc_idp) -> None:
    provider = oidc_provider_for(acme, oidc_idp)
    first, _ = oidc_sign_in(acme, provider, oidc_idp, "ana@partner.acme.test")
    again, response = oidc_sign_in(acme, provider, oidc_idp, "ana@partner.acme.test")
    assert response.status_code == 302
    assert signed_in_user(again) == signed_in_user(first)
    assert User.objects.filter(email="ana@partner.acme.test").count() == 1


def test_claims_choose_the_role_and_the_partner(acme: World, oidc_idp) -> None:
    provider = oidc_provider_for(
        acme,
        oidc_idp,
        role_claim="tierline_role",
        role_values={"channel-admin": Role.PARTNER_ADMIN, "channel-manager": Role.ACCOUNT_MANAGER},
        partner_claim="partner_id",
    )
    client, _ = oidc_sign_in(
        acme,
        provider,
        oidc_idp,
        "boss@partner.acme.test",
        role="channel-admin",
        partner=acme.unmanaged_partner.external_id,
    )
    with tenant_context(acme.tenant):
        membership = Membership.objects.get(user=signed_in_user(client))
    assert (membership.role, membership.partner) == (Role.PARTNER_ADMIN, acme.unmanaged_partner)
    # The role follows the provider at the next sign-in.
    oidc_sign_in(acme, provider, oidc_idp, "boss@partner.acme.test", role="channel-manager")
    with tenant_context(acme.tenant):
        membership.refresh_from_db()
    assert (membership.role, membership.partner) == (Role.ACCOUNT_MANAGER, None)


def test_an_unknown_partner_in_the_claims_is_refused(acme: World, oidc_idp) -> None:
    provider = oidc_provider_for(acme, oidc_idp, partner_claim="partner_id")
    client, response = oidc_sign_in(acme, provider, oidc_idp, "x@partner.acme.test", partner="NO-SUCH-PARTNER")
    assert response.status_code == 403
    assert not User.objects.filter(email="x@partner.acme.test").exists()


def test_an_email_outside_the_allowed_domains_is_refused(acme: World, oidc_idp) -> None:
    provider = oidc_provider_for(acme, oidc_idp)
    client, response = oidc_sign_in(acme, provider, oidc_idp, "mallory@elsewhere.test")
    assert response.status_code == 403
    assert b"its domain is not one it allows" in response.content
    assert signed_in_user(client) is None
    assert not User.objects.filter(email="mallory@elsewhere.test").exists()
    assert security_log(acme)[-1] == (
        "Refused single sign-on (Acme Okta): mallory@elsewhere.test is outside the allowed domains"
    )


@pytest.mark.parametrize("mode", ["issuer", "audience"])
def test_an_id_token_for_another_issuer_or_audience_is_refused(acme: World, oidc_idp, mode: str) -> None:
    provider = oidc_provider_for(acme, oidc_idp)
    oidc_idp.misbehave(mode)
    client, response = oidc_sign_in(acme, provider, oidc_idp, "ana@partner.acme.test")
    assert response.status_code == 401  # allauth's "third-party sign-in failed" page
    assert signed_in_user(client) is None
    assert not User.objects.filter(email="ana@partner.acme.test").exists()
    assert security_log(acme)[-1].startswith("Refused single sign-on (Acme Okta): the identity provider's answer")


def test_a_provider_exists_only_on_its_programs_host(acme: World, globex: World, oidc_idp) -> None:
    provider = oidc_provider_for(acme, oidc_idp, host=globex.host)
    assert oidc_start(Client(HTTP_HOST=globex.host), provider).status_code == 404
    assert oidc_start(Client(HTTP_HOST="localhost"), provider).status_code == 404
    assert b"Acme Okta" not in Client(HTTP_HOST=globex.host).get("/accounts/login/").content
    assert b"Sign in with Acme Okta" in Client(HTTP_HOST=acme.host).get("/accounts/login/").content


def test_a_callback_from_one_programs_provider_is_refused_on_another_host(acme, globex, oidc_idp) -> None:
    """Even registered for globex's host at the provider, acme's provider's answer makes no one a globex member."""
    provider = oidc_provider_for(acme, oidc_idp, host=globex.host)
    start = oidc_start(Client(HTTP_HOST=acme.host), provider)
    callback = urlsplit(oidc_idp.authorize(start["Location"], email="ana@partner.acme.test"))
    response = Client(HTTP_HOST=globex.host).get(f"{callback.path}?{callback.query}")
    assert response.status_code == 404
    assert not User.objects.filter(email="ana@partner.acme.test").exists()


def test_an_identity_from_one_program_never_joins_another(acme: World, globex: World, oidc_idp) -> None:
    """Globex's own provider allows acme's domain too: the person already belongs to acme, so globex's provider
    may not sign into (or add a membership to) that account; its owner links it with a password if they wish."""
    acme_provider = oidc_provider_for(acme, oidc_idp)
    client, _ = oidc_sign_in(acme, acme_provider, oidc_idp, "ana@partner.acme.test")
    ana = signed_in_user(client)
    globex_provider = oidc_provider_for(globex, oidc_idp, allowed_domains="partner.acme.test")
    globex_client, response = oidc_sign_in(globex, globex_provider, oidc_idp, "ana@partner.acme.test")
    assert response.status_code == 403
    assert b"already exists" in response.content
    assert signed_in_user(globex_client) is None
    with tenant_context(globex.tenant):
        assert not Membership.objects.filter(user=ana).exists()
    assert not SocialAccount.objects.filter(provider=globex_provider.provider_id).exists()


def test_an_existing_member_of_only_this_program_is_signed_into_their_account(acme: World, oidc_idp) -> None:
    provider = oidc_provider_for(acme, oidc_idp)
    client, response = oidc_sign_in(acme, provider, oidc_idp, acme.partner_user.email)
    assert response.status_code == 302
    assert signed_in_user(client) == acme.partner_user


def test_an_account_used_in_another_program_is_not_taken_over(acme: World, globex: World, oidc_idp) -> None:
    MembershipFactory(tenant=globex.tenant, user=acme.partner_user, role=Role.PARTNER_USER, partner=globex.partner)
    provider = oidc_provider_for(acme, oidc_idp)
    client, response = oidc_sign_in(acme, provider, oidc_idp, acme.partner_user.email)
    assert response.status_code == 403
    assert signed_in_user(client) is None
    assert not SocialAccount.objects.filter(user=acme.partner_user).exists()


def test_a_membership_the_program_ended_stays_ended(acme: World, oidc_idp) -> None:
    provider = oidc_provider_for(acme, oidc_idp)
    with tenant_context(acme.tenant):
        Membership.objects.filter(user=acme.partner_user).update(is_active=False)
    client, response = oidc_sign_in(acme, provider, oidc_idp, acme.partner_user.email)
    assert response.status_code == 403
    assert signed_in_user(client) is None
    with tenant_context(acme.tenant):
        assert not Membership.objects.get(user=acme.partner_user).is_active


def test_sso_required_refuses_staff_passwords_but_not_partners(acme: World, oidc_idp) -> None:
    oidc_provider_for(acme, oidc_idp, required_for_staff=True)
    staff = Client(HTTP_HOST=acme.host)
    response = staff.post("/accounts/login/", {"login": acme.account_manager.email, "password": PASSWORD}, follow=True)
    assert signed_in_user(staff) is None
    assert b"Program staff sign in to Acme Program with single sign-on." in response.content
    partner = Client(HTTP_HOST=acme.host)
    partner.post("/accounts/login/", {"login": acme.partner_user.email, "password": PASSWORD})
    assert signed_in_user(partner) == acme.partner_user


def test_sso_required_lets_staff_in_through_the_provider(acme: World, oidc_idp) -> None:
    provider = oidc_provider_for(acme, oidc_idp, required_for_staff=True)
    client, response = oidc_sign_in(acme, provider, oidc_idp, acme.account_manager.email)
    assert response.status_code == 302
    assert signed_in_user(client) == acme.account_manager


def test_staff_signed_in_by_the_provider_are_not_sent_to_set_up_totp(acme: World, oidc_idp, settings) -> None:
    settings.MFA_REQUIRED = True
    MembershipFactory(tenant=acme.tenant, user__email="pm2@acme.test", role=Role.PROGRAM_MANAGER, totp=False)
    provider = oidc_provider_for(acme, oidc_idp)
    client, _ = oidc_sign_in(acme, provider, oidc_idp, "pm2@acme.test")
    assert client.get("/program/").status_code == 200


def test_a_totp_the_person_set_up_is_still_asked_after_the_provider(acme: World, oidc_idp) -> None:
    provider = oidc_provider_for(acme, oidc_idp)
    client, response = oidc_sign_in(acme, provider, oidc_idp, acme.manager.email)
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert signed_in_user(client) is None


def test_sso_required_refuses_the_hand_off_for_staff(acme: World, oidc_idp) -> None:
    oidc_provider_for(acme, oidc_idp, required_for_staff=True)
    token = handoff_issue(user=acme.account_manager, tenant=acme.tenant)
    client = Client(HTTP_HOST=acme.host)
    response = client.get(f"/accounts/handoff/?token={token}")
    assert response["Location"] == "/accounts/login/"
    assert signed_in_user(client) is None


def test_an_account_in_several_programs_links_the_provider_signed_in_then_uses_it(acme, globex, oidc_idp) -> None:
    MembershipFactory(tenant=globex.tenant, user=acme.partner_user, role=Role.PARTNER_USER, partner=globex.partner)
    provider = oidc_provider_for(acme, oidc_idp)
    client = Client(HTTP_HOST=acme.host)
    client.post("/accounts/login/", {"login": acme.partner_user.email, "password": PASSWORD})
    assert b"Acme Okta" in client.get("/accounts/3rdparty/").content
    start = client.post(f"/accounts/oidc/{provider.provider_id}/login/", {"process": "connect"})
    callback = urlsplit(oidc_idp.authorize(start["Location"], email=acme.partner_user.email))
    # Linking an identity to the account is a change of how it signs in: the password is asked again first
    # (ACCOUNT_REAUTHENTICATION_REQUIRED), then allauth finishes the link it had put aside.
    assert client.get(f"{callback.path}?{callback.query}")["Location"] == "/accounts/reauthenticate/"
    assert not SocialAccount.objects.filter(user=acme.partner_user).exists()
    confirmed = client.post("/accounts/reauthenticate/", {"password": PASSWORD}, follow=True)
    assert confirmed.redirect_chain[-1][0] == "/accounts/3rdparty/"
    assert SocialAccount.objects.get(user=acme.partner_user).provider == provider.provider_id
    again, response = oidc_sign_in(acme, provider, oidc_idp, acme.partner_user.email)
    assert signed_in_user(again) == acme.partner_user
