"""The registration workflow: every allowed move with who, when and why; refused moves change nothing."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import date_format

from deals.models import DealEvent, DealRegistration, DealSettings
from deals.selectors import partner_pipeline, protection_days_left
from deals.services import (
    deal_approve,
    deal_extend,
    deal_mark_lost,
    deal_mark_won,
    deal_register,
    deal_reject,
    deal_submit,
)
from loyalty.tenancy.context import tenant_context
from partners.models import Partner
from tests.conftest import World
from tests.deals.factories import place, register, tiers_with_protection

pytestmark = pytest.mark.django_db
Status = DealRegistration.Status


def history(deal: DealRegistration) -> list[tuple[str, str, str | None]]:
    return [
        (event.from_status, event.to_status, event.actor.email if event.actor else None)
        for event in DealEvent.objects.filter(deal=deal)
    ]


def test_a_registration_goes_from_draft_to_won_with_who_when_and_why(acme: World) -> None:
    with tenant_context(acme.tenant):
        tiers = tiers_with_protection()
        place(acme.partner, tiers["Gold"])
        deal = register(acme.partner, acme.partner_user, customer_name="ACME Corp.", submit=False)
        assert (deal.status, deal.customer_key, deal.reference) == (Status.DRAFT, "acme", f"DR-{deal.pk:06d}")

        deal = deal_submit(deal=deal, actor=acme.partner_user)
        assert deal.status == Status.SUBMITTED
        assert deal.submitted_at is not None

        deal = deal_approve(deal=deal, actor=acme.manager)
        today = timezone.localdate()
        assert (deal.status, deal.protection_days, deal.protected_until) == (
            Status.APPROVED,
            120,
            today + timedelta(days=120),
        )
        assert protection_days_left(deal=deal) == 120

        deal = deal_mark_won(deal=deal, actor=acme.partner_user, reason="PO 4411 signed")
        assert deal.status == Status.WON
        assert deal.closed_at is not None
        assert history(deal) == [
            ("", "draft", "user@partner.acme.test"),
            ("draft", "submitted", "user@partner.acme.test"),
            ("submitted", "approved", "pm@acme.test"),
            ("approved", "won", "user@partner.acme.test"),
        ]
        reasons = list(DealEvent.objects.filter(deal=deal).values_list("reason", flat=True))
        assert reasons[2] == f"Protected for 120 days, until {today + timedelta(days=120)}."
        assert reasons[3] == "PO 4411 signed"
        # Replayed (a CRM sending "won" again): nothing more is recorded.
        deal_mark_won(deal=deal, actor=None)
        assert DealEvent.objects.filter(deal=deal).count() == 4


def test_protection_comes_from_the_tier_else_the_programs_default(acme: World) -> None:
    with tenant_context(acme.tenant):
        tiers = tiers_with_protection(registered_days=60, gold_days=120)
        no_tier = deal_approve(deal=register(acme.unmanaged_partner, customer_name="Hooli"), actor=acme.manager)
        assert no_tier.protection_days == 30  # DealSettings' default
        place(acme.partner, tiers["Registered"])
        registered = deal_approve(deal=register(acme.partner, customer_name="Globo Gym"), actor=acme.manager)
        assert registered.protection_days == 60
        DealSettings.objects.create(default_protection_days=45)
        silver_grants_nothing = tiers["Silver"]
        place(acme.partner, silver_grants_nothing)
        silver = deal_approve(deal=register(acme.partner, customer_name="Vandelay Industries"), actor=acme.manager)
        assert silver.protection_days == 45


def test_a_tier_change_during_protection_keeps_the_days_granted_and_the_extension_reads_the_new_tier(
    acme: World,
) -> None:
    """The stated rule: protection is fixed at approval; only the one extension reads the tier again."""
    with tenant_context(acme.tenant):
        tiers = tiers_with_protection(registered_days=60, gold_days=120)
        place(acme.partner, tiers["Registered"])
        deal = deal_approve(deal=register(acme.partner), actor=acme.manager)
        granted_until = deal.protected_until
        place(acme.partner, tiers["Gold"])  # upgraded during protection
        deal.refresh_from_db()
        assert (deal.protection_days, deal.protected_until) == (60, granted_until)

        deal = deal_extend(deal=deal, actor=acme.partner_user, reason="Customer's board meets next quarter")
        assert deal.protected_until == granted_until + timedelta(days=120)
        assert deal.extended_at is not None
        event = DealEvent.objects.filter(deal=deal).last()
        assert (event.from_status, event.to_status) == ("approved", "approved")
        assert event.reason == (
            f"Extended by 120 days, until {deal.protected_until}: Customer's board meets next quarter"
        )

        with pytest.raises(ValidationError, match="already extended once"):
            deal_extend(deal=deal, actor=acme.partner_user, reason="Again")
        deal.refresh_from_db()
        assert deal.protected_until == granted_until + timedelta(days=120)


def test_reject_needs_a_reason_and_the_partner_reads_it(acme: World) -> None:
    with tenant_context(acme.tenant):
        deal = register(acme.partner, acme.partner_user)
        with pytest.raises(ValidationError) as raised:
            deal_reject(deal=deal, actor=acme.manager, reason="  ")
        assert raised.value.message_dict == {"reason": ["Say why the registration is rejected."]}
        deal.refresh_from_db()
        assert deal.status == Status.SUBMITTED

        deal = deal_reject(deal=deal, actor=acme.manager, reason="The customer buys direct")
        assert deal.status == Status.REJECTED
        assert DealEvent.objects.filter(deal=deal).last().reason == "The customer buys direct"


@pytest.mark.parametrize(
    ("setup", "move", "message"),
    [
        ("draft", "approve", "A registration that is draft cannot become approved."),
        ("draft", "won", "A registration that is draft cannot become won."),
        ("submitted", "won", "A registration that is submitted cannot become won."),
        ("submitted", "extend", "Only an approved registration's protection can be extended."),
        ("approved", "reject", "A registration that is approved cannot become rejected."),
        ("approved", "approve", "A registration that is approved cannot become approved."),
        ("rejected", "approve", "A registration that is rejected cannot become approved."),
        ("rejected", "submit", "A registration that is rejected cannot become submitted."),
        ("won", "lost", "A registration that is won cannot become lost."),
        ("lost", "won", "A registration that is lost cannot become won."),
    ],
)
def test_refused_moves_change_nothing(acme: World, setup: str, move: str, message: str) -> None:
    with tenant_context(acme.tenant):
        deal = register(acme.partner, acme.partner_user, submit=setup != "draft")
        if setup in ("approved", "won"):
            deal = deal_approve(deal=deal, actor=acme.manager)
        if setup == "won":
            deal = deal_mark_won(deal=deal, actor=acme.manager)
        if setup == "rejected":
            deal = deal_reject(deal=deal, actor=acme.manager, reason="No")
        if setup == "lost":
            deal = deal_mark_lost(deal=deal, actor=acme.manager, reason="Went with a competitor")
        before = (deal.status, DealEvent.objects.filter(deal=deal).count(), deal.protected_until)
        actions = {
            "approve": lambda: deal_approve(deal=deal, actor=acme.manager),
            "reject": lambda: deal_reject(deal=deal, actor=acme.manager, reason="No"),
            "won": lambda: deal_mark_won(deal=deal, actor=acme.manager),
            "lost": lambda: deal_mark_lost(deal=deal, actor=acme.manager, reason="No"),
            "extend": lambda: deal_extend(deal=deal, actor=acme.partner_user, reason="More time"),
            "submit": lambda: deal_submit(deal=deal, actor=acme.partner_user),
        }
        with pytest.raises(ValidationError) as raised:
            actions[move]()
        assert raised.value.messages == [message]
        deal.refresh_from_db()
        assert (deal.status, DealEvent.objects.filter(deal=deal).count(), deal.protected_until) == before


def test_a_submitted_registration_can_be_lost_and_lost_needs_a_reason(acme: World) -> None:
    with tenant_context(acme.tenant):
        deal = register(acme.partner)
        with pytest.raises(ValidationError):
            deal_mark_lost(deal=deal, actor=acme.partner_user, reason="")
        assert deal_mark_lost(deal=deal, actor=acme.partner_user, reason="Budget cut").status == Status.LOST


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"customer_name": " "}, {"customer_name": ["Give the customer's company name."]}),
        ({"amount": "0"}, {"amount": ["Give the estimated amount, more than zero."]}),
        ({"amount": "abc"}, {"amount": ["Give the estimated amount, more than zero."]}),
        ({"amount": "NaN"}, {"amount": ["Give the estimated amount, more than zero."]}),
        ({"amount": "10.005"}, {"amount": ["Give the amount with at most two decimals."]}),
        ({"currency": "dollars"}, {"currency": ["Give the currency as a three-letter code (e.g. USD)."]}),
        ({"customer_domain": "not a domain"}, {"customer_domain": ["Give a web domain such as example.com."]}),
        ({"contact_email": "nobody"}, {"contact_email": ["Enter a valid email address."]}),
        ({"expected_close": "past"}, {"expected_close": ["The expected close date is in the past."]}),
        ({"currency": "xxx"}, {"currency": ["Unknown currency 'XXX': give a three-letter ISO 4217 code."]}),
        ({"currency": "ABC"}, {"currency": ["Unknown currency 'ABC': give a three-letter ISO 4217 code."]}),
        ({"expected_close": date(9999, 12, 31)}, {"expected_close": ["far"]}),
        ({"expected_close": "six years"}, {"expected_close": ["far"]}),
    ],
)
def test_bad_input_is_a_field_error_and_writes_nothing(acme: World, fields: dict, errors: dict) -> None:
    with tenant_context(acme.tenant):
        values = {
            "customer_name": "Initech",
            "amount": "1000",
            "currency": "usd",
            "expected_close": timezone.localdate() + timedelta(days=10),
        }
        values.update(fields)
        if values["expected_close"] == "past":
            values["expected_close"] = timezone.localdate() - timedelta(days=1)
        if values["expected_close"] == "six years":
            values["expected_close"] = timezone.localdate() + relativedelta(years=6)
        if errors == {"expected_close": ["far"]}:
            latest = timezone.localdate() + relativedelta(years=5)
            errors = {
                "expected_close": [
                    f"The expected close date is more than 5 years away: give a date up to {date_format(latest)}."
                ]
            }
        with pytest.raises(ValidationError) as raised:
            deal_register(partner=acme.partner, registered_by=acme.partner_user, **values)
        assert raised.value.message_dict == errors
        assert DealRegistration.objects.count() == 0


def test_inputs_are_normalised_and_an_external_id_replays(acme: World) -> None:
    with tenant_context(acme.tenant):
        first = deal_register(
            partner=acme.partner,
            registered_by=None,
            customer_name="  Acme   Corporation ",
            customer_domain="https://www.ACME.com/contact",
            customer_tax_id="es b-123.456",
            amount="1200.50",
            currency="eur",
            expected_close=timezone.localdate(),
            source=DealRegistration.Source.API,
            external_id="opp-1",
        )
        assert (first.customer_name, first.customer_key, first.customer_domain, first.customer_tax_id) == (
            "Acme Corporation",
            "acme",
            "acme.com",
            "ESB123456",
        )
        assert (first.amount, first.currency) == (Decimal("1200.50"), "EUR")
        again = register(acme.partner, customer_name="Something else", external_id="opp-1")
        assert again.pk == first.pk
        assert DealRegistration.objects.count() == 1


def test_an_inactive_partner_cannot_register(acme: World) -> None:
    with tenant_context(acme.tenant):
        Partner.objects.filter(pk=acme.partner.pk).update(status=Partner.Status.SUSPENDED)
        acme.partner.refresh_from_db()
        with pytest.raises(ValidationError):
            register(acme.partner)
        assert DealRegistration.objects.count() == 0


def test_the_pipeline_lists_every_status_in_workflow_order(acme: World) -> None:
    with tenant_context(acme.tenant):
        register(acme.partner, customer_name="Draft Co", submit=False)
        deal_approve(deal=register(acme.partner, customer_name="Approved Co"), actor=acme.manager)
        register(acme.unmanaged_partner, customer_name="Someone Else's")
        columns = partner_pipeline(partner=acme.partner)
        assert [column.status for column in columns] == [
            "draft",
            "submitted",
            "approved",
            "won",
            "lost",
            "rejected",
            "expired",
        ]
        assert {column.status: [deal.customer_name for deal in column.deals] for column in columns if column.deals} == {
            "draft": ["Draft Co"],
            "approved": ["Approved Co"],
        }
