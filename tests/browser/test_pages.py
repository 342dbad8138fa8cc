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
    assert page.locator("main hgroup p").inner_text() == "Partner admin · Acme Partner One"
    assert page.locator(".tier-card h2").inner_text() == "No tier yet"
    team = page.locator("article", has=page.locator("h2", has_text="Your team")).locator("li")
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
    ("role", "heading"), [("partner_admin", "Welcome, "), ("manager", "Program dashboard"), ("account_manager", "")]
)
def test_home_page_fits_a_phone_width(page, acme: World, sign_in, role: str, heading: str) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, acme, getattr(acme, role))
    assert page.locator("h1").inner_text().startswith(heading)
    shoot(page, f"home-phone-{role}")
    assert horizontal_overflow(page) <= 0
    # Brand and Sign out each stay on one line (the long email is what used to push them around).
    header = page.locator("header.site-header")
    for element in (header.locator(".brand"), header.get_by_role("button", name="Sign out")):
        box = element.bounding_box()
        line_height = element.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
        assert box["height"] < 2 * line_height + 16, element
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"]


def test_login_page_names_the_program_and_offers_no_sign_up(page, acme: World, url_for) -> None:
    page.goto(url_for(acme, "/accounts/login/"))

    assert page.locator("h1").inner_text() == "Sign in to Acme Program"
    assert page.title() == "Sign in to Acme Program · Tierline"
    body = page.locator("body").inner_text()
    assert "sign up" not in body.lower()
    assert page.locator("a[href*='/signup/']").count() == 0
    assert page.locator("input[name=remember][type=checkbox]").is_visible()
    password = page.locator("input[name=password]")
    assert password.get_attribute("autocomplete") == "current-password"
    assert page.locator(f"#{password.get_attribute('aria-describedby')}").inner_text() == "Forgot your password?"


def test_wrong_password_is_reported_on_the_login_page(page, acme: World, url_for) -> None:
    page.goto(url_for(acme, "/accounts/login/"))
    page.locator("input[name=login]").fill(acme.partner_admin.email)
    page.locator("input[name=password]").fill("not-the-password")
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()

    assert page.url == url_for(acme, "/accounts/login/")
    assert "not correct" in page.get_by_role("alert").inner_text()
    assert page.locator("input[name=login]").input_value() == acme.partner_admin.email
    shoot(page, "login-error", check_overflow=True)


def test_password_reset_pages(page, acme: World, url_for, mailoutbox) -> None:
    page.goto(url_for(acme, "/accounts/login/"))
    page.get_by_role("link", name="Forgot your password?").click()
    page.wait_for_url(url_for(acme, "/accounts/password/reset/"))
    shoot(page, "password-reset", check_overflow=True)

    page.locator("main input[name=email]").fill(acme.partner_user.email)
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()
    assert page.url == url_for(acme, "/accounts/password/reset/done/")
    shoot(page, "password-reset-done", check_overflow=True)

    assert len(mailoutbox) == 1
    key_path = re.search(
        r"http://acme\.localhost(?::\d+)?(/accounts/password/reset/key/\S+)", mailoutbox[0].body
    ).group(1)
    page.goto(url_for(acme, key_path))
    assert page.locator("input[name=password1]").is_visible()
    shoot(page, "password-reset-from-key", check_overflow=True)


def test_tenant_brand_colour_reaches_pico(page, acme: World, url_for) -> None:
    acme.tenant.brand_colour = "#b4451f"
    acme.tenant.save(update_fields=["brand_colour"])

    page.goto(url_for(acme, "/accounts/login/"))

    button = page.locator("main button[type=submit]")
    assert button.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(180, 69, 31)"
    link = page.get_by_role("link", name="Forgot your password?")
    assert link.evaluate("e => getComputedStyle(e).color") == "rgb(180, 69, 31)"
    for name in ("--pico-primary-hover", "--pico-primary-focus", "--pico-primary-underline"):
        value = page.evaluate(f"() => getComputedStyle(document.documentElement).getPropertyValue('{name}')")
        assert "#b4451f" in value.lower(), (name, value)
    shoot(page, "login-branded")


def test_program_manager_opens_the_tenant_admin_from_the_header(
    page, acme: World, globex: World, url_for, sign_in
) -> None:
    sign_in(page, acme, acme.manager)
    assert page.url == url_for(acme, "/program/")  # a program manager's home is the dashboard and its queues
    assert page.locator(".queues h3").all_inner_texts() == [
        "Claims to review",
        "Redemptions to approve",
        "Adjustments to approve",
        "Applications to decide",
    ]
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
    assert page.locator("h1").inner_text() == "Access denied"
    assert (
        f"You are signed in as {globex.partner_admin.email}, but you are not a member of Acme Program."
        in page.locator("main").inner_text()
    )
    assert "Acme Partner" not in page.content()
    assert "Globex" not in page.content()
    shoot(page, "forbidden", check_overflow=True)

    with page.expect_navigation():
        page.locator("main").get_by_role("button", name="Sign out").click()
    assert page.url.startswith(url_for(acme, "/accounts/login/"))
    assert page.get_by_role("button", name="Sign out").count() == 0


def test_member_without_access_is_told_their_role(page, acme: World, url_for, sign_in) -> None:
    sign_in(page, acme, acme.partner_admin)

    response = page.goto(url_for(acme, "/admin/"))

    assert response.status == 403
    assert (
        f"You are signed in as {acme.partner_admin.email}, but your role in Acme Program (Partner admin) does not "
        "give access to this page." in page.locator("main").inner_text()
    )
    shoot(page, "forbidden-role", check_overflow=True)
    page.locator("main").get_by_role("button", name="Go to the home page").click()
    page.wait_for_url(url_for(acme, "/"))
    assert page.locator("h1").inner_text().startswith("Welcome, ")


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
    assert page.locator("main hgroup p").inner_text() == "Partner admin · Acme Partner One"


def test_unknown_host_is_404(page, acme: World, url_for) -> None:
    response = page.goto(url_for("nobody.localhost", "/"))

    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert (
        page.locator("p").inner_text() == "No program is served at nobody.localhost. Check the address you were given."
    )
    assert re.search(r"acme", page.content(), re.IGNORECASE) is None
    assert page.locator("meta[name=viewport]").count() == 1
    # The stylesheets load: Pico's container centres the page.
    assert page.locator("main").evaluate("e => getComputedStyle(e).marginLeft") != "0px"
    shoot(page, "unknown-host", check_overflow=True)


def test_missing_page_on_a_tenant_host_is_a_styled_404(page, acme: World, url_for) -> None:
    response = page.goto(url_for(acme, "/no-such-page/"))

    assert response.status == 404
    assert page.locator("main h1").inner_text() == "Not found"
    assert page.locator("header.site-header .brand").inner_text() == "Acme Program"
    shoot(page, "not-found", check_overflow=True)
