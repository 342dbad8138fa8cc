"""The partner statement in Chromium: the table, its causes, and a phone-width page that does not scroll sideways."""

import pytest

from tests.browser.conftest import shoot
from tests.conftest import World
from tests.portal.test_statement import earn

pytestmark = pytest.mark.browser


def test_statement_table_reads_well_and_fits_a_phone(page, acme: World, sign_in, url_for) -> None:
    earn(acme, 500, "welcome")
    for index in range(3):
        earn(acme, 1200 + index, f"bonus-{index}")
    sign_in(page, acme, acme.partner_user)
    page.goto(url_for(acme, "/statement/"))

    headers = page.locator("table.statement thead th").all_inner_texts()
    assert headers == ["Posted", "Kind", "Points", "Balance", "Cause"]
    newest = page.locator("table.statement tbody tr").first.locator("td").all_inner_texts()
    assert newest[1:] == ["Earned", "+1,202", "4,103", "Welcome bonus"]
    assert page.get_by_role("button", name="Download CSV").get_attribute("href") == "/statement/csv/"
    shoot(page, "statement", check_overflow=True)
