"""Which language a page speaks: the member's choice, else the program's language, else the browser's."""

from django.test import Client

from tests.conftest import World
from tests.i18n.test_spanish_pages import speaks


def spanish_program(world: World) -> World:
    world.tenant.language = "es"
    world.tenant.save(update_fields=["language"])
    return world


def test_a_member_without_a_choice_reads_the_programs_language_whatever_the_browser(acme: World, client_for) -> None:
    """Issue 17, item 15: Globex (Spanish) partners with no preference got English pages (the browser's) but
    Spanish emails. The order is the member's choice, else the program's language, else the browser's."""
    spanish_program(acme)
    english_browser = {"accept-language": "en-US,en;q=0.9"}

    page = client_for(acme, acme.partner_user).get("/", headers=english_browser)
    assert page.headers["Content-Language"] == "es"
    assert '<html lang="es">' in page.content.decode()
    sign_in = client_for(acme).get("/accounts/login/", headers=english_browser)
    assert sign_in.headers["Content-Language"] == "es"

    speaks(acme.partner_user, "en")  # the member's own choice wins
    page = client_for(acme, acme.partner_user).get("/", headers={"accept-language": "es"})
    assert page.headers["Content-Language"] == "en"


def test_the_platform_host_follows_the_browser(acme: World) -> None:
    spanish_program(acme)
    page = Client(HTTP_HOST="localhost").get("/accounts/login/", headers={"accept-language": "es"})
    assert page.headers["Content-Language"] == "es"
    page = Client(HTTP_HOST="localhost").get("/accounts/login/", headers={"accept-language": "en"})
    assert page.headers["Content-Language"] == "en"
