"""Attacks tried against Tierline as a vendor's users and integrators could: each refused, nothing written.

The rest of the list lives beside what it attacks: cross-tenant reads and writes (tests/tenancy/test_rls.py,
tests/api/test_access_matrix.py, tests/tenancy/test_portal_access.py), IDOR on partner objects (the portal and
API tests: another partner's claim, redemption or notification is a 404), privilege escalation by invitation
(tests/portal/test_team.py), CSV injection (tests/test_exports.py), oversize uploads (tests/test_uploads.py),
brute force (tests/tenancy/test_security_login.py). Here: CSRF, mass assignment and stored XSS.
"""

import re

import pytest
from django.test import Client

from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.context import tenant_context
from partners.models import Partner
from rewards.models import Redemption, Reward
from tests.api.conftest import api_client, make_key
from tests.conftest import World
from tests.rewards.factories import RewardFactory, give_points

pytestmark = pytest.mark.django_db

PAYLOAD = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def balance(world: World) -> int:
    with tenant_context(world.tenant):
        return sum(LedgerEntry.objects.filter(account__partner=world.partner).values_list("points", flat=True))


@pytest.fixture
def acme_api(acme: World) -> Client:
    return api_client(acme, make_key(acme)[1])


@pytest.fixture
def mug(acme: World) -> Reward:
    with tenant_context(acme.tenant):
        give_points(acme.partner, 500, "welcome")
        return RewardFactory(name="Mug", points_cost=100)


def test_a_cross_site_redeem_without_the_csrf_token_is_refused_and_spends_nothing(acme: World, mug: Reward) -> None:
    client = Client(HTTP_HOST=acme.host, enforce_csrf_checks=True)
    client.force_login(acme.partner_admin)
    form = client.get(f"/rewards/{mug.pk}/redeem/", {"quantity": 1}, follow=True)
    key = form.context["intent"]

    forged = client.post(f"/rewards/{mug.pk}/redeem/", {"quantity": 1, "idempotency_key": key, "points": 100})
    assert forged.status_code == 403
    with tenant_context(acme.tenant):
        assert not Redemption.objects.exists()
    assert balance(acme) == 500

    # The same post with the page's token goes through: the refusal above is the CSRF check, not a broken form.
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.content.decode()).group(1)
    genuine = client.post(
        f"/rewards/{mug.pk}/redeem/",
        {"quantity": 1, "idempotency_key": key, "points": 100, "csrfmiddlewaretoken": token},
    )
    assert genuine.status_code == 302
    assert balance(acme) == 400


def test_mass_assignment_through_the_api_sets_only_the_declared_fields(
    acme: World, globex: World, acme_api: Client
) -> None:
    body = {
        "name": "Nordic Net",
        "partner_type": acme.partner_type.code,
        # Not fields of the upsert: a caller trying to move the row, take another's id or mint points.
        "tenant": globex.tenant.pk,
        "tenant_id": globex.tenant.pk,
        "id": globex.partner.pk,
        "balance": 1_000_000,
        "points": 1_000_000,
    }
    response = acme_api.put("/api/v1/partners/CRM-X/", body, content_type="application/json")
    assert response.status_code == 201
    created = Partner.all_tenants.get(external_id="CRM-X")
    assert (created.tenant_id, created.name) == (acme.tenant.pk, "Nordic Net")
    assert created.pk != globex.partner.pk
    assert Partner.all_tenants.get(pk=globex.partner.pk).name == globex.partner.name
    assert not LedgerEntry.all_tenants.filter(account__partner=created).exists()


def test_script_in_a_partner_name_is_shown_as_text_everywhere_staff_read_it(
    acme: World, acme_api: Client, client_for
) -> None:
    body = {"name": PAYLOAD, "partner_type": acme.partner_type.code, "account_manager": acme.account_manager.email}
    assert acme_api.put("/api/v1/partners/CRM-XSS/", body, content_type="application/json").status_code == 201
    partner = Partner.all_tenants.get(external_id="CRM-XSS")
    pages = {
        "/portfolio/": client_for(acme, acme.account_manager),
        f"/portfolio/{partner.pk}/": client_for(acme, acme.account_manager),
        "/admin/partners/partner/": client_for(acme, acme.manager),
        f"/admin/partners/partner/{partner.pk}/change/": client_for(acme, acme.manager),
    }
    for path, client in pages.items():
        page = client.get(path).content.decode()
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page, path
        assert "<script>alert(2)" not in page, path
        assert '<img src=x onerror="alert(1)">' not in page, path
