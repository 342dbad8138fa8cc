"""The market development funds journey in Chromium, in English and Spanish, at desktop and phone width:

a Gold partner sees its benefits with what is used, requests funds for a webinar; the program manager pre-approves
80 % (confirmed first); the partner claims with an invoice; the manager approves and pays (confirmed first; going
back and confirming again pays nothing more); the credit note appears on the partner's Funds page.
"""

from decimal import Decimal

import pytest
from django.utils import timezone

from funds.models import FundClaim, FundPayout, FundRequest
from loyalty.tenancy.context import tenant_context
from tests.browser.conftest import DESKTOP, TIMEOUT_MS, shoot
from tests.conftest import World
from tests.funds.helpers import gold_partner_with_funds, submitted_request
from tests.partners.helpers import PDF_BYTES

pytestmark = pytest.mark.browser

WORDS = {
    "en": {"benefits": "Your Gold benefits", "available": "$5,000.00", "approved": "$1,600.00", "left": "$3,400.00"},
    "es": {"benefits": "Sus beneficios de Gold", "available": "5.000,00", "approved": "1.600,00", "left": "3.400,00"},
}  # fmt: skip


def staff_page(browser, sign_in, world: World):
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, world, world.manager)
    return context, page


@pytest.mark.parametrize("language", ["en", "es"])
def test_request_preapprove_80_percent_claim_with_invoice_and_see_the_credit_note(
    page, browser, acme: World, sign_in, url_for, tmp_path, language: str
) -> None:
    words = WORDS[language]
    for person in (acme.partner_admin, acme.manager):
        person.language = language
        person.save(update_fields=["language"])
    with tenant_context(acme.tenant):
        gold_partner_with_funds(acme)
    invoice = tmp_path / "invoice-webinar.pdf"
    invoice.write_bytes(PDF_BYTES)

    # The Gold partner reads its benefits and what of its funds is available, then requests funds for a webinar.
    sign_in(page, acme, acme.partner_admin)
    benefits = page.locator("article", has=page.locator("h2", has_text=words["benefits"]))
    assert words["available"] in benefits.locator(".fund-usage").inner_text()
    shoot(page, f"funds-dashboard-{language}", check_overflow=True)
    page.locator("header nav a[href='/funds/']").click()
    assert words["available"] in page.locator("main").inner_text()
    page.locator("a[href='/funds/request/']").click()
    page.locator("[name=activity_type]").select_option("webinar")
    page.locator("[name=title]").fill("Cloud webinar <b>live</b>")
    page.locator("[name=description]").fill("One hour for 200 IT managers.")
    page.locator("[name=planned_on]").fill(timezone.localdate().isoformat())
    page.locator("[name=amount]").fill("2000")
    page.locator("[name=expected_results]").fill("40 qualified leads")
    shoot(page, f"funds-request-{language}", check_overflow=True)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    assert page.locator(".message").count() == 1
    with tenant_context(acme.tenant):
        fund_request = FundRequest.objects.get()
    assert fund_request.title == "Cloud webinar <b>live</b>"  # kept as typed, shown escaped

    # The program manager pre-approves 80 %, with a reason; the confirmation says what it commits.
    reviewer, staff = staff_page(browser, sign_in, acme)
    staff.goto(url_for(acme, "/funds/review/"))
    assert "Cloud webinar <b>live</b>" in staff.locator(f"tr#fund-request-{fund_request.pk}").inner_text()
    shoot(staff, f"funds-review-{language}", check_overflow=True)
    staff.locator(f"a[href='/funds/review/requests/{fund_request.pk}/']").click()
    staff.locator("input[name=decision][value=approve]").check()
    staff.locator("[name=percent]").fill("80")
    staff.locator("[name=reason]").fill("80 % of the venue: the room is shared.")
    with staff.expect_navigation():
        staff.locator("main form button[type=submit]").click()
    assert words["approved"] in staff.locator(".confirm-action").inner_text()
    shoot(staff, f"funds-preapprove-confirm-{language}", check_overflow=True)
    with staff.expect_navigation():
        staff.locator(".confirm-action button[type=submit]").click()
    with tenant_context(acme.tenant):
        fund_request.refresh_from_db()
    assert (fund_request.status, fund_request.approved_amount) == ("approved", Decimal("1600.00"))

    # The partner claims with the invoice: 1,600 of a 3,200 cost (the period reimburses at most 50 %).
    page.goto(url_for(acme, "/funds/"))
    assert words["approved"] in page.locator("main").inner_text()
    page.locator(f"a[href='/funds/requests/{fund_request.pk}/claim/']").click()
    page.locator("[name=performed_on]").fill(timezone.localdate().isoformat())
    page.locator("[name=total_cost]").fill("3200")
    page.locator("[name=amount]").fill("1600")
    page.locator("[name=results]").fill("180 attendees, 41 leads")
    page.locator("[name=leads_generated]").fill("41")
    page.locator("[name=invoice]").set_input_files(invoice)
    shoot(page, f"funds-claim-{language}", check_overflow=True)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    with tenant_context(acme.tenant):
        claim = FundClaim.objects.get()

    # The manager approves and pays, confirmed first; back and confirm again: still one payout.
    staff.goto(url_for(acme, f"/funds/review/claims/{claim.pk}/"))
    staff.locator("input[name=decision][value=approve]").check()
    with staff.expect_navigation():
        staff.locator("main form button[type=submit]").click()
    shoot(staff, f"funds-pay-confirm-{language}", check_overflow=True)
    with staff.expect_navigation():
        staff.locator(".confirm-action button[type=submit]").click()
    staff.go_back()
    with staff.expect_navigation():
        staff.locator(".confirm-action button[type=submit]").click()
    assert staff.locator(".confirm-action .message").count() == 1  # "already decided"
    shoot(staff, f"funds-pay-repeated-{language}", check_overflow=True)
    reviewer.close()
    with tenant_context(acme.tenant):
        payout = FundPayout.objects.get()
    assert (payout.amount, payout.claim_id) == (Decimal("1600.00"), claim.pk)

    # The credit note is on the partner's Funds page; the funds left are 5,000 − 1,600.
    page.goto(url_for(acme, "/funds/"))
    assert payout.number in page.locator(f"tr#payout-{payout.pk}").inner_text()
    assert words["left"] in page.locator("main").inner_text()
    shoot(page, f"funds-paid-{language}", check_overflow=True)
    page.locator(f"a[href='/funds/credit-notes/{payout.pk}/']").click()
    assert payout.number in page.locator("main").inner_text()
    shoot(page, f"funds-credit-note-{language}", check_overflow=True)


def test_a_partial_preapproval_without_a_reason_is_said_on_the_form_not_after_the_confirmation(
    page, acme: World, sign_in, url_for
) -> None:
    """Walk 10: the manager confirmed "Pre-approve $1,000.00?" and only then read that a reason was missing."""
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        fund_request = submitted_request(acme, period, "2000")
    sign_in(page, acme, acme.manager)
    page.goto(url_for(acme, f"/funds/review/requests/{fund_request.pk}/"))
    page.locator("input[name=decision][value=approve]").check()
    page.locator("[name=percent]").fill("50")
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    assert page.locator(".confirm-action").count() == 0
    assert "Say why only part of the amount is approved." in page.locator("main form").inner_text()
    shoot(page, "funds-partial-without-reason", check_overflow=True)
    page.locator("[name=reason]").fill("Half: the venue is shared.")
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    assert "$1,000.00" in page.locator(".confirm-action").inner_text()
    with tenant_context(acme.tenant):
        fund_request.refresh_from_db()
    assert fund_request.status == FundRequest.Status.SUBMITTED  # nothing before the confirmation
