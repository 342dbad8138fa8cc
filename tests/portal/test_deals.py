"""The deal pages: a partner's pipeline, register, detail, extend, won and lost; staff review; managers' pipelines.

Every page: another tenant's or another partner's registration is a 404, roles that have no business there a 403,
list pages keep a query budget, bad input is a form error, repeated POSTs do nothing twice.
"""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.formats import date_format

from deals.models import DealEvent, DealRegistration
from deals.services import deal_approve, deal_mark_won
from earning.services import claim_approve
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from partners.models import Activity, Claim
from tests.conftest import World
from tests.deals.factories import register
from tests.factories import MembershipFactory
from tests.partners.helpers import balance_of, pdf, sales_rule

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
CUSTOMERS = ("Hooli", "Initech", "Vandelay", "Soylent", "Wonka", "Umbrella")


def approved(world: World, partner=None, **fields) -> DealRegistration:  # noqa: ANN001 - a Partner
    with tenant_context(world.tenant):
        return deal_approve(deal=register(partner or world.partner, world.partner_user, **fields), actor=world.manager)


def status_of(world: World, deal: DealRegistration) -> str:
    with tenant_context(world.tenant):
        return DealRegistration.objects.get(pk=deal.pk).status


def register_post(**overrides) -> dict:
    return {
        "customer_name": "Initech LLC",
        "customer_domain": "initech.com",
        "customer_country": "US",
        "customer_tax_id": "",
        "contact_name": "Bill Lumbergh",
        "contact_email": "bill@initech.com",
        "products": "Servers",
        "amount": "48,000.00",
        "currency": "USD",
        "expected_close": (TODAY + timedelta(days=60)).isoformat(),
        "notes": "",
        "form_key": str(uuid.uuid4()),
    } | overrides


# --- Pipeline ----------------------------------------------------------------------------------------------------


def test_pipeline_shows_the_partners_deals_by_status_with_protection_left(acme: World, client_for) -> None:
    mine = approved(acme, customer_name="Hooli")
    with tenant_context(acme.tenant):
        waiting = register(acme.partner, customer_name="Pied Piper")
        register(acme.unmanaged_partner, customer_name="Someone Else's")

    response = client_for(acme, acme.partner_user).get("/deals/")

    assert response.status_code == 200
    page = response.content.decode()
    columns = {column.status: [deal.pk for deal in column.deals] for column in response.context["columns"]}
    assert columns["approved"] == [mine.pk]
    assert columns["submitted"] == [waiting.pk]
    assert "30 days left" in page  # the default protection: no tier
    assert "Someone Else&#x27;s" not in page
    assert 'href="/deals/new/"' in page
    assert '<a href="/deals/">Deals</a>' in page  # in the navigation


def test_pipeline_query_count_does_not_grow_with_deals(acme: World, client_for, django_assert_max_num_queries) -> None:
    client = client_for(acme, acme.partner_user)
    for name in CUSTOMERS:
        approved(acme, customer_name=name)
    # session, user, tenant membership, notifications badge, program count, the deals with their conflict counts
    with django_assert_max_num_queries(8):
        assert client.get("/deals/").status_code == 200


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PROGRAM_MANAGER, Role.OWNER])
def test_pipeline_is_for_partner_members(acme: World, client_for, role: Role) -> None:
    assert client_for(acme, acme.user_for(role)).get("/deals/").status_code == 403


def test_pipeline_refuses_outsiders_and_sends_anonymous_to_sign_in(acme: World, outsider, client_for) -> None:
    assert client_for(acme, outsider).get("/deals/").status_code == 403
    assert client_for(acme).get("/deals/").status_code == 302


# --- Register ---------------------------------------------------------------------------------------------------


def test_register_submits_once_even_when_posted_twice(acme: World, client_for) -> None:
    client = client_for(acme, acme.partner_admin)
    form = client.get("/deals/new/")
    assert form.status_code == 200
    data = register_post()

    first = client.post("/deals/new/", data)
    second = client.post("/deals/new/", data)

    with tenant_context(acme.tenant):
        deal = DealRegistration.objects.get()
        assert (deal.partner, deal.registered_by, deal.status) == (acme.partner, acme.partner_admin, "submitted")
        assert (deal.customer_key, deal.amount, deal.customer_country.code) == ("initech", Decimal(48000), "US")
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/deals/{deal.pk}/"


@pytest.mark.parametrize(
    ("overrides", "field", "error"),
    [
        ({"customer_name": ""}, "customer_name", "This field is required."),
        ({"amount": "lots"}, "amount", "Give the estimated amount, more than zero."),
        ({"currency": "US"}, "currency", "Ensure this value has at least 3 characters (it has 2)."),
        ({"currency": "U$D"}, "currency", "Give the currency as a three-letter code (e.g. USD)."),
        ({"expected_close": "2020-01-01"}, "expected_close", "The expected close date is in the past."),
        ({"expected_close": "tomorrow"}, "expected_close", "Enter a valid date."),
        ({"currency": "XXX"}, "currency", "Unknown currency 'XXX': give a three-letter ISO 4217 code."),
        (
            {"expected_close": "9999-12-31"},
            "expected_close",
            "The expected close date is more than 5 years away: give a date up to "
            f"{date_format(TODAY + relativedelta(years=5))}.",
        ),
        ({"customer_domain": "nope"}, "customer_domain", "Give a web domain such as example.com."),
        (
            {"customer_country": "XX"},
            "customer_country",
            "Select a valid choice. XX is not one of the available choices.",
        ),
        ({"form_key": "not-a-key"}, "form_key", "Enter a valid UUID."),
    ],
)
def test_register_bad_input_is_a_form_error(acme: World, client_for, overrides: dict, field: str, error: str) -> None:
    response = client_for(acme, acme.partner_user).post("/deals/new/", register_post(**overrides))
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [error]


def test_a_close_date_too_far_away_is_refused_in_spanish(acme: World, client_for) -> None:
    acme.partner_user.language = "es"
    acme.partner_user.save(update_fields=["language"])
    response = client_for(acme, acme.partner_user).post("/deals/new/", register_post(expected_close="9999-12-31"))
    with translation.override("es"):
        latest = date_format(TODAY + relativedelta(years=5))
    assert latest.endswith(f"de {TODAY.year + 5}")  # "8 de diciembre de 2031": the reader's words, not ISO
    assert response.context["form"].errors["expected_close"] == [
        f"La fecha de cierre prevista está a más de 5 años: indique una fecha hasta el {latest}."
    ]
    with tenant_context(acme.tenant):
        assert DealRegistration.objects.count() == 0


# --- Detail ------------------------------------------------------------------------------------------------------


def test_detail_shows_protection_history_and_to_the_partner_no_other_partners_name(acme: World, client_for) -> None:
    mine = approved(acme, customer_name="ACME Corp.")
    with tenant_context(acme.tenant):
        theirs = register(acme.unmanaged_partner, customer_name="Acme Corporation")

    page = client_for(acme, acme.partner_user).get(f"/deals/{mine.pk}/").content.decode()
    assert "30 days left" in page
    assert "Mark won" in page
    assert "Extend protection" in page
    assert "Mark lost" in page

    staff = client_for(acme, acme.manager).get(f"/deals/{theirs.pk}/").content.decode()
    assert "Acme Partner One" in staff  # staff see with whom it conflicts
    assert "Same name once normalised" in staff
    assert f'href="/deals/{theirs.pk}/approve/"' in staff

    # The other partner's member sees that a conflict exists, not whose.
    with tenant_context(acme.tenant):
        other_member = MembershipFactory(
            tenant=acme.tenant, user__email="rep@two.test", role=Role.PARTNER_USER, partner=acme.unmanaged_partner
        ).user
    theirs_page = client_for(acme, other_member).get(f"/deals/{theirs.pk}/").content.decode()
    assert "Another partner registered a customer that looks the same" in theirs_page
    assert "Acme Partner One" not in theirs_page


def test_detail_is_a_404_for_another_partner_another_tenant_or_an_unmanaged_partner(
    acme: World, globex: World, client_for
) -> None:
    other_partners = approved(acme, partner=acme.unmanaged_partner, customer_name="Unmanaged")
    managed = approved(acme, customer_name="Managed")
    other_tenants = approved(globex, customer_name="Globex's")

    assert client_for(acme, acme.partner_user).get(f"/deals/{other_partners.pk}/").status_code == 404
    assert client_for(acme, acme.partner_user).get(f"/deals/{other_tenants.pk}/").status_code == 404
    assert client_for(acme, acme.manager).get(f"/deals/{other_tenants.pk}/").status_code == 404
    assert client_for(acme, acme.account_manager).get(f"/deals/{other_partners.pk}/").status_code == 404
    assert client_for(acme, acme.account_manager).get(f"/deals/{managed.pk}/").status_code == 200
    assert client_for(acme, acme.owner).get(f"/deals/{other_partners.pk}/").status_code == 200


# --- Extend and lost ---------------------------------------------------------------------------------------------


def test_extend_asks_first_extends_once_and_says_so_when_repeated(acme: World, client_for) -> None:
    deal = approved(acme)
    client = client_for(acme, acme.partner_user)
    before = deal.protected_until

    ask = client.get(f"/deals/{deal.pk}/extend/")
    assert ask.status_code == 200
    assert "can be extended only once" in ask.content.decode()
    assert client.post(f"/deals/{deal.pk}/extend/", {"reason": ""}).status_code == 400

    done = client.post(f"/deals/{deal.pk}/extend/", {"reason": "Procurement slipped a quarter"})
    assert done.status_code == 302
    again = client.post(f"/deals/{deal.pk}/extend/", {"reason": "Again"})
    assert again.status_code == 200
    assert "was already extended" in again.content.decode()
    with tenant_context(acme.tenant):
        deal.refresh_from_db()
        assert deal.protected_until == before + timedelta(days=30)
        assert DealEvent.objects.filter(deal=deal, from_status="approved", to_status="approved").count() == 1


def test_lost_needs_a_reason_and_a_repeat_changes_nothing(acme: World, client_for) -> None:
    deal = approved(acme)
    client = client_for(acme, acme.partner_user)
    assert client.post(f"/deals/{deal.pk}/lost/", {"reason": " "}).status_code == 400
    assert status_of(acme, deal) == "approved"
    assert client.post(f"/deals/{deal.pk}/lost/", {"reason": "Budget frozen"}).status_code == 302
    again = client.post(f"/deals/{deal.pk}/lost/", {"reason": "Budget frozen"})
    assert "already marked lost" in again.content.decode()
    with tenant_context(acme.tenant):
        assert DealEvent.objects.filter(deal=deal, to_status="lost").count() == 1


@pytest.mark.parametrize("action", ["extend", "lost", "won"])
def test_partner_actions_are_404_on_another_partners_deal_and_403_for_staff(
    acme: World, globex: World, client_for, action: str
) -> None:
    other = approved(acme, partner=acme.unmanaged_partner)
    foreign = approved(globex)
    mine = approved(acme, customer_name="Mine")
    assert client_for(acme, acme.partner_user).get(f"/deals/{other.pk}/{action}/").status_code == 404
    assert client_for(acme, acme.partner_user).get(f"/deals/{foreign.pk}/{action}/").status_code == 404
    assert client_for(acme, acme.manager).get(f"/deals/{mine.pk}/{action}/").status_code == 403
    assert client_for(acme, acme.account_manager).post(f"/deals/{mine.pk}/{action}/").status_code == 403
    assert status_of(acme, other) == status_of(acme, mine) == "approved"


# --- Won -----------------------------------------------------------------------------------------------------------


def won_post(**overrides) -> dict:
    return {
        "invoice_number": "INV-2026-981",
        "invoice_date": TODAY.isoformat(),
        "amount": "47500.00",
        "evidence": pdf(),
    } | overrides


def test_won_with_an_invoice_claims_one_sale_linked_to_the_deal_and_points_once(acme: World, client_for) -> None:
    sales_rule(acme, rate=Decimal("0.01"))  # 1 point per 100 of sales
    acme.tenant.claims_auto_approve = True
    acme.tenant.save(update_fields=["claims_auto_approve"])
    deal = approved(acme)
    client = client_for(acme, acme.partner_user)

    form = client.get(f"/deals/{deal.pk}/won/")
    assert form.status_code == 200
    assert "Points follow the program's earning rules" in form.content.decode()

    first = client.post(f"/deals/{deal.pk}/won/", won_post())
    replay = client.post(f"/deals/{deal.pk}/won/", won_post())

    assert first.status_code == 302
    assert "already won" in replay.content.decode()
    with tenant_context(acme.tenant):
        deal.refresh_from_db()
        claim = Claim.objects.get()
        assert deal.status == "won"
        assert deal.sale_activity_id == claim.activity_id
        activity = Activity.objects.get()
        assert (activity.kind, activity.amount, activity.status) == ("sale", Decimal("47500.00"), "approved")
        assert claim.invoice_number == "INV-2026-981"
    assert balance_of(acme) == 475


def test_won_claim_waiting_for_review_earns_when_approved_and_only_once(acme: World, client_for) -> None:
    sales_rule(acme, rate=Decimal("0.01"))
    deal = approved(acme)
    client_for(acme, acme.partner_user).post(f"/deals/{deal.pk}/won/", won_post(amount="1000"))
    assert balance_of(acme) == 0
    with tenant_context(acme.tenant):
        claim = Claim.objects.get()
        assert claim.status == "pending"
        claim_approve(claim=claim, actor=acme.manager)
        with pytest.raises(ValidationError, match="Only pending claims"):
            claim_approve(claim=claim, actor=acme.manager)
    assert balance_of(acme) == 10


def test_won_after_staff_marked_it_won_still_links_the_sale_once(acme: World, client_for) -> None:
    deal = approved(acme)
    with tenant_context(acme.tenant):
        deal_mark_won(deal=deal, actor=acme.manager, reason="Confirmed by the CRM")
    client = client_for(acme, acme.partner_user)
    assert client.post(f"/deals/{deal.pk}/won/", won_post()).status_code == 302
    assert "already won" in client.post(f"/deals/{deal.pk}/won/", won_post()).content.decode()
    with tenant_context(acme.tenant):
        assert Claim.objects.count() == 1
        assert DealEvent.objects.filter(deal=deal, to_status="won").count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"invoice_number": ""}, "invoice_number"),
        ({"invoice_date": (TODAY + timedelta(days=2)).isoformat()}, "invoice_date"),
        ({"amount": "-5"}, "amount"),
        ({"evidence": pdf("invoice.pdf", b"not a pdf at all")}, "evidence"),
    ],
)
def test_won_bad_input_is_a_form_error_and_nothing_moves(acme: World, client_for, overrides: dict, field: str) -> None:
    deal = approved(acme)
    response = client_for(acme, acme.partner_user).post(f"/deals/{deal.pk}/won/", won_post(**overrides))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert status_of(acme, deal) == "approved"
    with tenant_context(acme.tenant):
        assert Claim.objects.count() == Activity.objects.count() == 0


def test_a_submitted_deal_cannot_be_marked_won(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        deal = register(acme.partner)
    response = client_for(acme, acme.partner_user).post(f"/deals/{deal.pk}/won/", won_post())
    assert "Only an approved registration can be marked won." in response.content.decode()
    assert status_of(acme, deal) == "submitted"


# --- Staff review --------------------------------------------------------------------------------------------------


def test_review_queue_lists_submitted_deals_oldest_first_with_age_amount_and_conflicts(
    acme: World, globex: World, client_for
) -> None:
    with tenant_context(acme.tenant):
        first = register(acme.partner, customer_name="ACME Corp.", amount="12000")
        second = register(acme.unmanaged_partner, customer_name="Acme Corporation", amount="9000")
        DealRegistration.objects.filter(pk=first.pk).update(submitted_at=timezone.now() - timedelta(days=3))
    with tenant_context(globex.tenant):
        register(globex.partner, customer_name="Globex's own")

    response = client_for(acme, acme.manager).get("/deals/review/")

    assert response.status_code == 200
    assert [deal.pk for deal in response.context["rows"]] == [first.pk, second.pk]
    page = response.content.decode()
    assert "3 days" in page
    assert "12,000.00 USD" in page
    assert f"Acme Partner One: {first.reference} (submitted) · Same name once normalised 1.00" in page
    assert "Globex&#x27;s own" not in page


def test_review_queue_query_count_does_not_grow(acme: World, client_for, django_assert_max_num_queries) -> None:
    client = client_for(acme, acme.manager)
    with tenant_context(acme.tenant):
        for index in range(6):
            register(acme.partner if index % 2 else acme.unmanaged_partner, customer_name=f"Same Customer {index % 2}")
    # session, user, tenant membership, program count, page count, the page's deals, their conflicts (prefetch)
    with django_assert_max_num_queries(9):
        assert client.get("/deals/review/").status_code == 200


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER])
def test_review_pages_are_for_program_staff(acme: World, client_for, role: Role) -> None:
    with tenant_context(acme.tenant):
        deal = register(acme.partner)
    client = client_for(acme, acme.user_for(role))
    assert client.get("/deals/review/").status_code == 403
    assert (
        client.post("/deals/review/decide/", {"decision": "approve", "deal": deal.pk, "confirmed": "1"}).status_code
        == 403
    )
    assert client.post(f"/deals/{deal.pk}/approve/").status_code == 403
    assert client.post(f"/deals/{deal.pk}/reject/", {"reason": "No"}).status_code == 403
    assert status_of(acme, deal) == "submitted"


def test_bulk_approve_asks_first_then_approves_the_oldest_and_reports_the_conflict(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        first = register(acme.partner, customer_name="ACME Corp.")
        second = register(acme.unmanaged_partner, customer_name="Acme Corporation")
    client = client_for(acme, acme.manager)
    selection = {"decision": "approve", "deal": [second.pk, first.pk]}

    ask = client.post("/deals/review/decide/", selection)
    assert ask.status_code == 200
    assert "Approve and protect these 2 registrations?" in ask.content.decode()
    assert status_of(acme, first) == status_of(acme, second) == "submitted"

    done = client.post("/deals/review/decide/", selection | {"confirmed": "1"}, follow=True)
    assert status_of(acme, first) == "approved"
    assert status_of(acme, second) == "submitted"
    page = done.content.decode()
    assert "1 registration approved." in page
    assert "already protects this customer" in page

    replay = client.post("/deals/review/decide/", selection | {"confirmed": "1"}, follow=True)
    assert f"{first.reference} was already approved." in replay.content.decode()
    with tenant_context(acme.tenant):
        assert DealEvent.objects.filter(to_status="approved").count() == 1


def test_bulk_reject_needs_a_reason(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        deal = register(acme.partner)
    client = client_for(acme, acme.manager)
    missing = client.post("/deals/review/decide/", {"decision": "reject", "deal": deal.pk, "confirmed": "1"})
    assert missing.status_code == 400
    assert status_of(acme, deal) == "submitted"
    client.post("/deals/review/decide/", {"decision": "reject", "deal": deal.pk, "confirmed": "1", "reason": "Direct"})
    assert status_of(acme, deal) == "rejected"


def test_bulk_ignores_another_tenants_ids(acme: World, globex: World, client_for) -> None:
    with tenant_context(globex.tenant):
        foreign = register(globex.partner)
    response = client_for(acme, acme.manager).post(
        "/deals/review/decide/", {"decision": "approve", "deal": foreign.pk, "confirmed": "1"}
    )
    assert response.status_code == 302
    assert status_of(globex, foreign) == "submitted"


def test_single_approve_and_reject_ask_first_and_say_when_already_decided(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        to_approve = register(acme.partner, customer_name="Approve Me")
        to_reject = register(acme.partner, customer_name="Reject Me")
    client = client_for(acme, acme.manager)
    assert "Approve and protect" in client.get(f"/deals/{to_approve.pk}/approve/").content.decode()
    assert status_of(acme, to_approve) == "submitted"
    assert client.post(f"/deals/{to_approve.pk}/approve/").status_code == 302
    assert status_of(acme, to_approve) == "approved"
    assert "was already approved" in client.get(f"/deals/{to_approve.pk}/approve/").content.decode()

    assert client.post(f"/deals/{to_reject.pk}/reject/", {"reason": ""}).status_code == 400
    assert client.post(f"/deals/{to_reject.pk}/reject/", {"reason": "Customer buys direct"}).status_code == 302
    assert status_of(acme, to_reject) == "rejected"


# --- Account managers ----------------------------------------------------------------------------------------------


def test_account_manager_sees_their_partners_pipeline_only(acme: World, globex: World, client_for) -> None:
    mine = approved(acme, customer_name="Managed Customer")
    approved(acme, partner=acme.unmanaged_partner, customer_name="Unmanaged Customer")
    approved(globex, customer_name="Globex Customer")

    response = client_for(acme, acme.account_manager).get("/deals/partners/")

    assert response.status_code == 200
    assert [deal.pk for deal in response.context["rows"]] == [mine.pk]
    page = response.content.decode()
    assert "30 days left" in page
    assert "Unmanaged Customer" not in page
    everyone = client_for(acme, acme.manager).get("/deals/partners/").context["rows"]
    assert {deal.customer_name for deal in everyone} == {"Managed Customer", "Unmanaged Customer"}
    filtered = client_for(acme, acme.account_manager).get("/deals/partners/", {"status": "won"}).context["rows"]
    assert filtered == []


def test_managed_pipeline_query_count(acme: World, client_for, django_assert_max_num_queries) -> None:
    client = client_for(acme, acme.account_manager)
    for name in CUSTOMERS:
        approved(acme, customer_name=name)
    # session, user, tenant membership, program count, page count, the page's deals
    with django_assert_max_num_queries(7):
        assert client.get("/deals/partners/").status_code == 200


@pytest.mark.parametrize("role", [Role.PARTNER_ADMIN, Role.PARTNER_USER])
def test_managed_pipeline_is_for_staff(acme: World, client_for, role: Role) -> None:
    assert client_for(acme, acme.user_for(role)).get("/deals/partners/").status_code == 403
