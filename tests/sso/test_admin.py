"""Identity providers are configured by the program's staff (tenant admin) or the platform admin (issue 23, item 3)."""

import pytest
from django.test import Client

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry, Role
from sso.models import IdentityProvider
from tests.conftest import World

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Acme Entra",
    "protocol": "oidc",
    "is_active": "on",
    "issuer": "https://login.acme.test/v2.0",
    "client_id": "tierline",
    "client_secret": "s3cret",
    "allowed_domains": "acme.test\npartner.acme.test",
    "default_role": Role.ACCOUNT_MANAGER,
    "role_values": "{}",
}


def make_provider(world: World, **fields) -> IdentityProvider:
    with tenant_context(world.tenant):
        values = {**FORM, "is_active": True, "name": f"{world.tenant.slug} IdP", **fields}
        return IdentityProvider.objects.create(**values)


def test_program_staff_add_an_identity_provider_and_it_is_logged(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    assert client.get("/admin/sso/identityprovider/add/").status_code == 200
    response = client.post("/admin/sso/identityprovider/add/", FORM)
    assert response.status_code == 302, response.context["adminform"].form.errors
    with tenant_context(acme.tenant):
        provider = IdentityProvider.objects.get()
        assert provider.domains == ["acme.test", "partner.acme.test"]
        entry = AuditEntry.objects.filter(category=AuditEntry.Category.SSO).get()
    assert entry.actor == acme.manager
    page = client.get(f"/admin/sso/identityprovider/{provider.pk}/change/")
    assert f"/accounts/oidc/{provider.provider_id}/login/callback/".encode() in page.content


def test_the_saved_client_secret_is_never_shown_and_a_blank_keeps_it(acme: World, client_for) -> None:
    provider = make_provider(acme)
    client = client_for(acme, acme.manager)
    change = f"/admin/sso/identityprovider/{provider.pk}/change/"
    page = client.get(change).content.decode()
    assert "s3cret" not in page
    assert "Saved (not shown). Leave blank to keep it" in page
    unchanged = FORM | {"name": provider.name, "client_secret": ""}
    assert client.post(change, unchanged).status_code == 302
    with tenant_context(acme.tenant):
        assert IdentityProvider.objects.get(pk=provider.pk).client_secret == "s3cret"
    assert client.post(change, unchanged | {"client_secret": "n3w-secret"}).status_code == 302
    with tenant_context(acme.tenant):
        assert IdentityProvider.objects.get(pk=provider.pk).client_secret == "n3w-secret"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"allowed_domains": "not a domain"}, "allowed_domains"),
        ({"issuer": ""}, "issuer"),
        ({"default_role": Role.PARTNER_USER}, "default_partner"),
        ({"default_role": Role.OWNER}, "default_role"),
        ({"role_values": '{"boss": "owner"}'}, "role_values"),
        ({"protocol": "saml"}, "saml_entity_id"),
    ],
)
def test_a_provider_that_cannot_work_is_refused_with_a_field_error(acme, client_for, changes, field) -> None:
    response = client_for(acme, acme.manager).post("/admin/sso/identityprovider/add/", FORM | changes)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    with tenant_context(acme.tenant):
        assert not IdentityProvider.objects.exists()


def test_another_programs_provider_is_not_found(acme: World, globex: World, client_for) -> None:
    provider = make_provider(globex)
    client = client_for(acme, acme.manager)
    assert client.get(f"/admin/sso/identityprovider/{provider.pk}/change/").status_code == 302  # "not found", back
    assert b"globex IdP" not in client.get("/admin/sso/identityprovider/").content


@pytest.mark.parametrize("role", [Role.PARTNER_ADMIN, Role.ACCOUNT_MANAGER, Role.FINANCE])
def test_only_program_managers_and_owners_configure_it(acme: World, client_for, role: Role) -> None:
    assert client_for(acme, acme.user_for(role)).get("/admin/sso/identityprovider/").status_code == 403


def test_the_platform_admin_sets_one_up_for_a_program(acme: World, django_user_model) -> None:
    superuser = django_user_model.objects.create_superuser("root@tierline.test", "pw")
    client = Client(HTTP_HOST="localhost")
    client.force_login(superuser)
    assert client.get("/admin/sso/identityprovider/add/").status_code == 200
    response = client.post("/admin/sso/identityprovider/add/", FORM | {"program": acme.tenant.pk})
    assert response.status_code == 302, response.context["adminform"].form.errors
    provider = IdentityProvider.all_tenants.get()
    assert provider.tenant == acme.tenant
    assert b"Acme Entra" in client.get("/admin/sso/identityprovider/").content
    with tenant_context(acme.tenant):
        assert AuditEntry.objects.filter(category=AuditEntry.Category.SSO, actor=superuser).exists()
