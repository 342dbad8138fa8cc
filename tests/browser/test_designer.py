"""The program designer in Chromium, issue 18's journey: a program manager copies the model in force, moves Gold's
threshold with the slider, sees who moves and why, explains one partner, schedules publication for the 1st of next
month and confirms; at desktop and phone width, in English and Spanish; axe finds nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from tests.browser.conftest import shoot
from tests.browser.test_accessibility import violations
from tests.conftest import World
from tests.portal.test_program import build_program
from tiers.designer import designer_populations_forget
from tiers.models import Tier, TierModel

pytestmark = pytest.mark.browser

COLOURS = {"Registered": "#6b7280", "Silver": "#94a3b8", "Gold": "#ca8a04", "Platinum": "#475569"}
WORDS = {
    "en": {
        "designer": "Designer",
        "start": "Start a draft from the model in force",
        "slider": "Minimum score of Gold",
        "moving": "3 partners would move",
        "why": "Score 70.00 is below Gold's minimum of 75.",
        "explained": "Silver with a score of 70.00 on the Everyone pathway.",
        "gap": "$4,995 more in sales reaches Gold.",
        "publish": "Save and publish…",
        "date": "Effective date",
        "protect": "Protect current tiers until the end of the model's first qualification window",
        "update": "Update the plan",
        "confirm": "Confirm: publish for",
        "done": "is scheduled: it becomes the active model on",
    },
    "es": {
        "designer": "Diseñador",
        "start": "Empezar un borrador a partir del modelo vigente",
        "slider": "Puntuación mínima de Gold",
        "moving": "3 socios cambiarían",
        "why": "La puntuación 70,00 está por debajo del mínimo de Gold (75).",
        "explained": "Silver con una puntuación de 70,00 en la vía Everyone.",
        "gap": "reaches Gold",
        "publish": "Guardar y publicar…",
        "date": "Fecha de entrada en vigor",
        "protect": "Proteger los niveles actuales hasta el final de la primera ventana de calificación del modelo",
        "update": "Actualizar el plan",
        "confirm": "Confirmar: publicar para el",
        "done": "",
    },
}


@pytest.mark.parametrize("language", ["en", "es"])
def test_designer_moves_gold_and_shows_who_moves(page, acme: World, sign_in, url_for, language: str) -> None:
    designer_populations_forget()
    build_program(acme)
    with tenant_context(acme.tenant):
        for name, colour in COLOURS.items():
            Tier.objects.filter(name=name).update(colour=colour)
    acme.manager.language = language
    acme.manager.save(update_fields=["language"])
    words = WORDS[language]
    sign_in(page, acme, acme.manager)
    page.locator("header.site-header").get_by_role("link", name=words["designer"], exact=True).click()
    page.wait_for_url(url_for(acme, "/program/designer/"))
    shoot(page, f"designer-home-{language}", check_overflow=True)
    page.get_by_role("button", name=words["start"]).click()
    page.wait_for_url("**/program/designer/*/")
    assert page.locator("#what-if table.movers tbody tr").count() == 1  # Charlie, in grace, would drop

    page.get_by_label(words["slider"], exact=True).fill("75")  # the slider; the number field follows
    assert page.locator("#tier-2-minimum_score, [name='tier-2-minimum_score']").first.input_value() == "75"
    page.locator("#what-if h3", has_text=words["moving"]).wait_for()
    assert page.locator("#what-if table.movers").get_by_text(words["why"]).count() == 2  # Bravo and Delta
    shoot(page, f"designer-draft-{language}", check_overflow=True)
    assert violations(page) == []

    # Explain one partner who moves: under the draft and under the model in force.
    page.locator("#what-if table.movers").get_by_role("button", name="Bravo").click()
    page.locator(".explanation").first.wait_for()
    assert words["explained"] in page.locator(".explanation").first.inner_text()
    assert page.locator(".explanation").count() == 2
    shoot(page, f"designer-explain-{language}", check_overflow=True)
    assert violations(page) == []

    # Save and publish: the 1st of next month, current tiers protected; confirm.
    page.get_by_role("button", name=words["publish"]).click()
    page.wait_for_url("**/publish/")
    first_of_next_month = (timezone.localdate().replace(day=1) + timedelta(days=32)).replace(day=1)
    page.get_by_label(words["date"]).fill(first_of_next_month.isoformat())
    page.get_by_label(words["protect"]).check()
    page.get_by_role("button", name=words["update"]).click()
    page.wait_for_url("**/publish/")
    shoot(page, f"designer-publish-{language}", check_overflow=True)
    assert violations(page) == []
    page.get_by_role("button", name=words["confirm"]).click()
    page.wait_for_url(url_for(acme, "/program/designer/"))
    assert words["done"] in page.locator(".message").inner_text()
    with tenant_context(acme.tenant):
        scheduled = TierModel.objects.get(status=TierModel.Status.SCHEDULED)
        assert scheduled.tiers.get(rank=3).minimum_score == 75
    assert (scheduled.effective_from, scheduled.publication_downgrades) == (first_of_next_month, "protect")


LADDER_WORDS = {
    "en": {
        "add_gate": "Add a gate",
        "gate": "Gate",
        "metric": "Metric",
        "count": "Approved activities of a kind in the window",
        "kind": "Activity kind",
        "training": "Training",
        "minimum": "Minimum",
        "gate_why": "but its gate is not met: Trained (0 / 1)",
        "add_criterion": "Add a criterion",
        "label": "Label",
        "weight": "Weight",
        "target": "Target",
        "save": "Save draft",
        "saved": "Draft saved.",
    },
    "es": {
        "add_gate": "Añadir un requisito",
        "gate": "Requisito",
        "metric": "Métrica",
        "count": None,
        "kind": "Tipo de actividad",
        "training": None,
        "minimum": "Mínimo",
        "gate_why": "Trained (0 / 1)",
        "add_criterion": "Añadir un criterio",
        "label": "Etiqueta",
        "weight": "Peso",
        "target": "Objetivo",
        "save": "Guardar borrador",
        "saved": "Borrador guardado.",
    },
}


@pytest.mark.parametrize(("language", "role"), [("en", "manager"), ("es", "owner")])
def test_designer_edits_gates_and_criteria_with_a_metric_picker(
    page, acme: World, sign_in, url_for, language: str, role: str
) -> None:
    """A program manager (in English) and an owner (in Spanish) add a gate to Gold and a training criterion, each
    with the metric picker; the what-if follows as they type; saved; at 1280 and 390 px, axe clean."""
    designer_populations_forget()
    build_program(acme)
    user = getattr(acme, role)
    user.language = language
    user.save(update_fields=["language"])
    words = LADDER_WORDS[language]
    sign_in(page, acme, user)
    page.goto(url_for(acme, "/program/designer/"))
    page.locator("form[action$='/start/'] button").click()
    page.wait_for_url("**/program/designer/*/")

    gold = page.locator("#tier-2")
    gold.locator("details.gates-editor > summary").click()  # "0 gates": closed until asked
    gold.get_by_role("button", name=words["add_gate"]).click()
    page.wait_for_load_state()
    gold = page.locator("#tier-2")
    gold.get_by_label(words["gate"], exact=True).fill("Trained")
    gold.get_by_label(words["metric"], exact=True).select_option("activity_count")
    gold.get_by_label(words["kind"], exact=True).select_option("training")
    gold.get_by_label(words["minimum"], exact=True).fill("1")
    page.locator("#what-if table.movers").get_by_text(words["gate_why"]).first.wait_for()
    assert page.locator("#what-if table.movers tbody tr").count() == 3  # Bravo, Delta (gate) and Charlie

    page.get_by_role("button", name=words["add_criterion"]).click()
    page.wait_for_load_state()
    new = page.locator("li.criterion-row").last
    new.get_by_label(words["label"], exact=True).fill("Training")
    new.get_by_label(words["metric"], exact=True).select_option("activity_count")
    new.get_by_label(words["kind"], exact=True).select_option("training")
    new.get_by_label(words["weight"], exact=True).fill("1")
    new.get_by_label(words["target"], exact=True).fill("1")
    new.locator("output.share", has_text="50").wait_for()
    shoot(page, f"designer-ladder-{language}", check_overflow=True)
    assert violations(page) == []
    page.get_by_role("button", name=words["save"]).click()
    page.wait_for_load_state()
    assert words["saved"] in page.locator(".message").first.inner_text()
    with tenant_context(acme.tenant):
        draft = TierModel.objects.get(status=TierModel.Status.DRAFT)
        assert draft.tiers.get(rank=3).gates.get().activity_kind == "training"
        assert draft.pathways.get().criteria.count() == 2


CLASH_WORDS = {
    language: {
        "slider": WORDS[language]["slider"],
        "save": LADDER_WORDS[language]["save"],
        "saved": LADDER_WORDS[language]["saved"],
        "clash": clash,
        "open": open_saved,
    }
    for language, clash, open_saved in [
        ("en", "Your changes were not saved: this draft was saved elsewhere", "Open the saved version"),
        ("es", "Sus cambios no se han guardado: este borrador se guardó en otro lugar", "Abrir la versión guardada"),
    ]
}


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_second_tab_cannot_save_over_the_first(page, acme: World, sign_in, url_for, language: str) -> None:
    """Two tabs on one draft: the first saves Gold at 70; the second, opened before, types 80 and saves. It is told
    its changes were not saved and why, its 80 is still on screen, and the draft keeps 70."""
    designer_populations_forget()
    build_program(acme)
    acme.manager.language = language
    acme.manager.save(update_fields=["language"])
    words = CLASH_WORDS[language]
    sign_in(page, acme, acme.manager)
    page.goto(url_for(acme, "/program/designer/"))
    page.locator("form[action$='/start/'] button").click()
    page.wait_for_url("**/program/designer/*/")
    second = page.context.new_page()
    second.goto(page.url)

    page.get_by_label(words["slider"], exact=True).fill("70")
    page.get_by_role("button", name=words["save"]).click()
    page.wait_for_load_state()
    assert words["saved"] in page.locator(".message").first.inner_text()

    second.get_by_label(words["slider"], exact=True).fill("80")
    second.get_by_role("button", name=words["save"]).click()
    second.wait_for_load_state()
    assert words["clash"] in second.locator(".message").first.inner_text()
    assert second.locator("[name='tier-2-minimum_score']").first.input_value() == "80"
    shoot(second, f"designer-clash-{language}", check_overflow=True)
    assert violations(second) == []
    with tenant_context(acme.tenant):
        assert TierModel.objects.get(status=TierModel.Status.DRAFT).tiers.get(rank=3).minimum_score == 70
    # The way on: the saved version (a GET, not a resubmission), where this tab's change can be made again.
    second.get_by_role("link", name=words["open"]).click()
    second.wait_for_load_state()
    assert second.locator("[name='tier-2-minimum_score']").first.input_value() == "70"
    second.get_by_label(words["slider"], exact=True).fill("80")
    second.get_by_role("button", name=words["save"]).click()
    second.wait_for_load_state()
    assert words["saved"] in second.locator(".message").first.inner_text()
    with tenant_context(acme.tenant):
        assert TierModel.objects.get(status=TierModel.Status.DRAFT).tiers.get(rank=3).minimum_score == 80
