"""Automated accessibility checks (axe-core, WCAG 2 A/AA rules incl. colour contrast) on every partner page."""

from pathlib import Path

import pytest
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.portal.test_dashboard import sale
from tests.rewards.factories import RewardFactory, give_points
from tests.tiers.factories import revenue_program
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PAGES = ["/", "/rewards/", "/rewards/history/", "/statement/", "/claims/", "/claims/new/", "/team/"]


AXE_PATH = "/__tests__/axe.min.js"  # answered by Playwright, never by the server


def violations(page) -> list[str]:
    # The CSP refuses inline scripts, so axe is loaded as a file from the page's own origin ('self').
    origin = "/".join(page.url.split("/", 3)[:3])
    page.route(f"{origin}{AXE_PATH}", lambda route: route.fulfill(path=str(AXE), content_type="text/javascript"))
    page.add_script_tag(url=f"{origin}{AXE_PATH}")
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        f"{violation['id']}: {node['target']}"
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
        for node in violation["nodes"]
    ]


@pytest.mark.parametrize("path", PAGES)
def test_partner_pages_pass_axe(page, acme: World, sign_in, url_for, path: str) -> None:
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
        sale(acme, "52000")
        tenant_evaluate(
            evaluated_on=timezone.localdate(), dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
        )
        give_points(acme.partner, 1000, "welcome")
        RewardFactory(name="Branded mug", points_cost=150)
        RewardFactory(name="Trip", points_cost=5000)
    sign_in(page, acme, acme.partner_admin)
    page.goto(url_for(acme, path))
    assert violations(page) == []


def test_the_check_catches_a_real_contrast_problem(page, acme: World, url_for) -> None:
    page.goto(url_for(acme, "/accounts/login/"))
    assert violations(page) == []
    # Styled through the DOM: a style="…" attribute would itself be refused by the CSP.
    page.evaluate(
        """() => {
            const text = document.createElement("p");
            text.textContent = "Barely visible";
            Object.assign(text.style, {color: "#eeeeee", background: "#ffffff"});
            document.querySelector("main").append(text);
        }"""
    )
    assert [violation.split(":")[0] for violation in violations(page)] == ["color-contrast"]


def test_the_portal_works_from_the_keyboard(page, acme: World, sign_in, url_for) -> None:
    with tenant_context(acme.tenant):
        give_points(acme.partner, 1000, "welcome")
        RewardFactory(name="Branded mug", points_cost=150)
    sign_in(page, acme, acme.partner_user)
    # Tab to the "Rewards" link in the header and follow it with Enter.
    for _press in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent.trim()") == "Rewards":
            break
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == url_for(acme, "/rewards/")
    # The focused element is always visible to the eye: Pico draws a focus ring.
    page.keyboard.press("Tab")
    ring = page.evaluate(
        "() => [getComputedStyle(document.activeElement).boxShadow, "
        "getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert ring != ["none", "none"]
