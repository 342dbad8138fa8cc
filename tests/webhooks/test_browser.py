"""The webhook admin in Chromium: a program manager adds an endpoint, copies its secret, sends a test event to a
real receiver and reads it in the delivery log; screenshots at desktop and phone width."""

import pytest

# The browser fixtures live with the browser tests; they are shared here rather than copied.
from tests.browser.conftest import (  # noqa: F401 - fixtures
    _async_unsafe_allowed,
    _chromium_path,
    browser,
    live_port,
    page,
    shoot,
    sign_in,
    url_for,
)
from tests.conftest import World
from tests.webhooks.conftest import Receiver, signature_verifies

pytestmark = pytest.mark.browser


def test_manager_adds_an_endpoint_sends_a_test_event_and_reads_the_log(
    page,  # noqa: F811 - the fixture imported above
    acme: World,
    receiver: Receiver,
    sign_in,  # noqa: F811
    url_for,  # noqa: F811
) -> None:
    sign_in(page, acme, acme.manager)
    page.goto(url_for(acme, "/admin/webhooks/webhookendpoint/add/"))
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Description").fill("Salesforce bridge")
    page.get_by_label("partner.tier_changed — A partner's tier changed").check()
    page.get_by_label("redemption.status_changed", exact=False).check()
    shoot(page, "admin-webhook-endpoint-add", check_overflow=True)
    with page.expect_navigation():
        page.locator("input[name=_continue]").click()
    assert "was added successfully" in page.locator(".messagelist").inner_text()
    secret = page.locator(".field-signing_secret code").inner_text()
    assert secret.startswith("whsec_")
    shoot(page, "admin-webhook-endpoint", check_overflow=True)

    page.goto(url_for(acme, "/admin/webhooks/webhookendpoint/"))
    page.locator("#result_list tbody input[type=checkbox]").first.check()
    page.locator("select[name=action]").select_option("send_test_event")
    with page.expect_navigation():
        page.locator("button[name=index]").click()
    assert "Test event queued for 1 endpoint(s)" in page.locator(".messagelist").inner_text()
    assert [request.json["type"] for request in receiver.received] == ["webhook.test"]
    request = receiver.received[0]
    assert signature_verifies(secret, request.headers["Tierline-Signature"], request.body)

    page.goto(url_for(acme, "/admin/webhooks/webhookdelivery/"))
    row = page.locator("#result_list tbody tr").first
    assert "webhook.test" in row.inner_text()
    assert "Succeeded" in row.inner_text()
    shoot(page, "admin-webhook-deliveries", check_overflow=True)
    with page.expect_navigation():
        row.locator("th a").click()
    assert "A test event from the Tierline admin." in page.locator(".field-pretty_payload").inner_text()
    shoot(page, "admin-webhook-delivery", check_overflow=True)
