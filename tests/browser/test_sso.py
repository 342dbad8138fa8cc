"""Single sign-on in Chromium (issue 23, items 3 and 4): a partner's colleague signs in with the program's
OpenID Connect provider (a real one, in its own process) and joins just in time; someone at another domain is
refused; staff read who signed in how in the security log. English and Spanish, desktop and phone."""

import re

import pytest

from tests.browser.conftest import TIMEOUT_MS, shoot
from tests.conftest import World
from tests.sso.idp import oidc_provider_running
from tests.sso.support import oidc_provider_for

pytestmark = pytest.mark.browser

WORDS = {
    "en": {"button": "Sign in with Acme Okta", "refused": "Single sign-on refused", "log": "Security log"},
    "es": {
        "button": "Iniciar sesión con Acme Okta",
        "refused": "Inicio de sesión único rechazado",
        "log": "Security log",
    },
}


@pytest.fixture(scope="module")
def oidc_idp(tmp_path_factory):
    with oidc_provider_running(tmp_path_factory.mktemp("oidc-idp")) as provider:
        yield provider


def sign_in_at_the_provider(page, email: str) -> None:
    page.locator("#email").fill(email)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in at the identity provider").click()


@pytest.mark.parametrize("language", ["en", "es"])
def test_sign_in_with_the_programs_identity_provider(
    browser, page, acme: World, oidc_idp, url_for, live_port, sign_in, language
) -> None:
    words = WORDS[language]
    acme.tenant.language = language
    acme.tenant.save(update_fields=["language"])
    oidc_provider_for(acme, oidc_idp, host=f"{acme.host}:{live_port}")

    page.goto(url_for(acme, "/accounts/login/"))
    shoot(page, f"sso-login-{language}", check_overflow=True)
    page.get_by_role("button", name=words["button"]).click()
    page.wait_for_url(re.compile(re.escape(f"{oidc_idp.base_url}/login/")))
    sign_in_at_the_provider(page, "lucia.gomez@partner.acme.test")
    page.wait_for_url(url_for(acme, "/"))
    assert acme.partner.name in page.locator("body").inner_text()
    shoot(page, f"sso-home-{language}", check_overflow=True)

    stranger = browser.new_context()
    stranger.set_default_timeout(TIMEOUT_MS)
    other = stranger.new_page()
    other.goto(url_for(acme, "/accounts/login/"))
    other.get_by_role("button", name=words["button"]).click()
    other.wait_for_url(re.compile(re.escape(f"{oidc_idp.base_url}/login/")))
    sign_in_at_the_provider(other, "mallory@elsewhere.test")
    assert words["refused"] in other.locator("h1").inner_text()
    shoot(other, f"sso-refused-{language}", check_overflow=True)
    stranger.close()

    staff = browser.new_context()
    staff.set_default_timeout(TIMEOUT_MS)
    manager = staff.new_page()
    sign_in(manager, acme, acme.manager)
    manager.goto(url_for(acme, "/admin/tenancy/securityevent/"))
    log = manager.locator("#result_list").inner_text()
    assert "Signed in with single sign-on (Acme Okta)" in log
    assert "Refused single sign-on (Acme Okta): mallory@elsewhere.test is outside the allowed domains" in log
    assert "Signed in with a password and a second factor" in log
    shoot(manager, f"sso-security-log-{language}")
    staff.close()
