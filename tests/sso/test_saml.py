"""Single sign-on with SAML 2.0 (issue 23, item 3): pysaml2 as the identity provider, really signing assertions."""

from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Membership, Role, User
from sso.models import IdentityProvider
from tests.conftest import World
from tests.sso.saml_idp import SSO_URL, SamlIdentityProvider
from tests.sso.support import security_log

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def saml_idp(tmp_path_factory) -> SamlIdentityProvider:
    return SamlIdentityProvider(tmp_path_factory.mktemp("saml-idp"))


@pytest.fixture(scope="module")
def impostor(tmp_path_factory) -> SamlIdentityProvider:
    """Same entity id, another key: what a forged assertion is signed with."""
    return SamlIdentityProvider(tmp_path_factory.mktemp("saml-impostor"))


def saml_provider_for(world: World, idp: SamlIdentityProvider, **fields) -> IdentityProvider:
    slug = world.tenant.slug
    values = {
        "name": f"{slug.title()} SAML",
        "protocol": IdentityProvider.Protocol.SAML,
        "saml_entity_id": idp.entity_id,
        "saml_sso_url": SSO_URL,
        "saml_certificate": idp.certificate,
        "allowed_domains": f"partner.{slug}.test",
        "default_role": Role.PARTNER_USER,
        "default_partner": world.partner,
        **fields,
    }
    with tenant_context(world.tenant):
        provider = IdentityProvider(**values)
        provider.full_clean()
        provider.save()
    return provider


def saml_start(client: Client, provider: IdentityProvider) -> tuple[str, str]:
    """Our SP metadata (as the IdP's administrator loads it) and the redirect to the IdP with our AuthnRequest."""
    metadata = client.get(f"/accounts/saml/{provider.provider_id}/metadata/")
    assert metadata.status_code == 200
    start = client.post(f"/accounts/saml/{provider.provider_id}/login/")
    assert start.status_code == 302
    assert start["Location"].startswith(SSO_URL)
    return metadata.content.decode(), start["Location"]


def post_to_acs(client: Client, acs_url: str, body: dict):
    acs = urlsplit(acs_url)
    response = client.post(acs.path, body)
    assert response.status_code == 302  # allauth hands the POST over to a same-site GET (SameSite cookies)
    return client.get(response["Location"])


def saml_sign_in(world: World, provider: IdentityProvider, idp: SamlIdentityProvider, email: str, **options):
    client = Client(HTTP_HOST=world.host)
    metadata, redirect = saml_start(client, provider)
    acs_url, body = idp.answer(redirect, sp_metadata=metadata, email=email, uid=options.pop("uid", email), **options)
    assert urlsplit(acs_url).hostname == world.host
    return client, post_to_acs(client, acs_url, body)


def signed_in_user(client: Client):
    return User.objects.filter(pk=client.session.get("_auth_user_id")).first()


def test_a_signed_assertion_signs_a_new_person_in_and_they_join(acme: World, saml_idp) -> None:
    provider = saml_provider_for(acme, saml_idp)
    client, response = saml_sign_in(acme, provider, saml_idp, "lucia@partner.acme.test", uid="00u-lucia")
    assert (response.status_code, response["Location"]) == (302, "/")
    user = signed_in_user(client)
    assert (user.email, user.first_name) == ("lucia@partner.acme.test", "Lucía")
    account = SocialAccount.objects.get(user=user)
    assert (account.provider, account.uid) == (provider.provider_id, "00u-lucia")
    with tenant_context(acme.tenant):
        membership = Membership.objects.get(user=user)
    assert (membership.role, membership.partner) == (Role.PARTNER_USER, acme.partner)
    assert security_log(acme)[-1] == "Signed in with single sign-on (Acme SAML)"


def test_an_attribute_chooses_the_role(acme: World, saml_idp) -> None:
    provider = saml_provider_for(
        acme, saml_idp, role_claim="tierline_role", role_values={"channel-admin": Role.PARTNER_ADMIN}
    )
    client, _ = saml_sign_in(
        acme, provider, saml_idp, "boss@partner.acme.test", extra={"tierline_role": ["channel-admin"]}
    )
    with tenant_context(acme.tenant):
        assert Membership.objects.get(user=signed_in_user(client)).role == Role.PARTNER_ADMIN


def test_an_assertion_signed_with_another_key_is_refused(acme: World, saml_idp, impostor) -> None:
    provider = saml_provider_for(acme, saml_idp)
    client, response = saml_sign_in(acme, provider, saml_idp, "lucia@partner.acme.test", sign_with=impostor)
    assert response.status_code == 401
    assert signed_in_user(client) is None
    assert not User.objects.filter(email="lucia@partner.acme.test").exists()
    assert security_log(acme)[-1].startswith("Refused single sign-on (Acme SAML): the identity provider's answer")


def test_an_email_outside_the_allowed_domains_is_refused(acme: World, saml_idp) -> None:
    provider = saml_provider_for(acme, saml_idp)
    client, response = saml_sign_in(acme, provider, saml_idp, "mallory@acme.test")
    assert response.status_code == 403
    assert signed_in_user(client) is None
    assert not User.objects.filter(email="mallory@acme.test").exists()


def test_a_response_replayed_is_refused(acme: World, saml_idp) -> None:
    provider = saml_provider_for(acme, saml_idp)
    client = Client(HTTP_HOST=acme.host)
    metadata, redirect = saml_start(client, provider)
    acs_url, body = saml_idp.answer(redirect, sp_metadata=metadata, email="lucia@partner.acme.test", uid="u1")
    assert post_to_acs(client, acs_url, body)["Location"] == "/"
    thief = Client(HTTP_HOST=acme.host)
    response = post_to_acs(thief, acs_url, body)
    assert response.status_code in {401, 403}
    assert signed_in_user(thief) is None


def test_a_programs_saml_endpoints_do_not_exist_on_another_host(acme: World, globex: World, saml_idp) -> None:
    provider = saml_provider_for(acme, saml_idp)
    client = Client(HTTP_HOST=acme.host)
    metadata, redirect = saml_start(client, provider)
    acs_url, body = saml_idp.answer(redirect, sp_metadata=metadata, email="lucia@partner.acme.test", uid="u1")
    elsewhere = Client(HTTP_HOST=globex.host)
    assert elsewhere.get(f"/accounts/saml/{provider.provider_id}/metadata/").status_code == 404
    assert elsewhere.post(f"/accounts/saml/{provider.provider_id}/login/").status_code == 404
    response = elsewhere.post(urlsplit(acs_url).path, body)
    assert elsewhere.get(response["Location"]).status_code == 404
    assert not User.objects.filter(email="lucia@partner.acme.test").exists()
