"""Pages under the enforced content security policy in Chromium: they work, and nothing is blocked.

The `page` fixture fails any test whose pages broke the policy; these tests visit the pages with the most
script: the admin's inlines, Swagger UI, and allauth's TOTP setup with its QR code.
"""

import pytest
from allauth.mfa.models import Authenticator

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from tests.browser.conftest import REPORT_CSP_VIOLATIONS, csp_violations
from tests.conftest import World
from tests.factories import PASSWORD, MembershipFactory, totp_now
from tests.tiers.factories import revenue_program

pytestmark = pytest.mark.browser


def test_the_check_catches_a_blocked_inline_script(browser, acme: World, url_for) -> None:
    """An injected inline script and style attribute (what an XSS would add) are blocked and reported."""
    context = browser.new_context()
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    try:
        page.goto(url_for(acme, "/accounts/login/"))
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.injected = true";
                document.body.append(script);
                document.body.insertAdjacentHTML("beforeend", '<p style="color: red">x</p>');
            }"""
        )
        page.wait_for_timeout(200)
        assert page.evaluate("() => window.injected") is None
        assert any("script-src" in text for text in csp_violations(messages))
        assert any("style-src" in text for text in csp_violations(messages))
    finally:
        context.close()


def test_tier_model_change_form_adds_inline_rows(page, acme: World, sign_in, url_for) -> None:
    with tenant_context(acme.tenant):
        draft = revenue_program(name="Scorecard 2027").model
    sign_in(page, acme, acme.manager)
    page.goto(url_for(acme, f"/admin/tiers/tiermodel/{draft.pk}/change/"))
    rows = page.locator("#tiers-group tr.form-row:not(.empty-form)")
    before = rows.count()
    page.locator("#tiers-group").get_by_role("button", name="Add another Tier").click()  # Django's inlines.js
    assert rows.count() == before + 1


def test_api_docs_page_runs_swagger_ui(page, acme: World, url_for) -> None:
    page.goto(url_for(acme, "/api/v1/docs/"))
    assert "Tierline API" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock-tag").count() > 0  # the schema was fetched and rendered


def test_staff_sets_up_totp_under_the_policy(page, acme: World, url_for) -> None:
    manager = MembershipFactory(
        tenant=acme.tenant, user__email="new-pm@acme.test", role=Role.PROGRAM_MANAGER, totp=False
    )
    page.goto(url_for(acme, "/accounts/login/"))
    page.locator("input[name=login]").fill(manager.user.email)
    page.locator("input[name=password]").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()
    page.goto(url_for(acme, "/program/"))
    assert page.url.startswith(url_for(acme, "/accounts/reauthenticate/"))  # setup asks for the password again
    page.locator("input[name=password]").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("input[name=password]").press("Enter")
    assert page.url == url_for(acme, "/accounts/2fa/totp/activate/")
    qr_code = page.locator("main img").first
    assert qr_code.evaluate("e => e.complete && e.naturalWidth > 0")  # the data: QR code image loaded
    secret = page.locator("#authenticator_secret").input_value()
    page.locator("input[name=code]").fill(totp_now(secret))
    with page.expect_navigation():
        page.locator("input[name=code]").press("Enter")
    assert Authenticator.objects.filter(user=manager.user, type=Authenticator.Type.TOTP).exists()
    page.goto(url_for(acme, "/program/"))
    assert page.url == url_for(acme, "/program/")
