"""The survey pages: staff create, close and read a survey's results; partner members answer once; the program
dashboard shows NPS and response rate by tier and partner type; account managers see their partners' answers.

Every page: roles with no business there get a 403, another tenant's people too, another tenant's or another
member's survey is a 404; bad input is a form error (nothing written); a repeated POST records nothing twice.
"""

import uuid

import pytest

from engagement.models import Survey, SurveyResponse
from engagement.services import Audience, survey_answer, surveys_send_due
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from tests.conftest import World
from tests.engagement.helpers import cast, open_survey

pytestmark = pytest.mark.django_db
PARTNER_ROLES = (Role.PARTNER_ADMIN, Role.PARTNER_USER)
STAFF_ROLES = (Role.PROGRAM_MANAGER, Role.OWNER)
OTHER_STAFF = (Role.ACCOUNT_MANAGER, Role.FINANCE)


def sent(world: World, **fields) -> Survey:
    with tenant_context(world.tenant):
        survey = open_survey(world, **fields)
        surveys_send_due()
        return survey


def response_of(world: World, user) -> SurveyResponse:  # noqa: ANN001 - a User
    with tenant_context(world.tenant):
        return SurveyResponse.objects.get(user=user)


def new_post(**overrides) -> dict:
    return {
        "title_en": "Partner survey 2026",
        "question1_en": "What should we add to the program?",
        "question2_en": "",
        "question3_en": "",
        "title_es": "Encuesta a socios 2026",
        "question1_es": "¿Qué deberíamos añadir al programa?",
        "question2_es": "",
        "question3_es": "",
        "cadence": "quarterly",
        "opens_at": "",
        "form_key": str(uuid.uuid4()),
    } | overrides


def answer_post(**overrides) -> dict:
    return {"score": "9", "comment": "Good support", "answer0": "More webinars"} | overrides


# --- Who may see what --------------------------------------------------------------------------------------------


# The list and creation pages' role and tenant checks are in test_engagement.py (STAFF_PAGES).


def test_a_survey_page_and_close_refuse_other_roles_and_tenants(acme: World, globex: World, client_for) -> None:
    survey = sent(acme)
    page, close = f"/program/surveys/{survey.pk}/", f"/program/surveys/{survey.pk}/close/"
    for role in (*PARTNER_ROLES, *OTHER_STAFF):
        assert client_for(acme, acme.user_for(role)).get(page).status_code == 403
        assert client_for(acme, acme.user_for(role)).post(close).status_code == 403
    assert client_for(globex, globex.manager).get(page).status_code == 404
    assert client_for(globex, globex.manager).post(close).status_code == 404
    with tenant_context(acme.tenant):
        assert Survey.objects.get().is_open
    client = client_for(acme, acme.manager)
    assert client.post(close).status_code == 302
    assert b"already closed" in client.post(close, follow=True).content
    with tenant_context(acme.tenant):
        assert not Survey.objects.get().is_open


def test_partner_pages_refuse_staff_other_tenants_and_other_members(
    acme: World, globex: World, outsider, client_for
) -> None:
    sent(acme)
    sent(globex)
    mine = response_of(acme, acme.partner_user)
    colleagues = response_of(acme, acme.partner_admin)
    theirs = response_of(globex, globex.partner_user)
    for path in ("/surveys/", f"/surveys/{mine.pk}/"):
        for role in (*STAFF_ROLES, *OTHER_STAFF):
            assert client_for(acme, acme.user_for(role)).get(path).status_code == 403
        assert client_for(acme, globex.partner_user).get(path).status_code == 403
        assert client_for(acme, outsider).get(path).status_code == 403
        assert client_for(acme).get(path).status_code == 302
    client = client_for(acme, acme.partner_user)
    assert client.get(f"/surveys/{colleagues.pk}/").status_code == 404
    assert client.post(f"/surveys/{colleagues.pk}/", answer_post()).status_code == 404
    assert client.get(f"/surveys/{theirs.pk}/").status_code == 404
    assert response_of(acme, acme.partner_admin).answered_at is None
    assert client.get(f"/surveys/{mine.pk}/").status_code == 200


# --- Staff: create --------------------------------------------------------------------------------------------


def test_creating_a_survey_asks_its_audience_once_even_when_posted_twice(
    acme: World, client_for, django_capture_on_commit_callbacks
) -> None:
    client = client_for(acme, acme.manager)
    data = new_post()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/program/surveys/new/", data)
        assert response.status_code == 302
    with tenant_context(acme.tenant):
        [survey] = Survey.objects.all()
        assert survey.texts == {
            "en": {"title": "Partner survey 2026", "questions": ["What should we add to the program?"]},
            "es": {"title": "Encuesta a socios 2026", "questions": ["¿Qué deberíamos añadir al programa?"]},
        }
        assert survey.cadence == Survey.Cadence.QUARTERLY
        assert SurveyResponse.objects.count() == 2
    page = client.get(f"/program/surveys/{survey.pk}/")
    assert b"Net Promoter Score" in page.content


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title_en": ""}, "title_en"),
        ({"title_en": "x" * 201}, "title_en"),
        ({"title_en": "<img src=x onerror=alert(1)>"}, "title_en"),
        ({"question1_en": "Why?\x00"}, "question1_en"),
        ({"question1_en": "", "question1_es": "¿Por qué?"}, "question1_es"),
        ({"title_es": "", "question1_es": "¿Por qué?"}, "title_es"),
        ({"cadence": "hourly"}, "cadence"),
        ({"opens_at": "31/31/2026"}, "opens_at"),
        ({"partner_types": ["0"]}, "partner_types"),
    ],
)
def test_bad_survey_input_is_a_form_error_and_writes_nothing(acme: World, client_for, overrides, field) -> None:
    response = client_for(acme, acme.owner).post("/program/surveys/new/", new_post(**overrides))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    with tenant_context(acme.tenant):
        assert not Survey.objects.exists()


# --- Partner members: answer ---------------------------------------------------------------------------------


def test_a_member_answers_once_and_a_second_submit_changes_nothing(acme: World, client_for) -> None:
    sent(acme, questions=("What should we add?",))
    mine = response_of(acme, acme.partner_user)
    client = client_for(acme, acme.partner_user)
    form = client.get(f"/surveys/{mine.pk}/")
    assert b"How likely are you to recommend Acme Program to a colleague?" in form.content
    assert b"What should we add?" in form.content
    first = client.post(f"/surveys/{mine.pk}/", answer_post(), follow=True)
    assert b"Thank you: your answer is recorded." in first.content
    second = client.post(f"/surveys/{mine.pk}/", answer_post(score="0", comment="Other"), follow=True)
    assert b"Your answer was already recorded; it was not changed." in second.content
    recorded = response_of(acme, acme.partner_user)
    assert (recorded.score, recorded.comment, recorded.answers) == (9, "Good support", ["More webinars"])
    assert b"9 out of 10" in client.get(f"/surveys/{mine.pk}/").content
    assert b"No survey waits for you." in client.get("/surveys/").content


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"score": ""}, "score"),
        ({"score": "11"}, "score"),
        ({"score": "-1"}, "score"),
        ({"score": "nine"}, "score"),
        ({"comment": "x" * 2001}, "comment"),
        ({"comment": "Nice\x00"}, "comment"),
        ({"comment": "<script>alert(1)</script>"}, "comment"),
        ({"answer0": "y" * 2001}, "answer0"),
    ],
)
def test_bad_answers_are_form_errors_and_record_nothing(acme: World, client_for, overrides, field) -> None:
    sent(acme, questions=("What should we add?",))
    mine = response_of(acme, acme.partner_user)
    response = client_for(acme, acme.partner_user).post(f"/surveys/{mine.pk}/", answer_post(**overrides))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert response_of(acme, acme.partner_user).answered_at is None


def test_a_closed_survey_takes_no_answer(acme: World, client_for) -> None:
    survey = sent(acme)
    mine = response_of(acme, acme.partner_user)
    client_for(acme, acme.manager).post(f"/program/surveys/{survey.pk}/close/")
    client = client_for(acme, acme.partner_user)
    assert b"This survey is closed." in client.post(f"/surveys/{mine.pk}/", answer_post()).content
    assert response_of(acme, acme.partner_user).answered_at is None


# --- Figures for the staff -----------------------------------------------------------------------------------


def answered(world: World, scores: dict) -> None:
    with tenant_context(world.tenant):
        for user, score in scores.items():
            survey_answer(response=SurveyResponse.objects.get(user=user), score=score, comment="Why not", answers=[])


def test_the_dashboard_and_survey_page_show_nps_by_tier_and_type(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        people = cast(acme)
    sent(acme, title="Q4 pulse")
    answered(acme, {acme.partner_admin: 10, acme.partner_user: 3, people.distributor_member: 9})
    dashboard = client_for(acme, acme.manager).get("/program/")
    feedback = dashboard.context["feedback"]
    assert (feedback.total.nps, feedback.total.response_rate) == (33, 60)
    by_tier = {row.label: (row.nps, row.response_rate) for row in feedback.by_tier}
    assert by_tier == {"Gold": (33, 100), "Silver": (None, 0), "": (None, 0)}
    content = dashboard.content.decode()
    assert "Partner feedback" in content
    assert "Latest survey: Q4 pulse (once)." in content
    survey_page = client_for(acme, acme.owner).get(f"/program/surveys/{feedback.survey.pk}/")
    assert survey_page.context["results"].total == feedback.total


def test_account_managers_see_their_partners_answers_only(acme: World, client_for) -> None:
    sent(acme, audience=Audience(), questions=("What should we add?",))
    with tenant_context(acme.tenant):
        survey_answer(
            response=SurveyResponse.objects.get(user=acme.partner_admin),
            score=4,
            comment="Payouts are slow",
            answers=["Faster payouts"],
        )
    manager = client_for(acme, acme.account_manager)
    page = manager.get(f"/portfolio/{acme.partner.pk}/").content.decode()
    assert "Payouts are slow" in page
    assert "Faster payouts" in page
    assert "4 out of 10" in page
    # Not their partner: the page (and its answers) is a 404.
    assert manager.get(f"/portfolio/{acme.unmanaged_partner.pk}/").status_code == 404


def test_survey_pages_keep_their_query_budget(acme: World, client_for, django_assert_max_num_queries) -> None:
    sent(acme, title="First")
    client = client_for(acme, acme.manager)
    client.get("/program/surveys/")
    with tenant_context(acme.tenant):
        cast(acme)
    for number in range(10):
        sent(acme, title=f"More {number}")
    with django_assert_max_num_queries(12):
        assert client.get("/program/surveys/").status_code == 200
