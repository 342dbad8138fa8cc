"""Typed tier entitlements (DESIGN §11): values services can apply, words partners can read, in both languages."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.tiers.factories import revenue_program
from tiers.models import BenefitKind, PartnerTier, TierBenefit
from tiers.selectors import partner_entitlement_value, partner_entitlements, tier_entitlements
from tiers.validation import BenefitDraft, benefit_problems
from tiers.wording import entitlement_label

pytestmark = pytest.mark.django_db


def gold_with_benefits(world: World):
    program = revenue_program()
    gold = program.tiers["Gold"]
    for position, (kind, value, currency, text) in enumerate(
        (
            (BenefitKind.MDF_ALLOCATION, "5000", "USD", ""),
            (BenefitKind.REBATE_RATE, "2.5", "", ""),
            (BenefitKind.DEAL_PROTECTION_DAYS, "120", "", ""),
            (BenefitKind.DEAL_PROTECTION_DAYS, "90", "", ""),  # listed twice: the larger counts
            (BenefitKind.SUPPORT_LEVEL, None, "", "Named channel manager"),
            (BenefitKind.TEXT, None, "", "Lead sharing"),
        )
    ):
        TierBenefit.objects.create(
            tier=gold,
            kind=kind,
            value=None if value is None else Decimal(value),
            currency=currency,
            text=text,
            position=position,
        )
    return program


def test_a_partner_is_entitled_to_what_its_current_tier_grants(acme: World) -> None:
    with tenant_context(acme.tenant):
        program = gold_with_benefits(acme)
        assert partner_entitlements(partner=acme.partner) == []  # no tier yet
        assert partner_entitlement_value(partner=acme.partner, kind=BenefitKind.REBATE_RATE) is None

        PartnerTier.objects.create(partner=acme.partner, tier=program.tiers["Gold"], since=timezone.localdate())

        assert [entitlement.kind for entitlement in partner_entitlements(partner=acme.partner)] == [
            "mdf_allocation",
            "rebate_rate",
            "deal_protection_days",
            "deal_protection_days",
            "support_level",
            "text",
        ]
        assert partner_entitlement_value(partner=acme.partner, kind=BenefitKind.REBATE_RATE) == Decimal("2.50")
        assert partner_entitlement_value(partner=acme.partner, kind=BenefitKind.DEAL_PROTECTION_DAYS) == 120
        assert partner_entitlement_value(partner=acme.partner, kind=BenefitKind.DISCOUNT_RATE) is None
        assert partner_entitlements(partner=acme.unmanaged_partner) == []


@pytest.mark.parametrize(
    ("language", "labels"),
    [
        (
            "en",
            [
                "$5,000 of market development funds per period",
                "2.5 % rebate on approved sales",
                "Deals protected for 120 days",
                "Deals protected for 90 days",
                "Support: Named channel manager",
                "Lead sharing",
            ],
        ),
        (
            "es",
            [
                "5.000\xa0US$ de fondos de desarrollo de mercado por periodo",
                "2,5 % de reembolso sobre las ventas aprobadas",
                "Oportunidades protegidas durante 120 días",
                "Oportunidades protegidas durante 90 días",
                "Soporte: Named channel manager",
                "Lead sharing",
            ],
        ),
    ],
)
def test_entitlements_read_as_sentences_in_the_readers_language(acme: World, language: str, labels: list[str]) -> None:
    with tenant_context(acme.tenant):
        gold = gold_with_benefits(acme).tiers["Gold"]
        with translation.override(language):
            assert [entitlement.label for entitlement in tier_entitlements(tier=gold)] == labels


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"kind": BenefitKind.REBATE_RATE}, "value"),
        ({"kind": BenefitKind.MDF_ALLOCATION, "value": Decimal(1000)}, "currency"),
        ({"kind": BenefitKind.DEAL_PROTECTION_DAYS, "value": Decimal("30.5")}, "value"),
        ({"kind": BenefitKind.TEXT, "text": "   "}, "text"),
    ],
)
def test_a_benefit_without_what_its_kind_needs_is_a_field_error(acme: World, fields: dict, error_field: str) -> None:
    with tenant_context(acme.tenant):
        gold = revenue_program().tiers["Gold"]
        with pytest.raises(ValidationError) as raised:
            TierBenefit(tier=gold, **fields).full_clean()
        assert error_field in raised.value.message_dict


@pytest.mark.parametrize(
    ("kind", "label"),
    [(BenefitKind.EARLY_ACCESS, "Early access to new products"), (BenefitKind.SUPPORT_LEVEL, "Priority support")],
)
def test_a_benefit_whose_kind_says_it_all_needs_no_text(acme: World, kind: str, label: str) -> None:
    """The seeded Platinum's "early access" has no text: the designer refused every copy of the model in force."""
    with tenant_context(acme.tenant):
        gold = revenue_program().tiers["Gold"]
        TierBenefit(tier=gold, kind=kind).full_clean()
        draft = BenefitDraft(kind=kind, value=None, currency="", text="")
        assert benefit_problems(draft, where="benefit:3:0") == []
        assert entitlement_label(kind=kind, value=None, currency="", text="") == label


def test_the_database_refuses_a_rate_above_100_percent(acme: World) -> None:
    with tenant_context(acme.tenant):
        gold = revenue_program().tiers["Gold"]
        with pytest.raises(IntegrityError), transaction.atomic():
            TierBenefit.objects.create(tier=gold, kind=BenefitKind.DISCOUNT_RATE, value=Decimal(150))
        assert not TierBenefit.objects.exists()
