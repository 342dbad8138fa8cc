"""The portal's fund pages: the partner's Funds page and forms, proof files and credit notes; the program team's
review queues (confirm first), and the budget with its CSV. Cross-tenant, role and query-budget tests on each."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from funds.models import FundClaim, FundEntry, FundPayout, FundProof, FundRequest
from funds.services import fund_claim_approve, fund_preapprovals_expire, fund_request_approve
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from tests.conftest import World
from tests.funds.helpers import approved_request, gold_partner_with_funds, submitted_request
from tests.funds.test_funds import claim
from tests.partners.helpers import PDF_BYTES, PNG_BYTES, pdf

pytestmark = pytest.mark.django_db
PARTNER_PAGES = ["/funds/", "/funds/request/"]
STAFF_PAGES = ["/funds/review/", "/funds/budget/", "/funds/budget.csv"]
STAFF_ROLES_REFUSED = [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER, Role.FINANCE]


@pytest.fixture
def funded(acme: World) -> World:
    """Acme's partner on Gold with 5,000.00 USD for this quarter."""
    with tenant_context(acme.tenant):
        acme.period = gold_partner_with_funds(acme)
    return acme


def request_post(**overrides) -> dict:
    return {
        "activity_type": "webinar",
        "title": "Cloud migration webinar",
        "description": "One hour, 200 IT managers.",
        "planned_on": timezone.localdate().isoformat(),
        "amount": "2000.00",
        "expected_results": "40 leads",
        "idempotency_key": "request:form-1",
    } | overrides


def claim_post(**overrides) -> dict:
    return {
        "performed_on": timezone.localdate().isoformat(),
        "total_cost": "3000.00",
        "amount": "1500.00",
        "results": "180 attendees",
        "leads_generated": "35",
        "invoice": pdf(),
        "photo": SimpleUploadedFile("room.png", PNG_BYTES, "image/png"),
        "idempotency_key": "claim:form-1",
    } | overrides


def counts(world: World) -> tuple[int, int, int]:
    with tenant_context(world.tenant):
        return FundRequest.objects.count(), FundClaim.objects.count(), FundEntry.objects.count()


# --- Access --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PARTNER_PAGES)
def test_partner_pages_refuse_staff_other_tenants_and_anonymous(funded: World, globex: World, client_for, path):
    assert client_for(funded, globex.partner_admin).get(path).status_code == 403
    for role in (Role.OWNER, Role.PROGRAM_MANAGER, Role.ACCOUNT_MANAGER):
        assert client_for(funded, funded.user_for(role)).get(path).status_code == 403
    assert client_for(funded).get(path).status_code == 302


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_staff_pages_are_for_program_managers_and_owners(funded: World, globex: World, outsider, client_for, path):
    for role in STAFF_ROLES_REFUSED:
        assert client_for(funded, funded.user_for(role)).get(path).status_code == 403
    assert client_for(funded, globex.manager).get(path).status_code == 403
    assert client_for(funded, outsider).get(path).status_code == 403
    assert client_for(funded).get(path).status_code == 302
    for role in (Role.OWNER, Role.PROGRAM_MANAGER):
        assert client_for(funded, funded.user_for(role)).get(path).status_code == 200


def test_another_tenants_request_claim_proof_and_credit_note_are_404(funded: World, globex: World, client_for):
    with tenant_context(globex.tenant):
        period = gold_partner_with_funds(globex)
        paid = approved_request(globex, period, "1000")
        submitted_claim = claim(globex, paid, cost="2000", amount="1000")
        payout = fund_claim_approve(claim=submitted_claim, actor=globex.manager)
        proof = FundProof.objects.first()
        waiting = submitted_request(globex, period, "500", key="globex-waiting")
    manager = client_for(funded, funded.manager)
    partner = client_for(funded, funded.partner_admin)
    assert manager.get(f"/funds/review/requests/{waiting.pk}/").status_code == 404
    assert (
        manager.post(f"/funds/review/requests/{waiting.pk}/", {"decision": "approve", "confirmed": "1"}).status_code
        == 404
    )
    assert manager.get(f"/funds/review/claims/{submitted_claim.pk}/").status_code == 404
    assert manager.get(f"/funds/proofs/{proof.pk}/").status_code == 404
    assert manager.get(f"/funds/credit-notes/{payout.pk}/").status_code == 404
    assert partner.get(f"/funds/requests/{paid.pk}/claim/").status_code == 404
    with tenant_context(globex.tenant):
        waiting.refresh_from_db()
        assert waiting.status == FundRequest.Status.SUBMITTED


def test_another_partners_member_cannot_claim_or_see_its_proof(funded: World, client_for) -> None:
    from tests.factories import MembershipFactory

    with tenant_context(funded.tenant):
        request = approved_request(funded, funded.period, "2000")
        claim(funded, request)
        proof = FundProof.objects.first()
        stranger = MembershipFactory(
            tenant=funded.tenant, role=Role.PARTNER_ADMIN, partner=funded.unmanaged_partner
        ).user
    other = client_for(funded, stranger)
    assert other.get(f"/funds/requests/{request.pk}/claim/").status_code == 404
    assert other.get(f"/funds/proofs/{proof.pk}/").status_code == 404
    assert client_for(funded, funded.partner_user).get(f"/funds/proofs/{proof.pk}/").status_code == 200
    response = client_for(funded, funded.manager).get(f"/funds/proofs/{proof.pk}/")
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"


# --- The partner's Funds page --------------------------------------------------------------------------------------


def test_funds_page_shows_balance_requests_claims_and_credit_notes(funded: World, client_for) -> None:
    with tenant_context(funded.tenant):
        paid = approved_request(funded, funded.period, "2000", approve="1600", key="paid")
        fund_claim_approve(claim=claim(funded, paid, cost="3000", amount="1500"), actor=funded.manager)
        approved_request(funded, funded.period, "800", key="open")
        submitted_request(funded, funded.period, "300", key="waiting")
    page = client_for(funded, funded.partner_user).get("/funds/").content.decode()
    # 5,000 − 1,500 paid − 800 committed = 2,700 available
    assert "<strong>$2,700.00</strong>" in page
    assert "<strong>$800.00</strong>" in page
    assert "<strong>$1,500.00</strong>" in page
    assert "Partial: the venue is shared" in page
    assert "Claim with proof" in page
    assert f"CN-{timezone.localdate().year}-" in page
    assert "Awaiting pre-approval" in page


def test_funds_page_queries_do_not_grow_with_requests(funded: World, client_for, django_assert_max_num_queries):
    with tenant_context(funded.tenant):
        for index in range(8):
            request = approved_request(funded, funded.period, "100", key=f"r-{index}")
            claim(funded, request, cost="200", amount="100", key=f"c-{index}")
    client = client_for(funded, funded.partner_user)
    client.get("/funds/")
    # session, user, membership, tenant's bits (≈8) + periods, current period, account, requests, claims, payouts,
    # totals by kind, balances: a constant however many requests.
    with django_assert_max_num_queries(18):
        response = client.get("/funds/")
    assert len(response.context["funds"].requests) == 8


def test_request_form_sends_a_request_once(funded: World, client_for) -> None:
    client = client_for(funded, funded.partner_admin)
    assert 'name="idempotency_key"' in client.get("/funds/request/").content.decode()
    first = client.post("/funds/request/", request_post())
    again = client.post("/funds/request/", request_post())
    assert first.status_code == again.status_code == 302
    with tenant_context(funded.tenant):
        request = FundRequest.objects.get()
        assert (request.requested_amount, request.requested_by_id) == (Decimal("2000.00"), funded.partner_admin.pk)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"amount": "-5"}, "greater than or equal to 0.01"),
        ({"amount": "9000"}, "You have $5,000.00 available in this period."),
        ({"amount": "1.234"}, "no more than 2 decimal places"),
        ({"planned_on": "2001-01-01"}, "Plan the activity between"),
        ({"activity_type": "party"}, "Select a valid choice"),
        ({"title": ""}, "This field is required"),
    ],
)
def test_bad_request_input_is_a_form_error_and_writes_nothing(funded: World, client_for, overrides, message):
    response = client_for(funded, funded.partner_admin).post("/funds/request/", request_post(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert counts(funded) == (0, 0, 1)


def test_claim_form_sends_the_claim_with_its_proof(funded: World, client_for) -> None:
    with tenant_context(funded.tenant):
        request = approved_request(funded, funded.period, "2000")
    client = client_for(funded, funded.partner_user)
    assert 'enctype="multipart/form-data"' in client.get(f"/funds/requests/{request.pk}/claim/").content.decode()
    response = client.post(f"/funds/requests/{request.pk}/claim/", claim_post())
    assert response.status_code == 302
    with tenant_context(funded.tenant):
        submitted = FundClaim.objects.get()
        assert (submitted.amount, submitted.proofs.count()) == (Decimal("1500.00"), 2)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"amount": "1500.01"}, "At most 50 % of the cost"),
        ({"amount": "2500", "total_cost": "9000"}, "above the pre-approved"),
        ({"invoice": SimpleUploadedFile("invoice.pdf", b"MZ\x90 not a pdf")}, "must be PDF, PNG or JPEG"),
        ({"invoice": SimpleUploadedFile("invoice.png", PDF_BYTES)}, "must be PDF, PNG or JPEG"),
        ({"performed_on": "2001-01-01"}, "within 30 days of the activity"),
        ({"total_cost": "-1"}, "greater than or equal to 0.01"),
        # Walk 10: a leads count past the database's integer was a 500 ("integer out of range").
        ({"leads_generated": "99999999999"}, "less than or equal to 1000000"),
    ],
)
def test_bad_claim_input_is_a_form_error_and_writes_nothing(funded: World, client_for, overrides, message):
    with tenant_context(funded.tenant):
        request = approved_request(funded, funded.period, "2000")
    before = counts(funded)
    response = client_for(funded, funded.partner_user).post(
        f"/funds/requests/{request.pk}/claim/", claim_post(**overrides)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert counts(funded) == before
    with tenant_context(funded.tenant):
        assert FundProof.objects.count() == 0


def test_claiming_an_expired_request_says_so(funded: World, client_for) -> None:
    with tenant_context(funded.tenant):
        request = approved_request(funded, funded.period, "2000")
        fund_preapprovals_expire(today=request.claim_deadline + timezone.timedelta(days=1))
    response = client_for(funded, funded.partner_user).get(f"/funds/requests/{request.pk}/claim/", follow=True)
    assert "This request cannot be claimed now: expired." in response.content.decode()


# --- Review queues -------------------------------------------------------------------------------------------------


def test_review_queues_show_age_amount_evidence_and_history(funded: World, client_for, django_assert_max_num_queries):
    with tenant_context(funded.tenant):
        for index in range(5):
            submitted_request(funded, funded.period, "100", key=f"w-{index}")
        for index in range(5):
            claim(
                funded,
                approved_request(funded, funded.period, "100", key=f"a-{index}"),
                cost="200",
                amount="100",
                key=f"c-{index}",
            )
    client = client_for(funded, funded.manager)
    client.get("/funds/review/")
    with django_assert_max_num_queries(14):  # session, user, membership, tenant (≈8) + 2 queues, proofs, 2 histories
        response = client.get("/funds/review/")
    page = response.content.decode()
    assert "5 requests awaiting pre-approval" in page
    assert "5 claims awaiting review" in page
    assert "10 requests" in page  # the partner's history
    assert ">Invoice</a>" in page
    assert ">Photo</a>" in page


def test_preapproval_is_confirmed_first_then_done_once(funded: World, client_for) -> None:
    with tenant_context(funded.tenant):
        request = submitted_request(funded, funded.period, "2000")
    client = client_for(funded, funded.manager)
    url = f"/funds/review/requests/{request.pk}/"
    assert "Cloud migration webinar" in client.get(url).content.decode()

    asked = client.post(url, {"decision": "approve", "percent": "80", "reason": "80 % of venue costs"})
    page = asked.content.decode()
    assert "Pre-approve $1,600.00 of the $2,000.00 Acme Partner One asked for?" in page
    assert "$1,600.00 is committed from Acme Partner One&#x27;s funds: $3,400.00 stays available." in page
    assert '<input type="hidden" name="confirmed" value="1">' in page
    assert counts(funded) == (1, 0, 1)  # nothing yet

    done = client.post(
        url, {"decision": "approve", "amount": "1600.00", "reason": "80 % of venue costs", "confirmed": "1"}
    )
    assert done.status_code == 302
    again = client.post(url, {"decision": "approve", "amount": "1600.00", "reason": "x", "confirmed": "1"})
    assert "This request was already decided: Pre-approved." in again.content.decode()
    with tenant_context(funded.tenant):
        request.refresh_from_db()
        assert (request.status, request.approved_amount) == (FundRequest.Status.APPROVED, Decimal("1600.00"))
        assert FundEntry.objects.filter(kind="commit").count() == 1


def test_partial_preapproval_without_a_reason_is_a_form_error(funded: World, client_for) -> None:
    with tenant_context(funded.tenant):
        request = submitted_request(funded, funded.period, "2000")
    response = client_for(funded, funded.manager).post(
        f"/funds/review/requests/{request.pk}/", {"decision": "approve", "amount": "1000", "confirmed": "1"}
    )
    assert response.status_code == 200
    assert "Say why only part of the amount is approved." in response.content.decode()
    assert counts(funded) == (1, 0, 1)


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({"decision": "approve", "amount": "1000"}, "Say why only part of the amount is approved."),
        ({"decision": "approve", "amount": "2000.01"}, "Approve at most the amount requested."),
        ({"decision": "reject", "reason": " "}, "Say why the request is rejected."),
    ],
)
def test_a_request_decision_the_service_would_refuse_is_a_form_error_before_the_confirmation(
    funded: World, client_for, post, message
) -> None:
    """Walk 10: the confirmation page asked "Pre-approve $1,000.00?" and only its button said a reason was missing."""
    with tenant_context(funded.tenant):
        request = submitted_request(funded, funded.period, "2000")
    response = client_for(funded, funded.manager).post(f"/funds/review/requests/{request.pk}/", post)
    page = response.content.decode()
    assert message in page
    assert 'name="confirmed"' not in page
    assert counts(funded) == (1, 0, 1)


def test_a_request_above_what_is_still_available_is_a_form_error_before_the_confirmation(
    funded: World, client_for
) -> None:
    """Two requests fit alone; once the first is committed, confirming the second would say "-$… stays available"."""
    with tenant_context(funded.tenant):
        first = submitted_request(funded, funded.period, "3000", key="req-first")
        second = submitted_request(funded, funded.period, "2500", key="req-second")
        fund_request_approve(request=first, actor=funded.manager)
    before = counts(funded)
    response = client_for(funded, funded.manager).post(
        f"/funds/review/requests/{second.pk}/", {"decision": "approve", "amount": "2500"}
    )
    page = response.content.decode()
    assert "Only $2,000.00 is available: approve at most that, with a reason." in page
    assert 'name="confirmed"' not in page
    assert "stays available" not in page
    assert counts(funded) == before


def test_paying_less_than_claimed_without_a_reason_is_a_form_error_before_the_confirmation(
    funded: World, client_for
) -> None:
    with tenant_context(funded.tenant):
        fund_claim = claim(funded, approved_request(funded, funded.period, "2000"), amount="1500")
    before = counts(funded)
    response = client_for(funded, funded.manager).post(
        f"/funds/review/claims/{fund_claim.pk}/", {"decision": "approve", "amount": "1000", "method": "credit_note"}
    )
    page = response.content.decode()
    assert "Say why less than the claim is approved." in page
    assert 'name="confirmed"' not in page
    assert counts(funded) == before


def test_rejecting_a_request_is_confirmed_and_needs_a_reason(funded: World, client_for) -> None:
    with tenant_context(funded.tenant):
        request = submitted_request(funded, funded.period, "2000")
    client = client_for(funded, funded.manager)
    url = f"/funds/review/requests/{request.pk}/"
    assert "Reject the request" in client.post(url, {"decision": "reject", "reason": "Off-brand"}).content.decode()
    assert (
        "Say why the request is rejected."
        in client.post(url, {"decision": "reject", "reason": "", "confirmed": "1"}).content.decode()
    )
    assert client.post(url, {"decision": "reject", "reason": "Off-brand", "confirmed": "1"}).status_code == 302
    with tenant_context(funded.tenant):
        request.refresh_from_db()
        assert (request.status, request.decision_reason) == (FundRequest.Status.REJECTED, "Off-brand")


def test_claim_approval_issues_a_credit_note_the_partner_sees(funded: World, client_for) -> None:
    with tenant_context(funded.tenant):
        request = approved_request(funded, funded.period, "2000", approve="1600")
        submitted = claim(funded, request, cost="3000", amount="1500")
    client = client_for(funded, funded.manager)
    url = f"/funds/review/claims/{submitted.pk}/"
    assert "room.png" in client.get(url).content.decode()
    asked = client.post(url, {"decision": "approve", "amount": "", "method": "credit_note"}).content.decode()
    assert "A credit note for $1,500.00 is issued to Acme Partner One." in asked
    assert "The other $100.00 of the pre-approval goes back to the partner&#x27;s available funds." in asked
    assert (
        client.post(
            url, {"decision": "approve", "amount": "1500.00", "method": "credit_note", "reason": "", "confirmed": "1"}
        ).status_code
        == 302
    )
    with tenant_context(funded.tenant):
        payout = FundPayout.objects.get()
    page = client_for(funded, funded.partner_admin).get("/funds/").content.decode()
    assert payout.number in page
    note = client_for(funded, funded.partner_admin).get(f"/funds/credit-notes/{payout.pk}/").content.decode()
    assert f"Credit note {payout.number}" in note
    assert "$1,500.00" in note


# --- Budget --------------------------------------------------------------------------------------------------------


def test_budget_by_tier_and_region_with_csv(funded: World, client_for, django_assert_max_num_queries) -> None:
    with tenant_context(funded.tenant):
        funded.partner.region = "EMEA"
        funded.partner.save(update_fields=["region"])
        paid = approved_request(funded, funded.period, "2000", approve="1600", key="paid")
        fund_claim_approve(claim=claim(funded, paid, cost="3000", amount="1500"), actor=funded.manager)
        expired = approved_request(funded, funded.period, "700", key="expired")
        fund_preapprovals_expire(today=expired.claim_deadline + timezone.timedelta(days=1))
        submitted_request(funded, funded.period, "300", key="waiting")
    client = client_for(funded, funded.manager)
    client.get("/funds/budget/")
    with django_assert_max_num_queries(14):  # ≈8 for the request + periods, accounts, entries, requests, claims
        page = client.get("/funds/budget/").content.decode()
    # allocated 5,000; requested 2,000 + 700 + 300; approved 1,600 + 700; claimed 1,500; paid 1,500; expired 700
    row = (
        '<td class="number">1</td><td class="number nowrap">$5,000.00</td><td class="number nowrap">$3,000.00'
        '</td><td class="number nowrap">$2,300.00</td><td class="number nowrap">$1,500.00</td><td class="number'
        ' nowrap">$1,500.00</td><td class="number nowrap">$700.00</td>'
    )
    assert f'<th scope="row">Gold</th>{row}' in page
    assert f'<th scope="row">EMEA</th>{row}' in page
    csv = client.get(f"/funds/budget.csv?period={funded.period.pk}").content.decode()
    assert "Period,Grouping,Name,Partners,Currency,Allocated,Requested,Approved,Claimed,Paid,Expired" in csv
    assert f"{funded.period.name},Tier,Gold,1,USD,5000.00,3000.00,2300.00,1500.00,1500.00,700.00" in csv
    assert f"{funded.period.name},Region,EMEA,1,USD,5000.00,3000.00,2300.00,1500.00,1500.00,700.00" in csv


# --- Your Gold benefits --------------------------------------------------------------------------------------------


def test_home_says_how_much_of_the_tiers_funds_is_used(funded: World, client_for) -> None:
    with tenant_context(funded.tenant):
        approved_request(funded, funded.period, "1200")
    page = client_for(funded, funded.partner_user).get("/").content.decode()
    assert "Your Gold benefits" in page
    assert "$1,200.00 used of $5,000.00 this period; $3,800.00 available" in page


def test_funds_page_speaks_spanish(funded: World, client_for) -> None:
    funded.partner_admin.language = "es"
    funded.partner_admin.save(update_fields=["language"])
    with tenant_context(funded.tenant):
        approved_request(funded, funded.period, "1200")
    page = client_for(funded, funded.partner_admin).get("/funds/").content.decode()
    assert "<h1>Fondos</h1>" in page
    assert "<strong>3.800,00\xa0US$</strong>" in page
    assert "Preaprobada" in page
    assert "Request funds" not in page


def test_a_request_above_the_funds_says_the_amount_in_the_readers_language(funded: World, client_for) -> None:
    funded.partner_admin.language = "es"
    funded.partner_admin.save(update_fields=["language"])
    response = client_for(funded, funded.partner_admin).post("/funds/request/", request_post(amount="9000"))
    assert "Tiene 5.000,00\xa0US$ disponibles en este periodo." in response.content.decode()
    assert counts(funded) == (0, 0, 1)


def test_rebates_accrued_show_on_home_and_funds_page(funded: World, client_for) -> None:
    from earning.services import activity_approve
    from partners.models import Activity

    with tenant_context(funded.tenant):
        sale = Activity.objects.create(
            partner=funded.partner,
            kind="sale",
            occurred_at=timezone.now() - timezone.timedelta(hours=1),
            amount=Decimal("62000.00"),
            currency="USD",
            source=Activity.Source.API,
        )
        activity_approve(activity=sale, actor=funded.manager)
    client = client_for(funded, funded.partner_user)
    assert "$1,240.00 accrued in This quarter at 2 %" in client.get("/").content.decode()
    page = client.get("/funds/").content.decode()
    assert "<strong>$1,240.00 accrued in This quarter at 2 %</strong>" in page
