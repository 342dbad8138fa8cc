"""The enablement journey in Chromium, in English and Spanish, at desktop and phone width:

a new partner sees the program's welcome and the onboarding checklist on the dashboard, opens the library (the next
tier's items greyed), downloads an entitled file (a Gold one is not found), passes a course's quiz, and sees the
training bar on the dashboard move; the program manager sees the onboarding rate.
"""

from decimal import Decimal

import pytest
from django.utils import timezone

from earning.models import EarningRule
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ActivityKind
from tests.browser.conftest import shoot
from tests.conftest import World
from tests.enablement.factories import course, onboarding, place, resource
from tests.partners.helpers import PDF_BYTES
from tests.portal.test_dashboard import sale
from tests.tiers.factories import revenue_program
from tiers.models import Criterion, Metric
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish

pytestmark = pytest.mark.browser

WORDS = {
    "en": {
        "start": "Getting started",
        "steps": "1 of 4 steps done",
        "next": "Unlocked at Gold",
        "submit": "Submit my answers",
        "done": "You completed this course",
        "welcome": "Welcome aboard: four steps to get going.",
        "rate": "Onboarding",
    },
    "es": {
        "start": "Primeros pasos",
        "steps": "1 de 4 pasos hechos",
        "next": "Se desbloquea en Gold",
        "submit": "Enviar mis respuestas",
        "done": "Completó este curso",
        "welcome": "Bienvenidos: cuatro pasos para empezar.",
        "rate": "Incorporación",
    },
}


def enablement_program(world: World) -> None:
    """Revenue (target 100,000) and trainings (target 4), equal weights; the partner on Silver with 52,000 of sales;
    a 50-point rule per training; an open price list, a Gold playbook, a course with a two-question quiz; the
    onboarding checklist with its welcome in both languages."""
    with tenant_context(world.tenant):
        program = revenue_program()
        Criterion.objects.create(
            pathway=program.pathway,
            label="Trainings",
            metric=Metric.ACTIVITY_COUNT,
            activity_kind=ActivityKind.TRAINING,
            weight=Decimal(1),
            target=Decimal(4),
        )
        tier_model_publish(model=program.model, actor=world.manager)
        EarningRule.objects.create(
            name="Courses", activity_kind=ActivityKind.TRAINING, basis=EarningRule.Basis.PER_ACTIVITY, rate=Decimal(50)
        )
        sale(world, "52000")
        tenant_evaluate(
            evaluated_on=timezone.localdate(), dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
        )
    place(world, world.partner, program.tiers["Silver"])
    world.price_list = resource(world, "Silver price list 2027", rank=2)
    world.playbook = resource(world, "Gold competitive playbook", rank=3)
    resource(world, "Brand guidelines", url="https://example.com/brand")
    world.course = course(
        world,
        "Selling managed Wi-Fi",
        code="wifi-101",
        questions=(
            ("Which band carries more clients per access point?", "2.4 GHz\n5 GHz\nInfrared", 2),
            ("What does the site survey measure first?", "Signal coverage\nThe invoice total", 1),
        ),
    )
    course(world, "Gold: multi-site design", rank=3)
    onboarding(world, en=WORDS["en"]["welcome"], es=WORDS["es"]["welcome"])


FETCH = """async (url) => {
  const response = await fetch(url);
  return [response.status, response.headers.get("content-type"), (await response.arrayBuffer()).byteLength];
}"""


def trainings_bar(page) -> Decimal:
    return Decimal(page.locator(".criterion", has_text="Trainings").locator("progress").get_attribute("value"))


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_new_partner_onboards_opens_a_gated_file_and_completes_a_course(
    page, acme: World, sign_in, url_for, language: str
) -> None:
    words = WORDS[language]
    for person in (acme.partner_user, acme.manager):
        person.language = language
        person.save(update_fields=["language"])
    enablement_program(acme)

    # The dashboard: the program's welcome and the checklist (the team of two did the invite step).
    sign_in(page, acme, acme.partner_user)
    checklist = page.locator("section.onboarding")
    assert words["start"] in checklist.inner_text()
    assert words["welcome"] in checklist.inner_text()
    assert words["steps"] in checklist.inner_text()
    assert trainings_bar(page) == 0
    shoot(page, f"enablement-dashboard-{language}", check_overflow=True)

    # The library: open items, the next tier's greyed (no link).
    page.locator("header nav a[href='/enablement/']").click()
    assert words["next"] in page.locator("section.library-next").inner_text()
    assert page.locator("section.library-next a").count() == 0
    shoot(page, f"enablement-library-{language}", check_overflow=True)

    # The entitled file downloads; the Gold one does not exist for a Silver partner.
    # (Fetched by the page itself, with its session: *.localhost resolves in Chromium, not in Playwright's client.)
    href = page.get_by_role("link", name="Silver price list 2027").get_attribute("href")
    status, content_type, size = page.evaluate(FETCH, href)
    assert (status, content_type, size) == (200, "application/pdf", len(PDF_BYTES))
    assert page.evaluate(FETCH, f"/enablement/resources/{acme.playbook.pk}/")[0] == 404

    # The course: one wrong answer fails (50%, 80% passes), then both right pass.
    page.get_by_role("link", name="Selling managed Wi-Fi").first.click()
    quiz = page.locator("form.quiz")
    quiz.locator("fieldset").nth(0).locator("input[type=radio]").nth(0).check()
    quiz.locator("fieldset").nth(1).locator("input[type=radio]").nth(0).check()
    quiz.get_by_role("button", name=words["submit"]).click()
    assert page.locator("[role=alert]").is_visible()
    quiz = page.locator("form.quiz")
    quiz.locator("fieldset").nth(0).locator("input[type=radio]").nth(1).check()
    quiz.locator("fieldset").nth(1).locator("input[type=radio]").nth(0).check()
    shoot(page, f"enablement-course-{language}", check_overflow=True)
    quiz.get_by_role("button", name=words["submit"]).click()
    assert words["done"] in page.locator(".course-done").inner_text()
    shoot(page, f"enablement-course-done-{language}", check_overflow=True)

    # The dashboard: the training bar moved by one, the checklist's training step is done.
    page.goto(url_for(acme, "/"))
    assert trainings_bar(page) == 1
    assert page.locator("section.onboarding li.done").count() == 2
    shoot(page, f"enablement-dashboard-after-{language}", check_overflow=True)
    with tenant_context(acme.tenant):
        assert Activity.objects.filter(kind=ActivityKind.TRAINING).count() == 1

    # The program manager sees the onboarding rate.
    page.context.clear_cookies()
    sign_in(page, acme, acme.manager)
    page.goto(url_for(acme, "/program/"))
    section = page.locator("section.onboarding-rate")
    assert words["rate"] in section.inner_text()
    section.scroll_into_view_if_needed()
    shoot(page, f"enablement-program-{language}", check_overflow=True)
