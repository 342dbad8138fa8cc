"""Rebates: a sale approved accrues its tier's rate, a reversed sale takes it back, and the period's true-up re-rates
at the end tier's rate when higher before paying a credit note (hand-computed)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from earning.services import activity_approve, activity_reject
from funds.models import FundAccount, FundEntry, FundPayout, RebateAccrual
from funds.selectors import fund_verify
from funds.services import rebates_accrue_pending, rebates_true_up
from loyalty.tenancy.context import tenant_context
from partners.models import Activity
from tests.conftest import World
from tests.funds.helpers import gold_program, place, quarter
from tiers.models import BenefitKind, TierBenefit

pytestmark = pytest.mark.django_db


def pending_sale(world: World, amount: str, *, days_ago: int = 1) -> Activity:
    return Activity.objects.create(
        partner=world.partner,
        kind="sale",
        occurred_at=timezone.now() - timedelta(days=days_ago),
        amount=Decimal(amount),
        currency="USD",
        source=Activity.Source.API,
    )


def rebate_account(world: World) -> FundAccount:
    return FundAccount.objects.get(partner=world.partner, purpose=FundAccount.Purpose.REBATE)


@pytest.fixture
def program(acme: World):
    """Silver rebates 1 %, Gold 2 %; acme's partner on Gold; this quarter is a fund period."""
    with tenant_context(acme.tenant):
        program = gold_program()
        TierBenefit.objects.create(tier=program.tiers["Silver"], kind=BenefitKind.REBATE_RATE, value=Decimal(1))
        place(acme.partner, program.tiers["Gold"])
        program.period = quarter()
        yield program


def test_an_approved_sale_accrues_the_tiers_rate_once(acme: World, program) -> None:
    sale = pending_sale(acme, "62000.00")
    activity_approve(activity=sale, actor=acme.manager)
    activity_approve(activity=sale, actor=acme.manager)  # again: nothing more

    account = rebate_account(acme)
    assert account.available == Decimal("1240.00")  # 2 % of 62,000
    accrual = RebateAccrual.objects.get()
    assert (accrual.sale_amount, accrual.rate, accrual.amount) == (
        Decimal("62000.00"),
        Decimal("2.00"),
        Decimal("1240.00"),
    )
    assert FundEntry.objects.filter(account=account).count() == 1
    # The MDF account is another account: the rebate is not spendable as funds.
    assert not FundAccount.objects.filter(purpose=FundAccount.Purpose.MDF).exists()
    assert fund_verify().breaches == []


def test_other_activities_and_currencies_accrue_nothing(acme: World, program) -> None:
    training = Activity.objects.create(
        partner=acme.partner, kind="training", occurred_at=timezone.now(), source=Activity.Source.API
    )
    euros = pending_sale(acme, "1000.00")
    euros.currency = "EUR"
    euros.save(update_fields=["currency"])
    activity_approve(activity=training, actor=acme.manager)
    activity_approve(activity=euros, actor=acme.manager)
    assert RebateAccrual.objects.count() == 0
    assert FundEntry.objects.count() == 0


def test_a_reversed_sale_takes_its_rebate_back(acme: World, program) -> None:
    kept = pending_sale(acme, "10000.00")
    reversed_sale = pending_sale(acme, "2500.50")
    activity_approve(activity=kept, actor=acme.manager)
    activity_approve(activity=reversed_sale, actor=acme.manager)
    assert rebate_account(acme).available == Decimal("250.01")  # 200.00 + 50.01 (2 % of 2,500.50 = 50.01)

    activity_reject(activity=reversed_sale, actor=acme.manager, reason="Returned by the customer")
    activity_reject(activity=reversed_sale, actor=acme.manager, reason="Again")

    assert rebate_account(acme).available == Decimal("200.00")
    assert RebateAccrual.objects.get(activity=reversed_sale).reversed_at is not None
    assert list(FundEntry.objects.order_by("pk").values_list("available_delta", flat=True)) == [
        Decimal("200.00"),
        Decimal("50.01"),
        Decimal("-50.01"),
    ]
    assert fund_verify().breaches == []


def test_true_up_rerates_an_upgrade_for_the_whole_period_and_pays_once(acme: World, program) -> None:
    place(acme.partner, program.tiers["Silver"])
    activity_approve(activity=pending_sale(acme, "10000.00", days_ago=2), actor=acme.manager)  # 1 % → 100.00
    place(acme.partner, program.tiers["Gold"])
    activity_approve(activity=pending_sale(acme, "5000.00"), actor=acme.manager)  # 2 % → 100.00
    assert rebate_account(acme).available == Decimal("200.00")

    with pytest.raises(ValidationError, match="after it ends"):
        rebates_true_up(period=program.period, today=program.period.ends_on)
    after = program.period.ends_on + timedelta(days=1)
    report = rebates_true_up(period=program.period, today=after)
    again = rebates_true_up(period=program.period, today=after)

    # 15,000 of sales at Gold's 2 % = 300.00: 100.00 more, then 300.00 paid.
    assert report.topped_up == {acme.partner.pk: Decimal("100.00")}
    assert report.settled == {acme.partner.pk: Decimal("300.00")}
    assert again.settled == {}
    payout = FundPayout.objects.get()
    assert (payout.number, payout.amount, payout.claim_id) == (
        f"RB-{program.period.ends_on.year}-{rebate_account(acme).pk:06d}",
        Decimal("300.00"),
        None,
    )
    assert rebate_account(acme).available == Decimal("0.00")
    assert fund_verify().breaches == []


def test_true_up_after_a_downgrade_keeps_what_was_accrued(acme: World, program) -> None:
    activity_approve(activity=pending_sale(acme, "10000.00"), actor=acme.manager)  # Gold 2 % → 200.00
    place(acme.partner, program.tiers["Silver"])
    report = rebates_true_up(period=program.period, today=program.period.ends_on + timedelta(days=1))
    assert report.topped_up == {}
    assert report.settled == {acme.partner.pk: Decimal("200.00")}


def test_a_sale_reversed_after_settlement_takes_back_only_what_is_left(acme: World, program) -> None:
    sale = pending_sale(acme, "10000.00")
    activity_approve(activity=sale, actor=acme.manager)
    rebates_true_up(period=program.period, today=program.period.ends_on + timedelta(days=1))
    activity_reject(activity=sale, actor=acme.manager, reason="Fraud")
    assert rebate_account(acme).available == Decimal("0.00")
    assert RebateAccrual.objects.get().reversed_at is not None
    assert FundEntry.objects.filter(idempotency_key=f"rebates:reverse:{sale.pk}").count() == 0
    assert fund_verify().breaches == []


def test_bulk_sales_accrue_in_one_pending_pass(acme: World, program) -> None:
    for amount in ("100.00", "200.00", "300.00"):
        sale = pending_sale(acme, amount)
        Activity.objects.filter(pk=sale.pk).update(status=Activity.Status.APPROVED)  # as bulk ingestion records them
    assert rebates_accrue_pending() == 3
    assert rebates_accrue_pending() == 0
    assert rebate_account(acme).available == Decimal("12.00")
    assert FundEntry.objects.count() == 1
    assert fund_verify().breaches == []
