"""Real user flows in Chromium: sign-in, the home page, the tenant admin, and the walls between hosts."""

import re

import pytest

from tests.browser.conftest import PHONE, horizontal_overflow, shoot
from tests.conftest import World

pytestmark = pytest.mark.browser


def test_partner_admin_signs_in_and_sees_their_partner(page, acme: World, globex: World, url_for, sign_in) -> None:
    response = sign_in(page, acme, acme.partner_admin, screenshot_as="login")

    assert response.status == 200
    assert page.url == url_for(acme, "/")
    assert page.locator("h1").inner_text() == f"Welcome, {acme.partner_admin.first_name}"
    assert page.locator(".cards article header h2").all_inner_texts() == ["Acme Partner One", "Your team"]
    team = page.locator(".cards article").nth(1).locator("li")
    assert team.count() == 2
    assert team.all_inner_texts() == [
        f"{acme.partner_admin.get_full_name()} Partner admin",
        f"{acme.partner_user.get_full_name()} Partner user",
    ]
    body = page.locator("body").inner_text()
    assert "Acme Partner Two" not in body
    assert "Globex" not in body
    assert page.get_by_role("link", name="Admin", exact=True).count() == 0
    # The phone-width overflow of this page is checked by test_home_page_fits_a_phone_width.
    shoot(page, "home-partner-admin")


@pytest.mark.parametrize(
    "role",
    [
        pytest.param(
            "partner_admin",
            marks=pytest.mark.xfail(
                strict=True,
                raises=AssertionError,
                reason="Known bug: the header's right-hand <ul> (email + Sign out) does not wrap, so at 390px the "
                "page scrolls sideways by 13px with admin@partner.acme.test. Fix the header CSS in "
                "static/css/app.css, then drop this xfail (strict: it fails once the page fits).",
            ),
        ),
        "manager",
    ],
)
def test_home_page_fits_a_phone_width(page, acme: World, sign_in, role: str) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, acme, getattr(acme, role))
    assert page.locator("h1").inner_text().startswith("Welcome, ")
    assert horizontal_overflow(page) <= 0


def test_program_manager_opens_the_tenant_admin_from_the_header(
    page, acme: World, globex: World, url_for, sign_in
) -> None:
    sign_in(page, acme, acme.manager)
    assert page.url == url_for(acme, "/")
    assert page.locator("main table tbody td:first-child").all_inner_texts() == ["Acme Partner One", "Acme Partner Two"]
    shoot(page, "home-program-manager", check_overflow=True)

    page.locator("header.site-header").get_by_role("link", name="Admin", exact=True).click()
    page.wait_for_url(url_for(acme, "/admin/"))
    assert page.locator("#site-name").inner_text() == "Acme Program · Tierline"
    shoot(page, "admin-index")

    with page.expect_navigation() as navigation:
        page.locator("#partners-partner").get_by_role("link", name="Partners", exact=True).click()
    assert navigation.value.status == 200
    assert page.url == url_for(acme, "/admin/partners/partner/")
    names = page.locator("#result_list tbody th.field-name").all_inner_texts()
    assert sorted(names) == ["Acme Partner One", "Acme Partner Two"]
    assert "Globex" not in page.locator("#result_list").inner_text()
    shoot(page, "admin-partner-changelist")


def test_member_of_another_tenant_is_refused_on_acme(page, acme: World, globex: World, url_for, sign_in) -> None:
    response = sign_in(page, acme, globex.partner_admin)

    assert page.url == url_for(acme, "/")
    assert response.status == 403
    assert page.locator("h1").inner_text() == "403 Forbidden"
    assert "Acme Partner" not in page.content()
    shoot(page, "forbidden")


def test_acme_session_cookie_is_not_sent_to_globex(page, acme: World, globex: World, url_for, sign_in) -> None:
    sign_in(page, acme, acme.partner_admin)
    assert page.url == url_for(acme, "/")
    session_cookies = [cookie for cookie in page.context.cookies() if cookie["name"] == "sessionid"]
    assert [cookie["domain"] for cookie in session_cookies] == ["acme.localhost"]

    response = page.goto(url_for(globex, "/"))

    assert response.status == 200
    assert page.url == url_for(globex, "/accounts/login/?next=/")
    first_request = response.request.redirected_from
    assert first_request is not None
    assert first_request.url == url_for(globex, "/")
    assert "sessionid" not in first_request.all_headers().get("cookie", "")
    assert page.locator("input[name=login]").is_visible()
    assert acme.partner_admin.email not in page.locator("body").inner_text()
    # Still signed in on acme: the wall runs both ways, it doesn't sign anyone out.
    page.goto(url_for(acme, "/"))
    assert page.url == url_for(acme, "/")
    assert page.locator(".cards article header h2").first.inner_text() == "Acme Partner One"


def test_unknown_host_is_404(page, acme: World, url_for) -> None:
    response = page.goto(url_for("nobody.localhost", "/"))

    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert (
        page.locator("p").inner_text() == "No program is served at nobody.localhost. Check the address you were given."
    )
    assert re.search(r"acme", page.content(), re.IGNORECASE) is None
    shoot(page, "unknown-host")
