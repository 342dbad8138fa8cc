"""The portal in Spanish in Chromium: the dashboard (desktop and phone), the notification centre and an email."""

import pytest
from django.core import mail
from django.utils import timezone

from earning.services import claim_approve
from loyalty.tenancy.context import tenant_context
from tests.browser.conftest import shoot
from tests.conftest import World
from tests.portal.test_claims import make_claim
from tests.portal.test_dashboard import sale
from tests.rewards.factories import give_points
from tests.tiers.factories import revenue_program
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish

pytestmark = pytest.mark.browser


@pytest.fixture
def spanish_partner(acme: World) -> World:
    """Acme's partner user reads Spanish; Silver on the revenue program, 1,250 points, one approved claim."""
    acme.partner_user.language = "es"
    acme.partner_user.save(update_fields=["language"])
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
        sale(acme, "52000")
        tenant_evaluate(
            evaluated_on=timezone.localdate(), dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
        )
        give_points(acme.partner, 1_250, "welcome", days_ago=3)
    claim = make_claim(acme, invoice_number="INV-2026-0042")
    with tenant_context(acme.tenant):
        claim_approve(claim=claim, actor=acme.manager)
    return acme


def test_dashboard_and_notification_centre_in_spanish(page, spanish_partner: World, sign_in) -> None:
    sign_in(page, spanish_partner, spanish_partner.partner_user)

    assert page.locator("html").get_attribute("lang") == "es"
    name = str(spanish_partner.partner_user)
    assert page.locator(".message").inner_text() == f"Sesión iniciada como {name}."
    nav = page.locator("header.site-header nav").inner_text()
    for label in ("Recompensas", "Estado de cuenta", "Solicitudes", "Notificaciones", "Cerrar sesión"):
        assert label in nav
    assert "Rewards" not in nav
    assert "Statement" not in nav
    overall = page.get_by_label("Puntuación 52,80 de los 65,00 que requiere Gold")
    assert overall.evaluate("e => [e.tagName, e.value, e.max]") == ["PROGRESS", 52.8, 65]
    assert (
        page.locator(".gap").inner_text()
        == "Con 12.195\xa0US$ más en ventas alcanza Gold. Solicitar crédito por una venta"
    )
    assert page.locator(".score strong").nth(1).inner_text() == "1.250"
    shoot(page, "dashboard-es", check_overflow=True)

    with page.expect_navigation():
        page.locator("a.notifications-link").click()
    assert page.locator("h1").inner_text() == "Notificaciones"
    assert page.locator("li.notification.unread strong").first.inner_text() == "Solicitud INV-2026-0042 aprobada"
    shoot(page, "notifications-es", check_overflow=True)


def test_notification_email_in_spanish(page, spanish_partner: World) -> None:
    message = next(message for message in mail.outbox if message.to == [spanish_partner.partner_user.email])
    html, _mimetype = message.alternatives[0]

    page.set_content(html)

    assert message.subject == f"{spanish_partner.tenant.name}: Solicitud INV-2026-0042 aprobada"
    assert page.locator("h1").inner_text() == "Solicitud INV-2026-0042 aprobada"
    assert page.get_by_role("link", name="Dejar de recibir estos correos").count() == 1
    shoot(page, "notification-email-es", check_overflow=True)


@pytest.mark.parametrize(
    ("path", "name", "heading"),
    [
        ("/rewards/", "rewards", "Recompensas"),
        ("/statement/", "statement", "Estado de cuenta"),
        ("/claims/", "claims", "Solicitudes"),
        ("/claims/new/", "claim-new", "Nueva solicitud"),
        ("/notifications/settings/", "notification-settings", "Configuración"),
    ],
)
def test_longer_spanish_words_fit_a_phone(
    page, spanish_partner: World, sign_in, url_for, path: str, name: str, heading: str
) -> None:
    sign_in(page, spanish_partner, spanish_partner.partner_user)

    page.goto(url_for(spanish_partner, path))

    assert page.locator("h1").inner_text() == heading
    shoot(page, f"{name}-es", check_overflow=True)


def test_a_manager_translates_the_ladder_and_a_spanish_partner_reads_it(
    page, browser, spanish_partner: World, sign_in, url_for
) -> None:
    """Issue 17, item 16: the program manager translates "Gold" on the translations page (English, desktop and
    phone), and the partner who reads Spanish then reads "Oro" in the gap to the next tier."""
    sign_in(page, spanish_partner, spanish_partner.manager)
    page.goto(url_for(spanish_partner, "/program/designer/"))
    with page.expect_navigation():
        page.get_by_role(
            "link", name="Translate tier names, benefits, criteria and rewards into other languages"
        ).click()
    assert page.locator("h1").inner_text() == "Program content in other languages"
    gold = page.locator("fieldset", has=page.locator("legend", has_text="Gold")).first
    gold.get_by_label("Español").fill("Oro")
    shoot(page, "translations-en", check_overflow=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Save translations").click()
    assert page.locator(".message").inner_text() == "Translations of 1 text saved."
    assert gold.get_by_label("Español").input_value() == "Oro"

    partner = browser.new_context(viewport=page.viewport_size)
    partner_page = partner.new_page()
    try:
        sign_in(partner_page, spanish_partner, spanish_partner.partner_user)
        assert partner_page.locator(".gap").inner_text() == (
            "Con 12.195\xa0US$ más en ventas alcanza Oro. Solicitar crédito por una venta"
        )
        shoot(partner_page, "dashboard-es-translated", check_overflow=True)
    finally:
        partner.close()
