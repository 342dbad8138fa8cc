"""Applying to join in Chromium: a company applies, confirms its email, a program manager approves; English and
Spanish, desktop and phone."""

import re

import pytest
from django.core import mail

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Invitation
from partners.models import Partner
from tests.browser.conftest import TIMEOUT_MS, shoot
from tests.conftest import World

pytestmark = pytest.mark.browser

WORDS = {
    "en": {
        "send": "Send the application",
        "sent": "Check your email",
        "confirmed": "waits for the program team's review",
        "approve": "Approve…",
        "confirm": "Approve and invite",
        "done": "joined the program",
        "terms": "I accept the program's terms and conditions.",
    },
    "es": {
        "send": "Enviar la solicitud",
        "sent": "Revise su correo",
        "confirmed": "espera ahora la revisión del equipo del programa",
        "approve": "Aprobar…",
        "confirm": "Aprobar e invitar",
        "done": "se unió al programa",
        "terms": "Acepto los términos y condiciones del programa.",
    },
}


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_company_applies_confirms_and_is_approved(browser, page, acme: World, sign_in, url_for, language) -> None:
    words = WORDS[language]
    # A visitor has no account yet: the page speaks the program's language (issue 17, item 15).
    acme.tenant.applications_open, acme.tenant.language = True, language
    acme.tenant.save(update_fields=["applications_open", "language"])
    acme.manager.language = language
    acme.manager.save(update_fields=["language"])

    applicant = browser.new_context(locale="es-ES" if language == "es" else "en-US")
    applicant.set_default_timeout(TIMEOUT_MS)
    visitor = applicant.new_page()
    visitor.goto(url_for(acme, "/apply/"))
    shoot(visitor, f"apply-form-{language}", check_overflow=True)
    visitor.locator("#id_company_name").fill("Northwind <b>Traders</b>")
    visitor.locator("#id_website").fill("northwind.example")
    visitor.locator("#id_country").select_option("ES")
    visitor.locator("#id_contact_name").fill("Nora Díaz")
    visitor.locator("#id_contact_email").fill("nora@northwind.example")
    visitor.get_by_label(words["terms"]).check()
    with visitor.expect_navigation():
        visitor.get_by_role("button", name=words["send"]).click()
    assert words["sent"] in visitor.locator("h1").inner_text()

    link = re.search(r"https?://\S+/apply/confirm/\S+/", mail.outbox[-1].body).group(0)
    port = url_for(acme, "/").rsplit(":", 1)[1].rstrip("/")
    visitor.goto(link.replace("http://acme.localhost/", f"http://acme.localhost:{port}/"))
    assert words["confirmed"] in visitor.locator("article").inner_text()
    shoot(visitor, f"apply-confirmed-{language}", check_overflow=True)
    applicant.close()

    sign_in(page, acme, acme.manager)
    page.goto(url_for(acme, "/program/applications/"))
    shoot(page, f"applications-{language}", check_overflow=True)
    page.get_by_role("link", name="Northwind <b>Traders</b>").click()
    page.get_by_role("button", name=words["approve"]).click()
    assert "nora@northwind.example" in page.locator("main").inner_text()
    shoot(page, f"application-approve-{language}", check_overflow=True)
    with page.expect_navigation():
        page.get_by_role("button", name=words["confirm"]).click()
    assert words["done"] in page.locator(".message").inner_text()
    page.go_back()
    page.reload()  # back and reload a confirmation page: still one partner, one invitation
    with tenant_context(acme.tenant):
        assert Partner.objects.filter(name="Northwind <b>Traders</b>").count() == 1
        assert Invitation.objects.filter(email="nora@northwind.example").count() == 1
