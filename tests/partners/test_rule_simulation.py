"""Issue 18, item 5: a draft earning rule or a SPIFF tried on the last months' activities before it is switched on:
points it would have paid, to whom, the cost in money; nothing posted. Hand-computed figures."""

from datetime import timedelta
from decimal import Decimal

import pytest

from earning.models import EarningRule
from earning.simulation import rule_simulate
from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.partners.helpers import sales_rule
from tests.tiers.factories import activity, sale, today


@pytest.fixture
def spiff(acme: World) -> EarningRule:
    """10 points per 100 USD of sales, at most 150 a month per partner, next quarter only, switched off."""
    rule = sales_rule(
        acme,
        name="Winter SPIFF",
        rate=Decimal("0.1"),
        cap_points=150,
        cap_period=EarningRule.CapPeriod.MONTH,
        valid_from=today() + timedelta(days=30),
        valid_until=today() + timedelta(days=120),
        is_active=False,
    )
    with tenant_context(acme.tenant):
        first_of_month = today().replace(day=1)
        sale(acme.partner, first_of_month, "1000")  # 100 points
        sale(acme.partner, first_of_month, "800")  # 80, capped to 50 (150 a month)
        sale(acme.partner, first_of_month - timedelta(days=20), "700")  # 70, last month: its own cap
        sale(acme.unmanaged_partner, first_of_month, "300")  # 30
        sale(acme.unmanaged_partner, today() - timedelta(days=200), "5000")  # outside 3 months
        sale(acme.unmanaged_partner, first_of_month, "900", status="pending")  # not approved
        activity(acme.unmanaged_partner, "training", first_of_month)  # another kind
    return rule


def test_a_spiff_is_tried_on_the_last_months_with_its_cap_and_costed(acme: World, spiff: EarningRule) -> None:
    acme.tenant.point_value = Decimal("0.05")
    acme.tenant.save(update_fields=["point_value"])
    with tenant_context(acme.tenant):
        result = rule_simulate(rule=spiff, months=3)
        assert (result.activities, result.matched, result.points, result.capped) == (4, 4, 250, 30)
        assert result.cost == Decimal("12.50")
        assert [(p.name, p.activities, p.points, p.capped) for p in result.partners] == [
            ("Acme Partner One", 3, 220, 30),
            ("Acme Partner Two", 1, 30, 0),
        ]
        assert not LedgerEntry.objects.exists()


def test_the_admin_page_shows_the_payout_and_refuses_nonsense(acme: World, client_for, spiff: EarningRule) -> None:
    client = client_for(acme, acme.manager)
    change = client.get(f"/admin/earning/earningrule/{spiff.pk}/change/").content.decode()
    assert f'href="/admin/earning/earningrule/{spiff.pk}/simulate/"' in change
    page = client.get(f"/admin/earning/earningrule/{spiff.pk}/simulate/?months=3")
    text = page.content.decode()
    assert "250 points to 2 partners" in text
    assert "The cap holds back 30 points." in text
    for months in ("0", "37", "1e9", "abc", "3\x00"):
        response = client.get(f"/admin/earning/earningrule/{spiff.pk}/simulate/", {"months": months})
        assert response.status_code == 200
        assert response.context["result"] is None
        assert response.context["form"].errors["months"]
    with tenant_context(acme.tenant):
        assert not LedgerEntry.objects.exists()


def test_other_roles_and_tenants_cannot_simulate(acme: World, globex: World, client_for, spiff: EarningRule) -> None:
    url = f"/admin/earning/earningrule/{spiff.pk}/simulate/"
    for user in (acme.account_manager, acme.partner_admin, acme.partner_user, acme.finance):
        assert client_for(acme, user).get(url).status_code == 403
    assert client_for(globex, globex.manager).get(url).status_code == 404
