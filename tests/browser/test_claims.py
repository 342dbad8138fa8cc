"""The claim pages in Chromium: submit a sale claim with a PDF, see it waiting for review; phone width fits."""

from decimal import Decimal

import pytest

from earning.services import claim_reject
from loyalty.tenancy.context import tenant_context
from partners.models import Claim
from tests.browser.conftest import shoot
from tests.conftest import World
from tests.partners.helpers import PDF_BYTES
from tests.portal.test_claims import YESTERDAY, make_claim

pytestmark = pytest.mark.browser


def test_partner_submits_a_sale_claim_and_sees_it_waiting(page, acme: World, sign_in, url_for, tmp_path) -> None:
    make_claim(acme, invoice_number="INV-2024-000981-NORTHWIND-LONG-REFERENCE", amount=Decimal("1234567.89"))
    rejected = make_claim(acme, invoice_number="INV-OLD-1")
    with tenant_context(acme.tenant):
        claim_reject(claim=rejected, actor=acme.manager, reason="The invoice does not name your company; resend it.")
    invoice = tmp_path / "invoice-4711.pdf"
    invoice.write_bytes(PDF_BYTES)
    sign_in(page, acme, acme.partner_user)

    page.goto(url_for(acme, "/claims/new/"))
    assert page.locator("input[name=code]").is_hidden()  # a sale is chosen: the training fields stay out of the way
    shoot(page, "claims-new", check_overflow=True)
    page.get_by_label("Invoice number").fill("INV-4711")
    page.get_by_label("Date").fill(YESTERDAY.isoformat())
    page.get_by_label("Amount (USD)").fill("2500.00")
    page.get_by_label("Product SKU").fill("SRV-01")
    page.locator("input[name=evidence]").set_input_files(invoice)
    with page.expect_navigation():
        page.get_by_role("button", name="Submit the claim").click()

    assert page.url.endswith("/claims/")
    assert "waits for the program team's review" in page.locator(".message").inner_text()
    row = page.locator("tr.claim", has_text="INV-4711")
    assert "Waiting for review" in row.inner_text()
    assert "2,500.00 USD" in row.inner_text()
    assert row.get_by_role("link", name="View evidence").get_attribute("href").startswith("/evidence/")
    assert "resend it" in page.locator("tr.claim", has_text="INV-OLD-1").inner_text()
    with tenant_context(acme.tenant):
        assert Claim.objects.get(invoice_number="INV-4711").activity.evidence.read() == PDF_BYTES
    shoot(page, "claims", check_overflow=True)
