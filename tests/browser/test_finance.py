"""Finance and analytics in Chromium, in English and Spanish, at desktop and phone width: a finance member opens the
roll-forward for a chosen range and downloads a month's journal; a program manager filters the analytics."""

import csv
import io
from decimal import Decimal

import pytest

from tests.analytics.test_figures import build_program
from tests.browser.conftest import shoot
from tests.browser.test_accessibility import violations
from tests.conftest import World
from tests.finance.factories import build_ledger

pytestmark = pytest.mark.browser

WORDS = {
    "en": {"finance": "Finance", "from": "From month", "to": "To month", "show": "Show", "journal": "Month",
           "download": "Download the journal (CSV)", "analytics": "Program analytics", "tier": "Tier",
           "retention": "Retention by join cohort", "debit": "Debit", "liability": "Points liability"},
    "es": {"finance": "Finanzas", "from": "Desde el mes", "to": "Hasta el mes", "show": "Mostrar", "journal": "Mes",
           "download": "Descargar el asiento (CSV)", "analytics": "Analítica del programa", "tier": "Nivel",
           "retention": "Retención por cohorte de alta", "debit": "Debe", "liability": "Pasivo de puntos"},
}  # fmt: skip


def speak(user, language: str) -> None:
    user.language = language
    user.save(update_fields=["language"])


@pytest.mark.parametrize("language", ["en", "es"])
def test_finance_opens_the_roll_forward_and_downloads_the_journal(
    page, acme: World, sign_in, url_for, language: str
) -> None:
    words = WORDS[language]
    build_ledger(acme)
    speak(acme.finance, language)
    sign_in(page, acme, acme.finance)
    assert page.url == url_for(acme, "/finance/")
    assert page.locator("h1").inner_text() == words["finance"]
    page.get_by_label(words["from"]).fill("2025-01")
    page.get_by_label(words["to"]).fill("2025-12")
    page.get_by_role("button", name=words["show"], exact=True).click()
    page.wait_for_url(url_for(acme, "/finance/?start=2025-01&end=2025-12"))
    rows = page.locator("table.roll-forward tbody tr")
    assert rows.count() == 12
    # May 2025: opening 600, reversed −200, expired −100, adjusted +50, closing 350 (tests/finance/factories.py).
    may = rows.nth(4).locator("td").all_inner_texts()
    assert may[0] == "600"
    assert may[7] == "350"
    for chart in page.locator("svg[role=img]").all():
        assert [chart.locator(f"#{part}").count() for part in chart.get_attribute("aria-labelledby").split()] == [1, 1]
    shoot(page, f"finance-{language}", check_overflow=True)
    assert violations(page) == []

    page.get_by_label(words["journal"], exact=True).select_option("2025-05")
    with page.expect_download() as download:
        page.get_by_role("button", name=words["download"]).click()
    assert download.value.suggested_filename == "points-journal-2025-05.csv"
    lines = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))  # noqa: PTH123, SIM115
    assert lines[0][4] == words["debit"]
    assert sum(Decimal(line[4] or 0) for line in lines[1:]) == sum(Decimal(line[5] or 0) for line in lines[1:])
    assert len(lines) == 7


@pytest.mark.parametrize("language", ["en", "es"])
def test_program_manager_filters_the_analytics(page, acme: World, sign_in, url_for, language: str) -> None:
    words = WORDS[language]
    build_program(acme)
    speak(acme.manager, language)
    sign_in(page, acme, acme.manager)
    page.goto(url_for(acme, "/program/"))
    page.get_by_role("link", name=words["analytics"]).click()
    page.wait_for_url(url_for(acme, "/program/analytics/"))
    page.locator("#id_start").fill("2026-01-01")
    page.locator("#id_end").fill("2026-06-30")
    page.get_by_label(words["tier"], exact=True).select_option("Silver")
    page.get_by_role("button", name=words["show"], exact=True).click()
    page.wait_for_url("**/program/analytics/?start=2026-01-01&end=2026-06-30*tier=Silver*")
    assert page.locator("#retention-title").inner_text() == words["retention"]
    retention = page.locator("section[aria-labelledby=retention-title] tbody tr")
    assert retention.count() == 3  # Bravo (Nov), Charlie (Dec), Delta (Feb): the Silver partners
    for chart in page.locator("svg[role=img]").all():
        assert [chart.locator(f"#{part}").count() for part in chart.get_attribute("aria-labelledby").split()] == [1, 1]
    shoot(page, f"analytics-{language}", check_overflow=True)
    assert violations(page) == []


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("role", ["finance", "manager", "owner"])
def test_the_liability_reconciles_on_every_page_each_role_opens(
    page, acme: World, sign_in, url_for, language: str, role: str
) -> None:
    """The same liability everywhere: the finance page's closing (points and value), the roll-forward's last
    closing, the program dashboard's figure (staff only), and Σ of the ledger's entries; screenshots per page."""
    from django.db.models import Sum

    from loyalty.ledger.models import LedgerEntry
    from loyalty.tenancy.context import tenant_context

    build_ledger(acme)  # 50 points outstanding today, at 0.01 USD: 0.50 USD
    with tenant_context(acme.tenant):
        ledger_sum = LedgerEntry.objects.aggregate(total=Sum("points"))["total"]
    assert ledger_sum == 50
    value = {"en": "0.50 USD", "es": "0,50 USD"}[language]
    user = getattr(acme, role)
    speak(user, language)
    sign_in(page, acme, user)
    page.goto(url_for(acme, "/finance/"))
    end = page.locator("section.kpis article").first
    assert end.locator("p.figure").inner_text() == value
    assert end.locator("p.muted").inner_text().startswith("50 ")
    assert page.locator("table.roll-forward tbody tr").last.locator("td").nth(7).inner_text() == "50"
    assert page.locator("table.roll-forward tfoot td").nth(7).inner_text() == "50"
    shoot(page, f"reconcile-finance-{role}-{language}", check_overflow=True)
    assert violations(page) == []
    dashboard = page.goto(url_for(acme, "/program/"))
    if role == "finance":
        assert dashboard.status == 403
        return
    liability = page.locator("article", has=page.locator("h2", has_text=WORDS[language]["liability"]))
    assert liability.locator("p.figure").inner_text() == value
    assert liability.locator("p.muted").inner_text().startswith("50 ")
    shoot(page, f"reconcile-dashboard-{role}-{language}", check_overflow=True)
    page.goto(url_for(acme, "/program/analytics/"))
    assert page.locator("h1").inner_text() == WORDS[language]["analytics"]
    shoot(page, f"reconcile-analytics-{role}-{language}", check_overflow=True)
    assert violations(page) == []
