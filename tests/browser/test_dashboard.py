"""The partner dashboard in Chromium: accessible progress bars, the gap in words, phone width."""

import pytest
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from tests.browser.conftest import shoot
from tests.conftest import World
from tests.portal.test_dashboard import sale
from tests.tiers.factories import revenue_program
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish

pytestmark = pytest.mark.browser


def test_dashboard_progress_bars_are_labelled_and_the_page_fits_a_phone(page, acme: World, sign_in) -> None:
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
        sale(acme, "52000")
        tenant_evaluate(
            evaluated_on=timezone.localdate(), dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
        )
    sign_in(page, acme, acme.partner_user)

    assert page.locator(".tier-card h2").inner_text() == "Silver"
    overall = page.get_by_label("Score 52.00 of 65.00 needed for Gold")
    assert overall.evaluate("e => [e.tagName, e.value, e.max]") == ["PROGRESS", 52, 65]
    revenue = page.get_by_label("Revenue $52,000 / $100,000")
    assert revenue.evaluate("e => [e.tagName, e.value, e.max]") == ["PROGRESS", 52000, 100000]
    assert page.locator(".gap").inner_text() == "$12,995 more in sales reaches Gold. Claim a sale"  # with the way in
    shoot(page, "dashboard-partner", check_overflow=True)
