"""Earning rules: which rules match an activity, how many points, campaign windows and caps."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from earning.models import EarningRule
from earning.services import activity_approve, activity_reject, cap_period_bounds
from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.context import tenant_context
from partners.models import Activity
from partners.services import activity_record
from tests.conftest import World
from tests.factories import PartnerTypeFactory
from tests.partners.helpers import balance_of, sales_rule


def approve(world: World, external_id: str, **overrides) -> list[LedgerEntry]:
    fields = {
        "partner": world.partner,
        "kind": "sale",
        "occurred_at": timezone.now() - timedelta(hours=1),
        "source": Activity.Source.API,
        "amount": Decimal("999.99"),
        "currency": "USD",
        "external_id": external_id,
    } | overrides
    with tenant_context(world.tenant):
        activity = activity_record(**fields).activity
        return activity_approve(activity=activity, actor=world.manager)


def test_per_currency_unit_rounds_down(acme: World) -> None:
    sales_rule(acme, rate=Decimal("0.5"))
    assert [entry.points for entry in approve(acme, "A")] == [499]


def test_per_quantity_and_per_activity(acme: World) -> None:
    sales_rule(acme, name="Per seat", basis=EarningRule.Basis.PER_QUANTITY, rate=Decimal(3))
    sales_rule(acme, name="Flat", basis=EarningRule.Basis.PER_ACTIVITY, rate=Decimal(50))
    entries = approve(acme, "A", quantity=7)
    assert sorted((entry.memo, entry.points) for entry in entries) == [("Flat", 50), ("Per seat", 21)]


@pytest.mark.parametrize(
    ("conditions", "earns"),
    [
        ({"product_categories": ["switches"]}, True),
        ({"product_categories": ["routers"]}, False),
        ({"minimum_amount": Decimal("999.99")}, True),
        ({"minimum_amount": Decimal("1000")}, False),
        ({"code": "SKU-CAMPAIGN"}, False),
        ({"is_active": False}, False),
    ],
)
def test_rule_conditions(acme: World, conditions: dict, earns: bool) -> None:
    sales_rule(acme, **conditions)
    entries = approve(acme, "A", product_category="switches")
    assert bool(entries) is earns
    assert balance_of(acme) == (999 if earns else 0)


def test_partner_type_condition(acme: World) -> None:
    rule = sales_rule(acme)
    with tenant_context(acme.tenant):
        rule.partner_types.add(PartnerTypeFactory(tenant=acme.tenant, code="installer"))
    assert approve(acme, "A") == []
    with tenant_context(acme.tenant):
        rule.partner_types.add(acme.partner_type)
    assert [entry.points for entry in approve(acme, "B")] == [999]


def test_campaign_window_applies_to_the_activity_date(acme: World) -> None:
    today = timezone.localdate()
    sales_rule(acme, name="SPIFF", valid_from=today - timedelta(days=10), valid_until=today - timedelta(days=5))
    assert approve(acme, "inside", occurred_at=timezone.now() - timedelta(days=7)) != []
    assert approve(acme, "after", occurred_at=timezone.now()) == []


def test_base_rule_and_spiff_both_post_once_each(acme: World) -> None:
    sales_rule(acme, name="Base")
    sales_rule(acme, name="SPIFF", basis=EarningRule.Basis.PER_ACTIVITY, rate=Decimal(250))
    entries = approve(acme, "A")
    assert sorted(entry.points for entry in entries) == [250, 999]
    assert len({entry.idempotency_key for entry in entries}) == 2


def test_monthly_cap_limits_points_per_partner(acme: World) -> None:
    sales_rule(acme, cap_points=1500, cap_period=EarningRule.CapPeriod.MONTH)
    moment = datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert [entry.points for entry in approve(acme, "A", occurred_at=moment)] == [999]
    assert [entry.points for entry in approve(acme, "B", occurred_at=moment + timedelta(days=1))] == [501]
    assert approve(acme, "C", occurred_at=moment + timedelta(days=2)) == []
    # Next month starts afresh; another partner has its own cap.
    assert [entry.points for entry in approve(acme, "D", occurred_at=moment + timedelta(days=25))] == [999]
    other = approve(acme, "E", occurred_at=moment, partner=acme.unmanaged_partner)
    assert [entry.points for entry in other] == [999]


def test_a_reversal_frees_room_under_the_cap(acme: World) -> None:
    sales_rule(acme, cap_points=1000, cap_period=EarningRule.CapPeriod.YEAR)
    moment = datetime(2026, 3, 10, 12, tzinfo=UTC)
    approve(acme, "A", occurred_at=moment)
    with tenant_context(acme.tenant):
        activity_reject(activity=Activity.objects.get(external_id="A"), actor=acme.manager, reason="Returned")
    assert [entry.points for entry in approve(acme, "B", occurred_at=moment)] == [999]


def test_quarter_bounds(acme: World) -> None:
    rule = EarningRule(cap_period=EarningRule.CapPeriod.QUARTER)
    start, end = cap_period_bounds(rule=rule, moment=datetime(2026, 11, 5, tzinfo=UTC))
    assert (start.date(), end.date()) == (date(2026, 10, 1), date(2027, 1, 1))
