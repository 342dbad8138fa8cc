"""Deal test helpers: registrations through the services, and tiers granting protection days."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from deals.models import DealRegistration
from deals.services import deal_register
from loyalty.tenancy.models import User
from partners.models import Partner
from tests.tiers.factories import revenue_program
from tiers.models import BenefitKind, PartnerTier, Tier, TierBenefit


def register(
    partner: Partner,
    user: User | None = None,
    *,
    customer_name: str = "Initech",
    customer_domain: str = "",
    customer_tax_id: str = "",
    amount: str = "25000",
    submit: bool = True,
    external_id: str = "",
) -> DealRegistration:
    return deal_register(
        partner=partner,
        registered_by=user,
        customer_name=customer_name,
        customer_domain=customer_domain,
        customer_tax_id=customer_tax_id,
        amount=Decimal(amount),
        currency="USD",
        expected_close=timezone.localdate() + timedelta(days=45),
        submit=submit,
        external_id=external_id,
    )


def tiers_with_protection(registered_days: int = 60, gold_days: int = 120) -> dict[str, Tier]:
    """The standard ladder; Registered grants `registered_days` of deal protection, Gold `gold_days`."""
    program = revenue_program()
    TierBenefit.objects.create(
        tier=program.tiers["Registered"], kind=BenefitKind.DEAL_PROTECTION_DAYS, value=Decimal(registered_days)
    )
    TierBenefit.objects.create(tier=program.tiers["Gold"], kind=BenefitKind.DEAL_PROTECTION_DAYS, value=gold_days)
    return program.tiers


def place(partner: Partner, tier: Tier) -> None:
    PartnerTier.objects.update_or_create(partner=partner, defaults={"tier": tier, "since": timezone.localdate()})
