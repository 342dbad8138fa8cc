"""The deal registration journey in Chromium, in English and Spanish, at desktop and phone width:

a partner registers a deal; the reviewer sees the conflict with another partner's earlier registration and approves;
the partner marks it won with an invoice; the dashboard's deal registrations bar and the points move.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from deals.models import DealRegistration, DealSettings
from earning.models import EarningRule
from loyalty.ledger.services import points_account_for
from loyalty.tenancy.context import tenant_context
from tests.browser.conftest import DESKTOP, TIMEOUT_MS, shoot
from tests.conftest import World
from tests.deals.factories import register
from tests.partners.helpers import PDF_BYTES
from tests.tiers.factories import revenue_program
from tiers.models import Criterion, Metric
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish

pytestmark = pytest.mark.browser

WORDS = {
    "en": {"new": "Register a deal", "review": "Deal reviews", "won": "is won", "approved": "is approved"},
    "es": {"new": "Registrar una oportunidad", "review": "Revisión de oportunidades", "won": "está ganada",
           "approved": "está aprobada"},
}  # fmt: skip


def program_counting_deals(world: World) -> None:
    """Revenue (target 100,000) and deal registrations (target 4), equal weights, published; 1 point per 100 of
    sales; sale claims approved at once; the reviewer decides between conflicting registrations."""
    with tenant_context(world.tenant):
        program = revenue_program()
        Criterion.objects.create(
            pathway=program.pathway,
            label="Deal registrations",
            metric=Metric.DEAL_REGISTRATIONS,
            weight=Decimal(1),
            target=Decimal(4),
        )
        tier_model_publish(model=program.model, actor=world.manager)
        EarningRule.objects.create(
            name="Sales", activity_kind="sale", basis=EarningRule.Basis.PER_CURRENCY_UNIT, rate=Decimal("0.01")
        )
        DealSettings.objects.create(conflict_policy=DealSettings.Policy.REVIEWER)
        world.tenant.claims_auto_approve = True
        world.tenant.save(update_fields=["claims_auto_approve"])
        tenant_evaluate(
            evaluated_on=timezone.localdate(), dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
        )
        # Another partner registered the same customer first.
        register(world.unmanaged_partner, customer_name="ACME Corp.", customer_domain="acme-corp.example")


def deals_bar(page) -> Decimal:
    return Decimal(page.locator(".criterion", has_text="Deal").locator("progress").get_attribute("value"))


@pytest.mark.parametrize("language", ["en", "es"])
def test_register_review_win_and_see_the_scorecard_move(
    page, browser, acme: World, sign_in, url_for, tmp_path, language: str
) -> None:
    words = WORDS[language]
    for person in (acme.partner_user, acme.manager):
        person.language = language
        person.save(update_fields=["language"])
    program_counting_deals(acme)
    invoice = tmp_path / "invoice-7781.pdf"
    invoice.write_bytes(PDF_BYTES)

    # The partner registers the deal.
    sign_in(page, acme, acme.partner_user)
    assert deals_bar(page) == 0
    page.locator("header nav a[href='/deals/']").click()
    page.locator("a.register-deal").click()
    assert page.locator("h1").inner_text() == words["new"]
    form = page.locator("form.deal-form")
    form.locator("[name=customer_name]").fill("Acme Corporation")
    form.locator("[name=customer_domain]").fill("https://www.acme-corp.example/")
    form.locator("[name=customer_country]").select_option("US")
    form.locator("[name=contact_name]").fill("Wile E. Coyote")
    form.locator("[name=contact_email]").fill("wile@acme-corp.example")
    form.locator("[name=products]").fill("Rocket skates, portable holes")
    form.locator("[name=amount]").fill("48000")
    form.locator("[name=expected_close]").fill((timezone.localdate() + timedelta(days=45)).isoformat())
    shoot(page, f"deals-new-{language}", check_overflow=True)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "DR-" in page.locator(".message").inner_text()
    shoot(page, f"deals-detail-submitted-{language}", check_overflow=True)
    with tenant_context(acme.tenant):
        deal = DealRegistration.objects.get(partner=acme.partner)
        assert deal.conflicts.get().rule == "domain"

    # The reviewer sees the conflict in the queue and approves.
    reviewer = browser.new_context(viewport=DESKTOP)
    reviewer.set_default_timeout(TIMEOUT_MS)
    staff = reviewer.new_page()
    sign_in(staff, acme, acme.manager)
    staff.goto(url_for(acme, "/deals/review/"))
    assert staff.locator("h1").inner_text() == words["review"]
    row = staff.locator(f"tr#deal-{deal.pk}")
    assert "Acme Partner Two" in row.locator("small.conflict").inner_text()
    shoot(staff, f"deals-review-{language}", check_overflow=True)
    row.locator(f"a[href='/deals/{deal.pk}/']").click()
    shoot(staff, f"deals-detail-staff-{language}", check_overflow=True)
    staff.locator(f"a[href='/deals/{deal.pk}/approve/']").click()
    with staff.expect_navigation():
        staff.locator("main form button[type=submit]").click()
    assert words["approved"] in staff.locator(".message").inner_text()
    reviewer.close()

    # The partner's pipeline shows the protection; the deal counts on the scorecard at once.
    page.goto(url_for(acme, "/deals/"))
    assert "45" not in page.locator(f"tr#deal-{deal.pk} .protection").inner_text()  # 30 days: no tier benefit
    shoot(page, f"deals-pipeline-{language}", check_overflow=True)
    page.goto(url_for(acme, "/"))
    assert deals_bar(page) == 1

    # Marked won with the invoice: one sale claim, approved at once, earns 480 points.
    page.goto(url_for(acme, f"/deals/{deal.pk}/"))
    page.locator(f"a[href='/deals/{deal.pk}/won/']").click()
    page.locator("[name=invoice_number]").fill("INV-7781")
    page.locator("[name=evidence]").set_input_files(invoice)
    shoot(page, f"deals-won-{language}", check_overflow=True)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    assert words["won"] in page.locator(".message").inner_text()
    with tenant_context(acme.tenant):
        deal.refresh_from_db()
        assert deal.status == "won"
        assert deal.sale_activity.status == "approved"
        assert points_account_for(partner=acme.partner).balance == 480
    page.goto(url_for(acme, "/"))
    assert deals_bar(page) == 1
    shoot(page, f"deals-dashboard-{language}", check_overflow=True)


@pytest.mark.parametrize("language", ["en", "es"])
def test_register_deals_from_a_csv_file_after_correcting_a_row(
    page, acme: World, sign_in, url_for, tmp_path, language: str
) -> None:
    acme.partner_user.language = language
    acme.partner_user.save(update_fields=["language"])
    close = (timezone.localdate() + timedelta(days=60)).isoformat()
    header = "external_id,customer_name,customer_domain,customer_country,amount,currency,expected_close\n"
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text(
        header + f"OPP-1,Hooli <script>,hooli.example,US,12000,USD,{close}\nOPP-2,Initech,,US,-5,USD,31/12\n"
    )
    good.write_text(
        header + f"OPP-1,Hooli <script>,hooli.example,US,12000,USD,{close}\nOPP-2,Initech,,US,5,USD,{close}\n"
    )

    sign_in(page, acme, acme.partner_user)
    page.goto(url_for(acme, "/deals/"))
    page.locator("a.import-deals").click()
    page.locator("[name=file]").set_input_files(bad)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    assert page.locator("table.import-problems tbody tr").count() == 2  # amount and expected close of row 3
    shoot(page, f"deals-import-problems-{language}", check_overflow=True)
    with tenant_context(acme.tenant):
        assert not DealRegistration.objects.exists()
    page.locator("[name=file]").set_input_files(good)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    assert page.url == url_for(acme, "/deals/")
    shoot(page, f"deals-import-done-{language}", check_overflow=True)
    with tenant_context(acme.tenant):
        assert sorted(DealRegistration.objects.values_list("external_id", "source")) == [
            ("OPP-1", "csv"),
            ("OPP-2", "csv"),
        ]
