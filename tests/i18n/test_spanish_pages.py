"""A member who chose Spanish reads the portal in Spanish: words, numbers (1.250), money (12.400 US$) and dates."""

import re
from decimal import Decimal

import pytest
from django.utils import translation
from django.utils.formats import date_format

from earning.services import claim_approve
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import User
from loyalty.wording import money
from tests.conftest import World
from tests.portal.test_claims import make_claim
from tests.portal.test_dashboard import silver_with_points
from tiers.models import PartnerTier

HEADER = re.compile(r'<header class="container site-header">(.*?)</header>', re.DOTALL)
# The main navigation in each language: what a partner admin sees on every page.
NAV = {
    "es": [
        "Recompensas",
        "Estado de cuenta",
        "Solicitudes",
        "Oportunidades",
        "Equipo",
        "Notificaciones",
        "Cerrar sesión",
    ],
    "en": ["Rewards", "Statement", "Claims", "Deals", "Team", "Notifications", "Sign out"],
}
PAGES = {
    "/": "<h1>Hola, ",
    "/rewards/": "<h1>Recompensas</h1>",
    "/rewards/history/": "<h1>Sus canjes</h1>",
    "/statement/": "<h1>Estado de cuenta</h1>",
    "/claims/": "<h1>Solicitudes</h1>",
    "/claims/new/": "<h1>Nueva solicitud</h1>",
    "/deals/": "<h1>Oportunidades</h1>",
    "/deals/new/": "<h1>Registrar una oportunidad</h1>",
    "/team/": "<h1>Equipo</h1>",
    "/notifications/": "<h1>Notificaciones</h1>",
    "/notifications/settings/": "<h1>Configuración</h1>",
}


def speaks(user: User, language: str) -> None:
    user.language = language
    user.save(update_fields=["language"])


@pytest.fixture
def spanish(acme: World, django_capture_on_commit_callbacks) -> World:
    """Acme on the revenue program (Silver at 52,000 of sales, Gold at 65), 1,250 points, one approved claim;
    its partner admin reads Spanish."""
    speaks(acme.partner_admin, "es")
    silver_with_points(acme, points=1250, earned_days_ago=3)
    claim = make_claim(acme, invoice_number="INV-ES")
    with django_capture_on_commit_callbacks(execute=True), tenant_context(acme.tenant):
        claim_approve(claim=claim, actor=acme.manager)
    return acme


@pytest.mark.parametrize("path", PAGES)
def test_portal_pages_speak_the_members_language(spanish: World, client_for, path: str) -> None:
    response = client_for(spanish, spanish.partner_admin).get(path)

    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="es">' in page
    assert PAGES[path] in page
    header = HEADER.search(page).group(1)
    assert [label for label in NAV["es"] if label not in header] == []
    assert [label for label in NAV["en"] if re.search(rf">\s*{label}\s*<", header)] == []


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/program/", "<h1>Panel del programa</h1>"),
        ("/portfolio/", "<h1>Cartera</h1>"),
        ("/portfolio/{partner}/", ">Historial de puntuación</h2>"),
    ],
)
def test_staff_pages_speak_the_members_language(spanish: World, client_for, path: str, heading: str) -> None:
    speaks(spanish.manager, "es")

    response = client_for(spanish, spanish.manager).get(path.format(partner=spanish.partner.pk))

    page = response.content.decode()
    assert response.status_code == 200
    assert heading in page
    header = HEADER.search(page).group(1)
    assert ">Programa</a>" in header
    assert ">Cartera</a>" in header
    assert ">Program</a>" not in header


def test_program_period_choices_are_translated_per_request(spanish: World, client_for) -> None:
    # Built per request: a lazy label with % would have been frozen in the language active at import.
    speaks(spanish.manager, "es")
    spanish_page = client_for(spanish, spanish.manager).get("/program/").content.decode()
    speaks(spanish.manager, "en")
    english_page = client_for(spanish, spanish.manager).get("/program/").content.decode()

    assert '<option value="90" selected>Últimos 90 días</option>' in spanish_page
    assert '<option value="90" selected>Last 90 days</option>' in english_page


def test_the_same_pages_stay_english_for_an_english_reader(spanish: World, client_for) -> None:
    speaks(spanish.partner_admin, "en")

    page = client_for(spanish, spanish.partner_admin).get("/").content.decode()

    header = HEADER.search(page).group(1)
    assert '<html lang="en">' in page
    assert [label for label in NAV["en"] if label not in header] == []
    assert "<strong>1,250</strong>" in page
    assert "$52,800 / $100,000" in page
    assert '<span class="positive">+1,250</span> Earned' in page


def test_dashboard_numbers_money_and_dates_are_spanish(spanish: World, client_for) -> None:
    response = client_for(spanish, spanish.partner_admin).get("/")

    page = response.content.decode()
    with tenant_context(spanish.tenant):
        since = PartnerTier.objects.get(partner=spanish.partner).since
    with translation.override("es"):
        since_text = date_format(since, "DATE_FORMAT")
    assert re.fullmatch(r"\d{1,2} de [a-z]+ de \d{4}", since_text)
    assert f"Desde el {since_text}" in page
    assert "<strong>1.250</strong>" in page  # the balance, grouped with a dot
    assert "<strong>52,80</strong>" in page  # the score, with a decimal comma
    assert "52.800\xa0US$ / 100.000\xa0US$" in page  # 52,000 of sales and the approved claim's 800
    assert response.context["gap"] == "Con 12.195\xa0US$ más en ventas alcanza Gold."
    assert "Puntuación 52,80 de los 65,00 que requiere Gold" in page
    assert '<span class="positive">+1.250</span> Ganados' in page


def test_statement_rows_are_spanish(spanish: World, client_for) -> None:
    page = client_for(spanish, spanish.partner_admin).get("/statement/").content.decode()

    assert '<td class="number positive">+1.250</td>' in page
    assert re.search(r"<time datetime=\"[^\"]+\">\d{2}/\d{2}/\d{4} \d{2}:\d{2}</time>", page)
    assert "Ganados" in page  # the entry kind
    assert "Earned" not in page


def test_notification_centre_shows_the_notification_in_spanish(spanish: World, client_for) -> None:
    page = client_for(spanish, spanish.partner_admin).get("/notifications/").content.decode()

    assert "<strong>Solicitud INV-ES aprobada</strong>" in page
    assert "Su solicitud INV-ES fue aprobada; sus puntos ya están en su saldo." in page
    assert "Marcar todo como leído" in page
    assert re.search(r">\d{1,2} de [a-z]+ de \d{4} a las \d{2}:\d{2}</time>", page)


@pytest.mark.parametrize(
    ("language", "amount", "currency", "expected"),
    [
        ("en", "12400", "USD", "$12,400"),
        ("es", "12400", "USD", "12.400\xa0US$"),
        ("en", "1234.01", "EUR", "€1,235"),
        ("es", "1234.01", "EUR", "1.235\xa0€"),
        ("en", "99", "SEK", "99 SEK"),
        ("es", "1250", "SEK", "1.250 SEK"),
        ("es", "1250", "GBP", "1.250 GBP"),
    ],
)
def test_money_is_written_the_way_each_language_writes_it(
    language: str, amount: str, currency: str, expected: str
) -> None:
    with translation.override(language):
        assert money(Decimal(amount), currency) == expected
