"""Every role walks every page its navigation reaches (and the pages those link to in the same section), at 1280
and 390 px, in English and in Spanish (issue 17, "Show" and item 18): no page fails, none is wider than the
viewport, the content security policy blocks nothing (the `page` fixture), and no Spanish page shows English the
catalogue translates. Screenshots of each page go to tests/artifacts/screenshots/walk-<role>-<lang>-<page>-*.png.
"""

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from tests.browser.conftest import DESKTOP, PHONE, horizontal_overflow, shoot
from tests.conftest import World
from tests.portal.test_claims import make_claim
from tests.portal.test_dashboard import sale
from tests.rewards.factories import give_points
from tests.tiers.factories import revenue_program
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish

pytestmark = pytest.mark.browser

CATALOGUE = Path(__file__).resolve().parents[2] / "locale" / "es" / "LC_MESSAGES" / "django.po"
# Followed from a page's main content too when under the same section; never downloads, actions or other hosts.
SKIPPED = re.compile(r"^/(admin|api|accounts|static|media|evidence|branding)/|csv|download|/export|logout|unsubscribe")
MAX_PAGES = 24
ROLES = [Role.PARTNER_ADMIN, Role.PARTNER_USER, Role.ACCOUNT_MANAGER, Role.PROGRAM_MANAGER, Role.OWNER, Role.FINANCE]


@cache
def english_sentences() -> frozenset[str]:
    """Catalogue texts that Spanish pages must never show in English: translated differently, long enough to be
    a phrase (two words or more, no placeholders), so a product or person's name cannot match by accident."""
    with CATALOGUE.open("rb") as file:
        catalogue = read_po(file, locale="es")
    return frozenset(
        message.id
        for message in catalogue
        if isinstance(message.id, str)
        and message.string
        and not message.fuzzy
        and message.string != message.id
        and len(message.id.split()) >= 2
        and not re.search(r"%|\{|<|\n", message.id)
    )


@pytest.fixture
def program(acme: World) -> World:
    """Acme with something on every page: a published tier model, a scored partner, points, an approved claim."""
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
        sale(acme, "52000")
        tenant_evaluate(
            evaluated_on=timezone.localdate(), dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
        )
        give_points(acme.partner, 1_250, "welcome", days_ago=3)
    make_claim(acme, invoice_number="INV-2026-0042")
    return acme


def _links(page, selector: str) -> list[str]:
    hrefs = page.eval_on_selector_all(selector, "elements => elements.map(e => e.getAttribute('href'))")
    return [href.split("#")[0] for href in hrefs if href and href.startswith("/") and not SKIPPED.search(href)]


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("role", ROLES)
def test_every_page_a_role_reaches_works_fits_and_speaks_its_language(
    page, program: World, sign_in, url_for, role: Role, language: str
) -> None:
    user = program.user_for(role)
    user.language = language
    user.save(update_fields=["language"])
    sign_in(page, program, user)
    to_visit = ["/", *_links(page, "header.site-header nav a")]
    sections = {f"/{path.strip('/').split('/')[0]}/" for path in to_visit if path != "/"}
    visited: list[str] = []
    problems: list[str] = []
    while to_visit and len(visited) < MAX_PAGES:
        path = to_visit.pop(0)
        if path in visited:
            continue
        visited.append(path)
        response = page.goto(url_for(program, path))
        if response.status != 200:
            problems.append(f"{path}: HTTP {response.status}")
            continue
        for viewport in (DESKTOP, PHONE):
            page.set_viewport_size(viewport)
            if (overflow := horizontal_overflow(page)) > 0:
                problems.append(f"{path}: {overflow}px wider than the viewport at {viewport['width']}px")
        page.set_viewport_size(DESKTOP)
        if language == "es":
            text = page.locator("body").inner_text()
            english = sorted(sentence for sentence in english_sentences() if sentence in text)
            if english:
                problems.append(f"{path}: English on a Spanish page: {english}")
        shoot(page, f"walk-{role}-{language}-{_slug(path)}")
        to_visit += [link for link in _links(page, "main a") if any(link.startswith(s) for s in sections)]
    assert len(visited) >= 3, visited
    assert problems == [], "\n".join(problems)
