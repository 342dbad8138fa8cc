"""A partner reads the forecast sentence and a badge on the dashboard, and the badges on the team page, in Chromium
at 1280 and 390 px, in English and Spanish, with axe (issue 22, items 1 and 6)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from badges.models import Badge
from badges.services import badges_award
from loyalty.tenancy.context import tenant_context
from partners.models import ActivityKind
from tests.browser.conftest import shoot
from tests.browser.test_accessibility import violations
from tests.conftest import World
from tests.tiers.factories import activity, revenue_program, sale
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish

pytestmark = pytest.mark.browser


def forecast_and_badge(world: World) -> None:
    """Silver on 60,000 (30,000 of it 200 days ago, 30,000 in the last month: on pace for Gold in 15 days); five
    certifications earn the "5 certifications" badge and its 250 points."""
    with tenant_context(world.tenant):
        tier_model_publish(model=revenue_program().model, actor=world.manager)
        sale(world.partner, timezone.now() - timedelta(days=200), "30000")
        sale(world.partner, timezone.now() - timedelta(days=20), "30000")
        for code in ("C1", "C2", "C3", "C4", "C5"):
            activity(world.partner, ActivityKind.CERTIFICATION, timezone.localdate(), code=code)
        for rule, threshold, bonus in ((Badge.Rule.CERTIFICATIONS, 5, 250), (Badge.Rule.DEALS_WON, 1, 100)):
            Badge.objects.create(rule=rule, threshold=threshold, bonus_points=bonus)
        tenant_evaluate(
            evaluated_on=timezone.localdate(), dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
        )
        badges_award()


@pytest.mark.parametrize(
    ("language", "sentence", "badge", "earned"),
    [
        ("en", "At your pace of the last 90 days you reach Gold around", "5 certifications", "Earned on"),
        ("es", "A su ritmo de los últimos 90 días alcanza Gold hacia el", "5 certificaciones", "Obtenida el"),
    ],
)
def test_a_partner_reads_the_forecast_and_sees_a_badge(
    page, acme: World, sign_in, url_for, language: str, sentence: str, badge: str, earned: str
) -> None:
    forecast_and_badge(acme)
    acme.partner_admin.language = language
    acme.partner_admin.save(update_fields=["language"])
    sign_in(page, acme, acme.partner_admin)

    forecast = page.locator(".forecast")
    assert sentence in forecast.inner_text()
    assert forecast.get_attribute("role") == "note"
    earned_badge = page.locator(".badge-list li").first
    assert badge in earned_badge.inner_text()
    assert earned in earned_badge.inner_text()
    assert "milestone-locked" in page.locator(".badge-list li").nth(1).get_attribute("class")
    assert violations(page) == []
    shoot(page, f"forecast-badge-dashboard-{language}", check_overflow=True)

    page.goto(url_for(acme, "/team/"))
    assert badge in page.locator(".badge-list").inner_text()
    assert violations(page) == []
    shoot(page, f"forecast-badge-team-{language}", check_overflow=True)
