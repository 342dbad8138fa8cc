"""The program dashboard in Chromium: figures, charts with their text alternatives, phone width, axe."""

import pytest

from loyalty.tenancy.context import tenant_context
from tests.browser.conftest import shoot
from tests.browser.test_accessibility import violations
from tests.conftest import World
from tests.portal.test_program import add_points, build_program
from tiers.models import Tier

pytestmark = pytest.mark.browser

COLOURS = {"Registered": "#6b7280", "Silver": "#94a3b8", "Gold": "#ca8a04", "Platinum": "#475569"}


def test_program_dashboard_reads_well_at_desktop_and_phone_width(page, acme: World, sign_in, url_for) -> None:
    add_points(build_program(acme))
    with tenant_context(acme.tenant):
        for name, colour in COLOURS.items():
            Tier.objects.filter(name=name).update(colour=colour)
    sign_in(page, acme, acme.manager)
    page.locator("header.site-header").get_by_role("link", name="Program", exact=True).click()
    page.wait_for_url(url_for(acme, "/program/"))

    # Enrolled, participation, redemption over 90 days (1,000 earned, 200 redeemed), liability.
    assert page.locator(".kpis:not(.queues) .figure").all_inner_texts() == ["5", "60.0 %", "20.0 %", "15.50 USD"]
    for chart in page.locator("svg[role=img]").all():
        labelled_by = chart.get_attribute("aria-labelledby").split()
        assert [chart.locator(f"#{part}").count() for part in labelled_by] == [1, 1]
    assert page.get_by_role("link", name="Alpha").count() == 1  # near the next tier, linked
    page.get_by_label("Redemption period").select_option("365")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(url_for(acme, "/program/?period=365"))
    assert page.locator(".kpis:not(.queues) .figure").nth(2).inner_text() == "13.3 %"
    page.locator("details summary").click()  # the table behind the charts
    shoot(page, "program-dashboard", check_overflow=True)
    assert violations(page) == []
