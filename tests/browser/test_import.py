"""The CSV import in Chromium: a program manager uploads a file with one bad row, reads the error, imports the rest."""

from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from partners.models import Activity
from tests.browser.conftest import shoot
from tests.conftest import World
from tests.partners.helpers import balance_of, sales_rule

pytestmark = pytest.mark.browser


def test_program_manager_imports_a_csv_with_one_bad_row(page, acme: World, sign_in, url_for, tmp_path) -> None:
    sales_rule(acme)
    day = (timezone.now() - timedelta(days=3)).date().isoformat()
    partner = acme.partner.external_id
    lines = [
        "partner,external_id,kind,occurred_at,amount,currency,quantity,product_sku,product_category",
        f"{partner},INV-1001,sale,{day},1250.00,USD,2,SW-24P,switches",
        f"{partner},INV-1002,sale,{day},12.50 EUR,USD,1,SW-8P,switches",
        f"{partner},INV-1003,sale,{day}T09:30:00+00:00,300,USD,1,AP-1,wireless",
    ]
    file = tmp_path / "march-sales.csv"
    file.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    sign_in(page, acme, acme.manager)

    page.goto(url_for(acme, "/admin/partners/importjob/add/"))
    assert page.get_by_role("link", name="Download a template CSV").is_visible()
    shoot(page, "admin-import-upload", check_overflow=True)
    page.get_by_label("CSV file").set_input_files(file)
    with page.expect_navigation():
        page.get_by_role("button", name="Check the file").click()

    errors = page.get_by_role("table", name="Errors by row and column")
    assert errors.locator("tbody tr").count() == 1
    assert errors.locator("tbody tr").inner_text().split("\t") == [
        "3",
        "amount",
        "Give the amount as a number, like 1250.00.",
    ]
    preview = page.get_by_role("table", name="The first rows of the file, cell by cell")
    assert preview.locator("tbody tr").count() == 3
    assert "error" in preview.locator("tbody tr").nth(1).inner_text()
    assert page.get_by_label("Rows checked").get_attribute("value") == "3"
    assert "3 / 3 rows" in page.locator("#import-progress").inner_text()
    with tenant_context(acme.tenant):
        assert Activity.objects.count() == 0
    shoot(page, "admin-import-preview", check_overflow=True)

    with page.expect_navigation():
        page.get_by_role("button", name="Import 2 activities").click()
    assert "Import done: 2 created, 0 already there, 1 with errors." in page.locator(".messagelist").inner_text()
    assert "Done" in page.locator("#import-progress").inner_text()
    assert page.locator(".import-counts").inner_text().split()[:1] == ["Created"]
    with tenant_context(acme.tenant):
        assert sorted(Activity.objects.values_list("external_id", flat=True)) == ["INV-1001", "INV-1003"]
    assert balance_of(acme) == 1250 + 300
    shoot(page, "admin-import-done", check_overflow=True)

    page.goto(url_for(acme, "/admin/partners/importjob/"))
    assert "march-sales.csv" in page.locator("#result_list").inner_text()
    shoot(page, "admin-import-list")
