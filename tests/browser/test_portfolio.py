"""The worklist and a partner's staff page in Chromium: sort, filter, flags, notes, phone width, axe."""

import pytest

from tests.browser.conftest import shoot
from tests.browser.test_accessibility import violations
from tests.conftest import World
from tests.portal.test_program import build_program

pytestmark = pytest.mark.browser


def test_worklist_sorts_filters_and_fits_a_phone(page, acme: World, sign_in, url_for) -> None:
    build_program(acme)
    sign_in(page, acme, acme.manager)
    page.locator("header.site-header").get_by_role("link", name="Portfolio", exact=True).click()
    page.wait_for_url(url_for(acme, "/portfolio/"))
    rows = page.locator("table.worklist tbody th[scope=row] a")
    assert rows.all_inner_texts() == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
    shoot(page, "portfolio-worklist", check_overflow=True)
    assert violations(page) == []

    page.get_by_role("link", name="Score").click()
    page.get_by_role("link", name="Score ↑").click()  # the second click sorts the other way
    assert rows.all_inner_texts() == ["Bravo", "Delta", "Alpha", "Charlie", "Echo"]
    page.get_by_label("Flag").select_option("at_risk")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**flag=at_risk**")
    assert rows.all_inner_texts() == ["Bravo", "Charlie"]
    assert page.locator("tbody tr").first.locator(".flag-risk").inner_text().startswith("At risk")


def test_partner_page_shows_the_partner_view_and_takes_notes(page, acme: World, sign_in, url_for) -> None:
    fixture = build_program(acme)
    sign_in(page, acme, acme.account_manager)
    page.goto(url_for(acme, f"/portfolio/{fixture.alpha.pk}/"))
    assert page.locator(".tier-card h2").inner_text() == "Silver"
    page.get_by_label("New note").fill("Called about the Q3 plan <b>bold</b>")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_url(url_for(acme, f"/portfolio/{fixture.alpha.pk}/"))
    assert page.locator(".notes li p").first.inner_text() == "Called about the Q3 plan <b>bold</b>"
    page.get_by_role("button", name="Re-score now").click()
    assert page.get_by_role("status").first.inner_text() == "Re-scored now: 60.00 (Silver)."
    shoot(page, "portfolio-partner", check_overflow=True)
    assert violations(page) == []
