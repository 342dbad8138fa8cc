"""Deal registration through the API: a CRM registers (conflicts in the answer, a resend returns the first), reads,
and closes as won (one approved sale, points once) or lost; bad input is a field error with nothing written.
Access (scopes, other tenants, portal sessions) is in test_access_matrix.py, which covers these endpoints too."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from deals.models import DealRegistration
from deals.services import deal_approve
from loyalty.tenancy.context import tenant_context
from partners.models import Activity
from tests.conftest import World
from tests.partners.helpers import balance_of, sales_rule

TODAY = timezone.localdate()


def registration(world: World, **overrides) -> dict:
    return {
        "partner": world.partner.external_id,
        "external_id": "OPP-1",
        "customer": {"name": "ACME Corp.", "domain": "https://www.acme-customer.com/", "country": "US"},
        "contact_name": "Ana",
        "contact_email": "ana@acme-customer.com",
        "products": "Switches",
        "amount": "25000.00",
        "currency": "USD",
        "expected_close": (TODAY + timedelta(days=60)).isoformat(),
    } | overrides


def post(client: Client, url: str, body: dict, **headers):
    return client.post(url, body, content_type="application/json", **headers)


def test_a_crm_registers_a_deal_and_a_resend_returns_the_first(acme: World, acme_api: Client) -> None:
    response = post(acme_api, "/api/v1/deals/", registration(acme))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["source"], body["partner"], body["external_id"]) == (
        "submitted",
        "api",
        acme.partner.external_id,
        "OPP-1",
    )
    assert body["customer"] == {"name": "ACME Corp.", "domain": "acme-customer.com", "country": "US", "tax_id": ""}
    assert body["reference"] == f"DR-{body['id']:06d}"

    again = post(acme_api, "/api/v1/deals/", registration(acme, amount="1.00"))
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert again.json()["amount"] == "25000.00"
    with tenant_context(acme.tenant):
        assert DealRegistration.objects.count() == 1

    listed = acme_api.get("/api/v1/deals/?status=submitted&partner=" + acme.partner.external_id).json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]
    assert acme_api.get(f"/api/v1/deals/{body['id']}/").json()["customer"]["name"] == "ACME Corp."


def test_the_answer_lists_conflicts_with_rule_and_score(acme: World, acme_api: Client) -> None:
    first = post(acme_api, "/api/v1/deals/", registration(acme, partner=acme.unmanaged_partner.external_id)).json()
    second = post(
        acme_api,
        "/api/v1/deals/",
        registration(acme, external_id="OPP-2", customer={"name": "Acme Corporation"}),
    ).json()
    assert second["conflicts"] == [{"deal": first["id"], "rule": "name", "score": "1.000", "same_partner": False}]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": "-5"}, "amount"),
        ({"amount": "1e30"}, "amount"),
        ({"currency": "usd"}, "currency"),
        ({"expected_close": "9999-12-31"}, "expected_close"),
        ({"expected_close": (TODAY - timedelta(days=1)).isoformat()}, "expected_close"),
        ({"customer": {"name": "<b>x</b>", "domain": "not a domain"}}, "customer_domain"),
        ({"customer": {"name": "Acme", "country": "XX"}}, "customer.country"),
        ({"customer": {"name": "Acme\u0000"}}, "customer.name"),
        ({"contact_email": "nobody"}, "contact_email"),
        ({"partner": "NO-SUCH"}, "partner"),
        ({"external_id": ""}, "external_id"),
    ],
)
def test_bad_input_is_a_field_error_and_writes_nothing(
    acme: World, acme_api: Client, overrides: dict, field: str
) -> None:
    response = post(acme_api, "/api/v1/deals/", registration(acme, **overrides))
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    with tenant_context(acme.tenant):
        assert not DealRegistration.objects.exists()


def approved_deal(world: World, client: Client) -> int:
    deal_id = post(client, "/api/v1/deals/", registration(world)).json()["id"]
    with tenant_context(world.tenant):
        deal_approve(deal=DealRegistration.objects.get(pk=deal_id), actor=world.manager)
    return deal_id


def test_won_from_the_crm_records_one_approved_sale_that_earns_once(acme: World, acme_api: Client) -> None:
    sales_rule(acme)
    deal_id = approved_deal(acme, acme_api)
    won = {"invoice_number": "INV-77", "invoice_date": TODAY.isoformat(), "amount": "24000.00"}
    response = post(acme_api, f"/api/v1/deals/{deal_id}/won/", won)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "won"
    # A replay (no idempotency key) and a double post find it won and linked.
    assert (
        post(acme_api, f"/api/v1/deals/{deal_id}/won/", won).json()["sale_activity"] == response.json()["sale_activity"]
    )
    with tenant_context(acme.tenant):
        sale = Activity.objects.get(pk=response.json()["sale_activity"])
        assert Activity.objects.filter(kind="sale").count() == 1
    assert (sale.status, sale.source, sale.external_id, str(sale.amount)) == (
        "approved",
        "api",
        f"deal:{deal_id}",
        "24000.00",
    )
    assert balance_of(acme) == 24000


def test_won_refuses_a_future_invoice_and_an_unapproved_registration(acme: World, acme_api: Client) -> None:
    deal_id = post(acme_api, "/api/v1/deals/", registration(acme)).json()["id"]
    won = {"invoice_number": "INV-1", "invoice_date": TODAY.isoformat(), "amount": "10.00"}
    refused = post(acme_api, f"/api/v1/deals/{deal_id}/won/", won)
    assert refused.status_code == 400
    assert "cannot become won" in refused.content.decode()
    with tenant_context(acme.tenant):
        deal_approve(deal=DealRegistration.objects.get(pk=deal_id), actor=acme.manager)
    future = post(
        acme_api, f"/api/v1/deals/{deal_id}/won/", won | {"invoice_date": (TODAY + timedelta(days=2)).isoformat()}
    )
    assert future.status_code == 400
    assert "invoice_date" in future.json()["error"]["fields"]
    with tenant_context(acme.tenant):
        assert DealRegistration.objects.get(pk=deal_id).status == "approved"
        assert not Activity.objects.exists()


def test_lost_needs_a_reason_and_says_it_came_through_the_api(acme: World, acme_api: Client) -> None:
    deal_id = approved_deal(acme, acme_api)
    assert post(acme_api, f"/api/v1/deals/{deal_id}/lost/", {"reason": ""}).status_code == 400
    response = post(acme_api, f"/api/v1/deals/{deal_id}/lost/", {"reason": "Budget cut"})
    assert response.json()["status"] == "lost"
    with tenant_context(acme.tenant):
        event = DealRegistration.objects.get(pk=deal_id).events.last()
    assert event.reason.startswith("Budget cut (via API key")
