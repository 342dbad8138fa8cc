"""Announcements and surveys in Chromium: a program manager writes an announcement, partner members see the banner
(in Spanish and in English), dismiss or open it, and the staff see who read it; an owner opens a survey, a member
answers the NPS question in Spanish, the dashboard shows NPS by tier and type, the account manager the answers;
at 1280 and 390 px, checked with axe."""

import pytest

from engagement.models import Announcement, AnnouncementDelivery, SurveyResponse
from engagement.services import survey_answer
from loyalty.tenancy.context import tenant_context
from tests.browser.conftest import shoot
from tests.browser.test_accessibility import violations
from tests.conftest import World
from tests.engagement.helpers import cast

pytestmark = pytest.mark.browser


def switch_user(page, world: World, user, sign_in) -> None:
    page.context.clear_cookies()
    sign_in(page, world, user)


def test_an_announcement_from_writing_to_read_counts(page, acme: World, sign_in, url_for) -> None:
    with tenant_context(acme.tenant):
        cast(acme)
    for user in (acme.partner_user, acme.owner):
        user.language = "es"
        user.save(update_fields=["language"])

    # The program manager writes it from the program dashboard.
    sign_in(page, acme, acme.manager)
    page.goto(url_for(acme, "/program/"))
    with page.expect_navigation():
        page.get_by_role("link", name="Announcements to partners: write, schedule, see who read them").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Write an announcement").click()
    page.get_by_label("Title (English)").fill("Double points on training")
    page.get_by_label("Message (English)").fill(
        "Until 31 March, every completed course earns double points.\nSee you in class!"
    )
    page.get_by_label("Title (Español)").fill("Puntos dobles en formación")
    page.get_by_label("Message (Español)").fill("Hasta el 31 de marzo, cada curso completado suma puntos dobles.")
    page.get_by_label("Link (optional)").fill("https://acme.example/training")
    page.get_by_label("Reseller").check()
    shoot(page, "announcement-write", check_overflow=True)
    assert violations(page) == []
    with page.expect_navigation():
        page.get_by_role("button", name="Schedule").click()
    assert page.locator("h1").inner_text() == "Double points on training"
    with tenant_context(acme.tenant):
        announcement = Announcement.objects.get()
        assert announcement.status == Announcement.Status.PUBLISHED
        # Resellers only: the Gold and Silver resellers' three members, not the distributors'.
        assert AnnouncementDelivery.objects.filter(announcement=announcement).count() == 3

    # A Spanish-speaking partner user sees the banner in Spanish and dismisses it.
    switch_user(page, acme, acme.partner_user, sign_in)
    banner = page.locator(".announcements-banner")
    assert "Puntos dobles en formación" in banner.inner_text()
    shoot(page, "announcement-banner-es", check_overflow=True)
    assert violations(page) == []
    with page.expect_navigation():
        banner.get_by_role("button", name="Descartar").click()
    assert page.locator(".announcements-banner").count() == 0
    assert "Puntos dobles" not in page.locator("main").inner_text()

    # An English-speaking colleague opens it from the banner; the notification centre counts it read too.
    switch_user(page, acme, acme.partner_admin, sign_in)
    assert page.locator("a.notifications-link .badge").inner_text() == "1"
    with page.expect_navigation():
        page.locator(".announcements-banner").get_by_role("link", name="Open").click()
    assert page.locator("h1").inner_text() == "Double points on training"
    assert "See you in class!" in page.locator("main").inner_text()
    assert page.locator("a.notifications-link .badge").count() == 0
    shoot(page, "announcement-read-en", check_overflow=True)
    assert violations(page) == []

    # The owner (in Spanish) sees who read it, by tier, partner type and region.
    switch_user(page, acme, acme.owner, sign_in)
    page.goto(url_for(acme, f"/program/announcements/{announcement.pk}/"))
    main = page.locator("main").inner_text()
    assert "Lectura por público" in main
    gold = page.locator("table", has_text="Por nivel").locator("tr", has_text="Gold")
    assert gold.locator("td").all_inner_texts() == ["2", "2", "100 %"]
    shoot(page, "announcement-reads-es", check_overflow=True)
    assert violations(page) == []
    page.goto(url_for(acme, "/program/announcements/"))
    shoot(page, "announcements-staff-es", check_overflow=True)
    assert violations(page) == []


def test_a_survey_from_creating_to_nps_on_the_dashboard(page, acme: World, sign_in, url_for) -> None:
    with tenant_context(acme.tenant):
        people = cast(acme)
    acme.partner_user.language = "es"
    acme.partner_user.save(update_fields=["language"])

    # The owner creates a quarterly survey with one question of their own, in both languages.
    sign_in(page, acme, acme.owner)
    page.goto(url_for(acme, "/program/"))
    with page.expect_navigation():
        page.get_by_role("link", name="Partner surveys: NPS and your own questions").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Create a survey").click()
    page.get_by_label("Title (English)").fill("Partner pulse")
    page.get_by_label("Optional question 1 (English)").fill("What should we add to the program?")
    page.get_by_label("Title (Español)").fill("Pulso de socios")
    page.get_by_label("Optional question 1 (Español)").fill("¿Qué deberíamos añadir al programa?")
    page.locator("select[name=cadence]").select_option("quarterly")
    shoot(page, "survey-create", check_overflow=True)
    assert violations(page) == []
    with page.expect_navigation():
        page.get_by_role("button", name="Open the survey").click()
    assert page.locator("h1").inner_text() == "Partner pulse"
    with tenant_context(acme.tenant):
        assert SurveyResponse.objects.count() == 5

    # A Spanish-speaking member answers from the notification centre.
    switch_user(page, acme, acme.partner_user, sign_in)
    with page.expect_navigation():
        page.locator("a.notifications-link").click()
    assert "Pulso de socios: díganos qué opina" in page.locator("main").inner_text()
    with page.expect_navigation():
        page.locator("li.notification", has_text="Pulso de socios").get_by_role("button", name="Abrir").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Responder").click()
    assert (
        "¿Qué probabilidad hay de que recomiende Acme Program a un colega?" in page.locator("legend").first.inner_text()
    )
    page.get_by_label("9", exact=True).check()
    page.get_by_label("¿Cuál es el motivo principal de su puntuación? (opcional)").fill("Buen soporte")
    page.get_by_label("¿Qué deberíamos añadir al programa?").fill("Más seminarios web")
    shoot(page, "survey-answer-es", check_overflow=True)
    assert violations(page) == []
    with page.expect_navigation():
        page.get_by_role("button", name="Enviar mi respuesta").click()
    assert "Gracias: su respuesta está registrada." in page.locator(".message").inner_text()
    shoot(page, "survey-answered-es", check_overflow=True)

    with tenant_context(acme.tenant):
        for user, score in ((acme.partner_admin, 4), (people.distributor_member, 10)):
            response = SurveyResponse.objects.get(user=user)
            survey_answer(response=response, score=score, comment="", answers=[])

    # The program manager reads NPS by tier and partner type on the dashboard.
    switch_user(page, acme, acme.manager, sign_in)
    page.goto(url_for(acme, "/program/"))
    feedback = page.locator("section", has=page.locator("#feedback-title"))
    assert "Latest survey: Partner pulse" in feedback.inner_text()
    gold = feedback.locator("table", has_text="By tier").locator("tr", has_text="Gold")
    assert gold.locator("td").all_inner_texts() == ["33", "3", "3", "100 %"]
    feedback.scroll_into_view_if_needed()
    shoot(page, "survey-dashboard", check_overflow=True)
    assert violations(page) == []

    # The account manager sees the partner's answers on its page.
    switch_user(page, acme, acme.account_manager, sign_in)
    page.goto(url_for(acme, f"/portfolio/{acme.partner.pk}/"))
    answers = page.locator("section", has=page.locator("#feedback-title"))
    assert "Más seminarios web" in answers.inner_text()
    assert "9 out of 10" in answers.inner_text()
    shoot(page, "survey-partner-answers", check_overflow=True)
