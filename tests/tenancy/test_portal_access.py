"""Roles on the tenant home page: members see what their role allows; others are refused."""

import pytest
from django.test import Client

from loyalty.tenancy.models import Membership, Role
from tests.conftest import World


def test_anonymous_visitor_is_sent_to_sign_in(acme: World) -> None:
    response = Client(HTTP_HOST=acme.host).get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_signed_in_outsider_is_refused(acme: World, outsider, client_for) -> None:
    response = client_for(acme, outsider).get("/")
    assert response.status_code == 403
    assert b"Acme Partner" not in response.content


def test_member_of_another_tenant_is_refused(acme: World, globex: World, client_for) -> None:
    response = client_for(acme, globex.owner).get("/")
    assert response.status_code == 403
    assert b"Acme Partner" not in response.content


def test_deactivated_member_is_refused(acme: World, client_for) -> None:
    Membership.all_tenants.filter(user=acme.partner_user).update(is_active=False)
    assert client_for(acme, acme.partner_user).get("/").status_code == 403


@pytest.mark.parametrize("role", [Role.PARTNER_ADMIN, Role.PARTNER_USER])
def test_partner_members_see_their_own_partner_only(acme: World, client_for, role: Role) -> None:
    response = client_for(acme, acme.user_for(role)).get("/")
    assert response.status_code == 200
    assert b"Acme Partner One" in response.content
    assert b"Acme Partner Two" not in response.content


def test_account_manager_sees_only_assigned_partners(acme: World, client_for) -> None:
    response = client_for(acme, acme.account_manager).get("/", follow=True)
    assert response.redirect_chain == [("/portfolio/", 302)]
    assert response.context["total"] == 1
    assert b"Acme Partner One" in response.content
    assert b"Acme Partner Two" not in response.content


@pytest.mark.parametrize("role", [Role.PROGRAM_MANAGER, Role.OWNER])
def test_program_staff_see_every_partner_and_the_admin_link(acme: World, globex: World, client_for, role) -> None:
    client = client_for(acme, acme.user_for(role))
    assert client.get("/", follow=True).redirect_chain == [("/program/", 302)]
    response = client.get("/portfolio/")
    assert response.context["total"] == 2
    assert b"Acme Partner One" in response.content
    assert b"Acme Partner Two" in response.content
    assert b"Globex" not in response.content
    assert b'href="/admin/"' in response.content


def test_home_page_query_count_is_constant(acme: World, client_for, django_assert_max_num_queries) -> None:
    client = client_for(acme, acme.manager)
    # tenant by host, session, user, membership; then the redirect to the program dashboard
    with django_assert_max_num_queries(4):
        assert client.get("/").status_code == 302
