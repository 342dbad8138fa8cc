"""One partner's week in Chromium: sign in, read the tier and the gap, redeem and see the balance fall,
download the statement, submit a claim, sign out."""

from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from tests.browser.conftest import shoot
from tests.conftest import World
from tests.partners.helpers import PDF_BYTES
from tests.portal.test_dashboard import sale
from tests.rewards.factories import RewardFactory, give_points
from tests.tiers.factories import revenue_program
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish

pytestmark = pytest.mark.browser


def test_a_partner_reads_redeems_downloads_claims_and_signs_out(page, acme: World, sign_in, url_for, tmp_path):
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
        sale(acme, "52000")
        tenant_evaluate(
            evaluated_on=timezone.localdate(), dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
        )
        give_points(acme.partner, 1000, "welcome")
        RewardFactory(name="Branded mug", points_cost=150)

    sign_in(page, acme, acme.partner_user)
    # The tier and the gap, in words.
    assert page.locator(".tier-card h2").inner_text() == "Silver"
    assert page.locator(".gap").inner_text() == "$12,995 more in sales reaches Gold. Claim a sale"  # with the way in
    assert page.locator("article", has_text="Points").locator(".score strong").inner_text() == "1,000"
    shoot(page, "journey-dashboard", check_overflow=True)

    # Redeem, and see the balance fall.
    page.get_by_role("link", name="Rewards").click()
    page.locator("article.reward", has_text="Branded mug").get_by_role("button", name="Redeem").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Redeem 1 for 150 points").click()
    page.goto(url_for(acme, "/"))
    assert page.locator("article", has_text="Points").locator(".score strong").inner_text() == "850"

    # Download the statement: the redemption is its first line.
    page.get_by_role("link", name="Statement").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    lines = download.value.path().read_text().splitlines()
    assert lines[0].lower().startswith("posted,dated,kind,points,balance")
    assert ",-150,850," in lines[1]

    # Submit a claim with evidence.
    invoice = tmp_path / "invoice.pdf"
    invoice.write_bytes(PDF_BYTES)
    page.get_by_role("link", name="Claims").click()
    page.get_by_role("button", name="Claim a sale or training").click()
    page.get_by_label("Invoice number").fill("INV-9001")
    page.get_by_label("Date").fill((timezone.localdate() - timedelta(days=1)).isoformat())
    page.get_by_label("Amount (USD)").fill("800.00")
    page.locator("input[name=evidence]").set_input_files(str(invoice))
    with page.expect_navigation():
        page.get_by_role("button", name="Submit the claim").click()
    assert "Waiting for review" in page.locator("tr", has_text="INV-9001").inner_text()

    # Sign out: the portal asks for a sign-in again.
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    page.goto(url_for(acme, "/"))
    assert "/accounts/login/" in page.url
