"""Fund test helpers: a program whose Gold tier grants 5,000 USD of MDF, a quarter, and a pre-approved request."""

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from funds.models import FundPeriod, FundRequest
from funds.services import fund_allocate, fund_period_create, fund_request_approve, fund_request_submit
from partners.models import Partner
from tests.tiers.factories import revenue_program
from tiers.models import BenefitKind, PartnerTier, TierBenefit

GOLD_MDF = Decimal("5000.00")
SILVER_MDF = Decimal("1500.00")


def gold_program():
    """Silver grants 1,500 USD and Gold 5,000 USD of funds per period (call inside the tenant's context)."""
    program = revenue_program()
    TierBenefit.objects.create(
        tier=program.tiers["Silver"], kind=BenefitKind.MDF_ALLOCATION, value=SILVER_MDF, currency="USD"
    )
    TierBenefit.objects.create(
        tier=program.tiers["Gold"], kind=BenefitKind.MDF_ALLOCATION, value=GOLD_MDF, currency="USD"
    )
    TierBenefit.objects.create(tier=program.tiers["Gold"], kind=BenefitKind.REBATE_RATE, value=Decimal(2))
    return program


def place(partner: Partner, tier) -> None:
    PartnerTier.objects.update_or_create(partner=partner, defaults={"tier": tier, "since": timezone.localdate()})


def quarter(**overrides) -> FundPeriod:
    today = timezone.localdate()
    first_month = 3 * ((today.month - 1) // 3) + 1
    starts_on = date(today.year, first_month, 1)
    ends_on = (date(today.year + (first_month == 10), (first_month + 2) % 12 + 1, 1)) - timedelta(days=1)
    fields = {
        "name": "This quarter",
        "kind": FundPeriod.Kind.QUARTER,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "max_reimbursement_percent": Decimal(50),
        "claim_window_days": 30,
    } | overrides
    return fund_period_create(**fields)


def gold_partner_with_funds(world) -> FundPeriod:
    """The world's partner on Gold with its 5,000 USD allocated for this quarter (inside the tenant's context)."""
    program = gold_program()
    place(world.partner, program.tiers["Gold"])
    period = quarter()
    fund_allocate(period=period, partners=[world.partner])
    return period


def submitted_request(world, period: FundPeriod, amount: str = "2000", key: str = "req-1") -> FundRequest:
    return fund_request_submit(
        partner=world.partner,
        period=period,
        requested_by=world.partner_admin,
        activity_type="webinar",
        title="Cloud migration webinar",
        description="A one-hour webinar for 200 IT managers.",
        planned_on=timezone.localdate(),
        amount=amount,
        expected_results="40 leads",
        idempotency_key=key,
    )


def approved_request(world, period: FundPeriod, amount: str = "2000", approve: str | None = None, key: str = "req-1"):
    request = submitted_request(world, period, amount, key)
    reason = "" if approve is None else "Partial: the venue is shared"
    return fund_request_approve(request=request, actor=world.manager, amount=approve, reason=reason)
