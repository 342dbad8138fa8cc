"""The tenant admin: open to program managers and owners of the host's tenant only, scoped to it throughout."""

import pytest
from django.test import Client

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from partners.models import Partner
from tests.conftest import World

ADMIN_PAGES = [
    "/admin/",
    "/admin/partners/partner/",
    "/admin/partners/partner/add/",
    "/admin/partners/partnertype/",
    "/admin/tenancy/membership/",
    "/admin/tenancy/invitation/",
    "/admin/tenancy/invitation/add/",
]


@pytest.mark.parametrize("path", ADMIN_PAGES)
@pytest.mark.parametrize("role", [Role.PROGRAM_MANAGER, Role.OWNER])
def test_program_staff_open_every_admin_page(acme: World, client_for, role: Role, path: str) -> None:
    assert client_for(acme, acme.user_for(role)).get(path).status_code == 200


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER, Role.FINANCE])
def test_other_roles_are_refused(acme: World, client_for, role: Role) -> None:
    client = client_for(acme, acme.user_for(role))
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/partners/partner/").status_code == 403


def test_anonymous_visitor_is_sent_to_sign_in(acme: World) -> None:
    response = Client(HTTP_HOST=acme.host).get("/admin/partners/partner/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")
    assert response.status_code == 200


def test_another_tenants_program_manager_is_refused(acme: World, globex: World, client_for) -> None:
    assert client_for(acme, globex.manager).get("/admin/").status_code == 403


def test_platform_superuser_without_membership_is_refused(acme: World, client_for, django_user_model) -> None:
    superuser = django_user_model.objects.create_superuser("root@tierline.test", "pw")
    assert client_for(acme, superuser).get("/admin/").status_code == 403


def test_changelist_lists_only_this_tenants_partners(acme: World, globex: World, client_for) -> None:
    response = client_for(acme, acme.manager).get("/admin/partners/partner/")
    names = {partner.name for partner in response.context["cl"].result_list}
    assert names == {"Acme Partner One", "Acme Partner Two"}


def test_another_tenants_object_cannot_be_opened(acme: World, globex: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    response = client.get(f"/admin/partners/partner/{globex.partner.pk}/change/")
    # The admin answers a missing object by redirecting to its index with "doesn't exist".
    assert response.status_code == 302
    assert b"Globex" not in client.get(response["Location"]).content
    assert client.post(f"/admin/partners/partner/{globex.partner.pk}/delete/", {"post": "yes"}).status_code == 302
    assert Partner.all_tenants.filter(pk=globex.partner.pk).exists()


def test_foreign_key_choices_are_scoped(acme: World, globex: World, client_for) -> None:
    form = client_for(acme, acme.manager).get("/admin/partners/partner/add/").context["adminform"].form
    assert list(form.fields["partner_type"].queryset) == [acme.partner_type]
    # Account managers: only this tenant's active account managers, never users of other programs.
    assert list(form.fields["account_manager"].queryset) == [acme.account_manager]
    invitation_form = client_for(acme, acme.manager).get("/admin/tenancy/invitation/add/").context["adminform"].form
    assert set(invitation_form.fields["partner"].queryset) == {acme.partner, acme.unmanaged_partner}


def test_posting_another_tenants_choice_is_rejected_and_writes_nothing(acme: World, globex: World, client_for) -> None:
    response = client_for(acme, acme.manager).post(
        "/admin/partners/partner/add/",
        {
            "external_id": "NEW-1",
            "name": "Smuggled",
            "partner_type": globex.partner_type.pk,
            "account_manager": globex.account_manager.pk,
            "joined_at": "2026-01-01",
            "status": "active",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"partner_type", "account_manager"}
    assert not Partner.all_tenants.filter(external_id="NEW-1").exists()


def test_adding_a_partner_saves_it_in_the_current_tenant(acme: World, client_for) -> None:
    response = client_for(acme, acme.manager).post(
        "/admin/partners/partner/add/",
        {
            "external_id": "NEW-2",
            "name": "Fresh Reseller",
            "partner_type": acme.partner_type.pk,
            "account_manager": acme.account_manager.pk,
            "joined_at": "2026-01-01",
            "status": "active",
        },
    )
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        partner = Partner.objects.get(external_id="NEW-2")
    assert partner.tenant_id == acme.tenant.pk
    assert partner.account_manager == acme.account_manager


def test_platform_admin_is_for_superusers_on_the_bare_host(acme: World, django_user_model) -> None:
    superuser = django_user_model.objects.create_superuser("root@tierline.test", "pw")
    client = Client(HTTP_HOST="localhost")
    client.force_login(superuser)
    assert client.get("/admin/tenancy/tenant/").status_code == 200
    staff = Client(HTTP_HOST="localhost")
    staff.force_login(acme.manager)
    assert staff.get("/admin/tenancy/tenant/").status_code == 302
