"""In Chromium: the API docs page works from local files alone, and the admin shows a new key exactly once."""

import re

import pytest

from api.models import ApiKey
from tests.browser.conftest import shoot
from tests.conftest import World

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_render_every_operation_from_local_files(page, acme: World, url_for) -> None:
    requested_hosts = set()
    page.on("request", lambda request: requested_hosts.add(re.sub(r"^https?://([^/:]+).*$", r"\1", request.url)))
    page.goto(url_for(acme, "/api/v1/docs/"))
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() >= 20
    assert page.locator(".opblock-summary-path", has_text="/api/v1/ledger/adjustments/").count() == 1
    assert requested_hosts == {acme.host}
    shoot(page, "api-docs")


def test_a_manager_creates_a_key_and_sees_it_once(page, acme: World, url_for, sign_in) -> None:
    sign_in(page, acme, acme.manager)
    page.goto(url_for(acme, "/admin/api/apikey/add/"))
    page.get_by_label("Name").fill("Salesforce sync")
    page.get_by_label(re.compile(r"partners:read —")).check()
    page.get_by_label(re.compile(r"activities:write —")).check()
    page.locator("input[name=_save]").click()
    key = page.get_by_label("API key").input_value()
    api_key = ApiKey.all_tenants.get(tenant=acme.tenant)
    assert key.startswith(f"tl_{api_key.prefix}_")
    assert api_key.scopes == ["activities:write", "partners:read"]
    shoot(page, "api-key-created", check_overflow=True)
    page.get_by_role("link", name="Done").click()
    assert page.locator("#result_list").inner_text().count(api_key.prefix) == 1
    assert key not in page.content()
    shoot(page, "api-key-list")
