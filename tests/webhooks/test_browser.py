"""The webhook admin in Chromium: a program manager adds an endpoint, copies its secret, sends a test event to a
real receiver and reads it in the delivery log; screenshots at desktop and phone width.

Chromium runs in a thread of its own: tests/browser keeps a session-wide Playwright in this thread, and a second
one cannot start beside it.
"""

import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, TIMEOUT_MS, shoot
from tests.conftest import World
from tests.factories import PASSWORD, totp_now, totp_secret
from tests.webhooks.conftest import Receiver, signature_verifies

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium"),
]


def in_chromium(steps: Callable[[object], None]) -> None:
    """Run `steps(page)` in a fresh Chromium page, in its own thread; its failure is raised here."""
    failures: list[BaseException] = []

    def run() -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport=DESKTOP)
                context.set_default_timeout(TIMEOUT_MS)
                steps(context.new_page())
                browser.close()
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "Chromium is stuck"
    if failures:
        raise failures[0]


def test_manager_adds_an_endpoint_sends_a_test_event_and_reads_the_log(
    live_server, acme: World, receiver: Receiver
) -> None:
    base = f"http://{acme.host}:{urlsplit(live_server.url).port}"
    seen: dict[str, str] = {}
    secret = totp_secret(acme.manager)  # read here: the browser's thread has no database connection

    def steps(page) -> None:  # noqa: ANN001 - a Playwright page
        page.goto(f"{base}/accounts/login/")
        page.locator("input[name=login]").fill(acme.manager.email)
        page.locator("input[name=password]").fill(PASSWORD)
        with page.expect_navigation():
            page.locator("form button[type=submit]").click()
        page.locator("input[name=code]").fill(totp_now(secret))  # program managers sign in with TOTP
        with page.expect_navigation():
            page.locator("input[name=code]").press("Enter")

        page.goto(f"{base}/admin/webhooks/webhookendpoint/add/")
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("Description").fill("Salesforce bridge")
        page.get_by_label("partner.tier_changed — A partner's tier changed").check()
        page.get_by_label("redemption.status_changed", exact=False).check()
        shoot(page, "admin-webhook-endpoint-add", check_overflow=True)
        with page.expect_navigation():
            page.locator("input[name=_continue]").click()
        seen["added"] = page.locator(".messagelist").inner_text()
        seen["secret"] = page.locator(".field-signing_secret code").inner_text()
        shoot(page, "admin-webhook-endpoint", check_overflow=True)

        page.goto(f"{base}/admin/webhooks/webhookendpoint/")
        page.locator("#result_list tbody input[type=checkbox]").first.check()
        page.locator("select[name=action]").select_option("send_test_event")
        with page.expect_navigation():
            page.locator("button[name=index]").click()
        seen["queued"] = page.locator(".messagelist").inner_text()

        page.goto(f"{base}/admin/webhooks/webhookdelivery/")
        row = page.locator("#result_list tbody tr").first
        seen["row"] = row.inner_text()
        shoot(page, "admin-webhook-deliveries", check_overflow=True)
        with page.expect_navigation():
            row.locator("th a").click()
        seen["payload"] = page.locator(".field-pretty_payload").inner_text()
        shoot(page, "admin-webhook-delivery", check_overflow=True)

    in_chromium(steps)

    assert "was added successfully" in seen["added"]
    assert seen["secret"].startswith("whsec_")
    assert "Test event queued for 1 endpoint(s)" in seen["queued"]
    assert "webhook.test" in seen["row"]
    assert "Succeeded" in seen["row"]
    assert "A test event from the Tierline admin." in seen["payload"]
    assert [request.json["type"] for request in receiver.received] == ["webhook.test"]
    request = receiver.received[0]
    assert signature_verifies(seen["secret"], request.headers["Tierline-Signature"], request.body)
