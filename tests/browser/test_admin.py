"""The tenant admin in Chromium: a program manager edits a draft tier model, simulates it, publishes it, and
reviews a claim from the queue on the index page."""

from datetime import timedelta

import pytest

from loyalty.ledger.models import AdjustmentRequest
from loyalty.ledger.services import points_account_for
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry
from partners.models import Claim
from tests.browser.conftest import shoot
from tests.conftest import World
from tests.factories import MembershipFactory
from tests.partners.test_review_admin import pending_claim
from tests.rewards.factories import give_points
from tests.tiers.factories import revenue_program, sale, today
from tiers.models import Tier, TierModel

pytestmark = pytest.mark.browser


def test_manager_edits_simulates_and_publishes_a_draft(page, acme: World, sign_in, url_for) -> None:
    with tenant_context(acme.tenant):
        draft = revenue_program(name="Scorecard 2027").model
        sale(acme.partner, today() - timedelta(days=10), "37000")  # score 37: Registered at 40, Silver at 35
    sign_in(page, acme, acme.manager)

    page.goto(url_for(acme, f"/admin/tiers/tiermodel/{draft.pk}/change/"))
    with page.expect_navigation():
        page.get_by_role("link", name="Simulate on today's partners").click()
    assert "Simulation of Scorecard 2027" in page.locator("h1").inner_text()
    assert "Silver" in page.locator("main, #content").first.inner_text()
    shoot(page, "admin-simulation")

    # Issue 17 item 5: what was typed is saved before publishing, and publishing says what happens and asks first.
    page.goto(url_for(acme, f"/admin/tiers/tiermodel/{draft.pk}/change/"))
    silver = page.locator("input[name='tiers-1-minimum_score']")
    assert silver.input_value() == "40.00"
    silver.fill("35")
    with page.expect_navigation():
        page.get_by_role("button", name="Save and publish…").click()
    plan = page.locator("#content").inner_text()
    assert "Active from today" in plan
    assert "2 partners would move" in plan
    shoot(page, "admin-publish-confirm")
    with tenant_context(acme.tenant):
        assert TierModel.objects.get(pk=draft.pk).status == TierModel.Status.DRAFT
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm: publish now").click()
    assert "is now the active model" in page.locator(".messagelist").inner_text()
    shoot(page, "admin-tier-model")
    with tenant_context(acme.tenant):
        draft.refresh_from_db()
        assert draft.status == TierModel.Status.ACTIVE
        assert Tier.objects.get(model=draft, name="Silver").minimum_score == 35
        program_changes = AuditEntry.objects.filter(category=AuditEntry.Category.CHANGE)  # not the sign-in
        assert list(program_changes.order_by("pk").values_list("action", "summary")) == [
            (AuditEntry.Action.CHANGE, ""),
            (AuditEntry.Action.ACTION, "Published Scorecard 2027 v1"),
        ]


def test_manager_rejects_a_claim_from_the_review_queue(page, acme: World, sign_in, url_for) -> None:
    claim = pending_claim(acme)
    sign_in(page, acme, acme.manager)

    page.goto(url_for(acme, "/admin/"))
    queue = page.locator("#review-queues tr", has_text="Claims")
    assert queue.locator("td").first.inner_text() == "1"
    shoot(page, "admin-index")
    with page.expect_navigation():
        queue.get_by_role("link", name="Claims").click()
    with page.expect_navigation():
        page.locator("#result_list tbody tr").first.locator("th a").click()

    assert page.get_by_role("link", name="Open invoice.pdf (PDF) in a new tab").is_visible()
    shoot(page, "admin-claim-review")
    with page.expect_navigation():
        page.get_by_role("button", name="Reject").click()
    assert "Give a reason to reject" in page.locator(".messagelist").inner_text()
    page.get_by_label("Reason (required to reject; shown to the partner)").fill("The invoice names another vendor.")
    with page.expect_navigation():
        page.get_by_role("button", name="Reject").click()

    assert "1 rejected." in page.locator(".messagelist").inner_text()
    assert page.locator("#review-box").count() == 0
    claim.refresh_from_db()
    assert (claim.status, claim.review_note) == (Claim.Status.REJECTED, "The invoice names another vendor.")


def test_a_large_adjustment_is_checked_then_approved_by_a_second_person(page, acme: World, sign_in, url_for) -> None:
    """Issue 17, item 8: the adjust form shows the consequence first; above the limit a colleague approves."""
    second = MembershipFactory(tenant=acme.tenant, role="owner").user
    with tenant_context(acme.tenant):
        give_points(acme.partner, 1_200, "browser-four-eyes")
        account = points_account_for(partner=acme.partner)
    sign_in(page, acme, acme.manager)
    page.goto(url_for(acme, f"/admin/ledger/pointsaccount/{account.pk}/adjust/"))
    page.get_by_label("Points (negative to deduct)").fill("25000")
    page.get_by_label("Reason").fill("Trade show <b>bonus</b>")
    with page.expect_navigation():
        page.get_by_role("button", name="Check the adjustment").click()
    preview = page.locator("#adjustment-preview").inner_text()
    assert "Balance: 1,200 → 26,200 points." in preview
    assert "Trade show <b>bonus</b>" in preview  # the reason as typed, not as markup
    shoot(page, "admin-adjust-preview", check_overflow=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Ask for approval").dblclick()  # a double click asks once
    assert "wait for a second program manager or owner" in page.locator(".messagelist").inner_text()
    with tenant_context(acme.tenant):
        assert AdjustmentRequest.objects.count() == 1

    page.context.clear_cookies()
    sign_in(page, acme, second)
    page.goto(url_for(acme, "/admin/"))
    queue = page.locator("#review-queues tr", has_text="Adjustment requests")
    assert queue.locator("td").first.inner_text() == "1"
    with page.expect_navigation():
        queue.get_by_role("link").click()
    assert "+25,000" in page.locator("#result_list").inner_text()
    shoot(page, "admin-adjustment-queue", check_overflow=True)
    with page.expect_navigation():
        page.locator("#result_list tbody tr").first.locator("th a").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Approve").click()
    with tenant_context(acme.tenant):
        account.refresh_from_db()
        assert account.balance == 26_200
