"""Surveys: each audience is asked exactly once per period (and not before the survey opens, nor after it
closes), each member answers once even when submitting twice at the same moment, and the NPS and response rates
add up, in total and by tier and partner type."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from engagement.models import Survey, SurveyResponse
from engagement.selectors import feedback_latest, partner_feedback, survey_periods, survey_results
from engagement.services import Audience, survey_answer, survey_close, surveys_send_due
from loyalty.tenancy.context import tenant_context
from notifications.models import Kind, Notification
from tests.conftest import World
from tests.engagement.helpers import cast, open_survey
from tests.support import outcomes, run_concurrently

pytestmark = pytest.mark.django_db
GOLD_PARTNER = ["admin@partner.acme.test", "user@partner.acme.test"]


def asked(survey: Survey, period: str | None = None) -> list[str]:
    responses = SurveyResponse.objects.filter(survey=survey)
    if period:
        responses = responses.filter(period=period)
    return sorted(responses.values_list("user__email", flat=True))


def test_each_audience_is_asked_exactly_its_survey(acme: World, globex: World) -> None:
    with tenant_context(acme.tenant):
        people = cast(acme)
        everyone = open_survey(acme, "Everyone")
        gold = open_survey(acme, "Gold", audience=Audience(tiers=[people.gold]))
        amer = open_survey(acme, "AMER", audience=Audience(regions=["AMER"]))
        silver_resellers = open_survey(
            acme, "Silver resellers", audience=Audience(tiers=[people.silver], partner_types=[people.reseller])
        )
        assert surveys_send_due() == 5 + 3 + 2 + 1
        assert asked(everyone) == sorted([*GOLD_PARTNER, "dist@acme.test", "fresh@acme.test", "silver@acme.test"])
        assert asked(gold) == sorted([*GOLD_PARTNER, "dist@acme.test"])
        assert asked(amer) == ["dist@acme.test", "fresh@acme.test"]
        assert asked(silver_resellers) == ["silver@acme.test"]
        # One notification per member and survey.
        assert Notification.objects.filter(kind=Kind.SURVEY).count() == 11
    with tenant_context(globex.tenant):
        assert surveys_send_due() == 0
        assert not SurveyResponse.objects.exists()


def test_asked_once_per_period_and_again_the_next_one(acme: World) -> None:
    autumn = datetime(2026, 11, 20, 12, tzinfo=UTC)
    with tenant_context(acme.tenant):
        quarterly = open_survey(acme, cadence=Survey.Cadence.QUARTERLY, opens_at=autumn)
        once = open_survey(acme, "Once", opens_at=autumn)
        assert surveys_send_due(now=autumn) == 4
        assert surveys_send_due(now=autumn + timedelta(days=20)) == 0  # still 2026-Q4
        winter = autumn + timedelta(days=60)
        assert surveys_send_due(now=winter) == 2  # 2027-Q1: the quarterly one again, the once one never
        assert asked(quarterly, "2026-Q4") == asked(quarterly, "2027-Q1") == GOLD_PARTNER
        assert asked(once) == GOLD_PARTNER
        assert survey_periods(survey=quarterly) == ["2027-Q1", "2026-Q4"]
        periods = Notification.objects.filter(kind=Kind.SURVEY, subject=f"survey:{quarterly.pk}")
        assert sorted(periods.values_list("period", flat=True)) == ["2026-Q4", "2026-Q4", "2027-Q1", "2027-Q1"]


def test_not_before_it_opens_nor_after_it_closes(acme: World) -> None:
    now = timezone.now()
    with tenant_context(acme.tenant):
        later = open_survey(acme, opens_at=now + timedelta(days=1))
        assert surveys_send_due(now=now) == 0
        assert not SurveyResponse.objects.exists()
        assert survey_close(survey=later) is True
        assert survey_close(survey=later) is False
        assert surveys_send_due(now=now + timedelta(days=2)) == 0
        assert not Notification.objects.filter(kind=Kind.SURVEY).exists()


def test_a_member_who_joins_the_audience_is_asked_on_the_next_run_only_once(acme: World) -> None:
    with tenant_context(acme.tenant):
        survey = open_survey(acme)
        assert surveys_send_due() == 2
        people = cast(acme)  # three more partners' members join
        assert surveys_send_due() == 3
        assert surveys_send_due() == 0
        assert len(asked(survey)) == 5
        assert people.distributor_member.email in asked(survey)


def test_one_answer_per_member_the_first_stays(acme: World) -> None:
    with tenant_context(acme.tenant):
        survey = open_survey(acme, questions=("What should we add?",))
        surveys_send_due()
        response = SurveyResponse.objects.get(survey=survey, user=acme.partner_user)
        assert survey_answer(response=response, score=9, comment="Great", answers=["More training"]) is True
        assert survey_answer(response=response, score=0, comment="Changed my mind", answers=[""]) is False
        response.refresh_from_db()
        assert (response.score, response.comment, response.answers) == (9, "Great", ["More training"])
        assert response.question_answers() == [("What should we add?", "More training")]
        # A closed survey takes no more answers.
        other = SurveyResponse.objects.get(survey=survey, user=acme.partner_admin)
        survey_close(survey=survey)
        assert survey_answer(response=other, score=5, comment="", answers=[]) is False
        other.refresh_from_db()
        assert other.answered_at is None


@pytest.mark.django_db(transaction=True)
def test_two_submits_at_the_same_moment_record_one_answer(acme: World) -> None:
    with tenant_context(acme.tenant):
        survey = open_survey(acme)
        surveys_send_due()
        response = SurveyResponse.objects.get(survey=survey, user=acme.partner_user)

    results = run_concurrently(
        acme.tenant, 6, lambda index: survey_answer(response=response, score=index, comment=str(index), answers=[])
    )

    assert outcomes(results) == {"bool": 6}
    assert results.count(True) == 1
    with tenant_context(acme.tenant):
        response.refresh_from_db()
        assert response.comment == str(results.index(True))
        assert response.score == results.index(True)


def test_nps_and_response_rate_in_total_by_tier_and_type(acme: World) -> None:
    with tenant_context(acme.tenant):
        people = cast(acme)
        survey = open_survey(acme)
        surveys_send_due()
        scores = {
            acme.partner_admin: 10,  # Gold reseller: promoter
            acme.partner_user: 6,  # Gold reseller: detractor
            people.distributor_member: 9,  # Gold distributor: promoter
            people.silver_member: 8,  # Silver reseller: passive
        }  # fresh@ (no tier, distributor) does not answer
        for user, score in scores.items():
            survey_answer(response=SurveyResponse.objects.get(user=user), score=score, comment="", answers=[])
        results = survey_results(survey=survey, period="once")
        latest = feedback_latest()
        answers = list(partner_feedback(partner=acme.partner))

    total = results.total
    assert (total.invited, total.answered, total.promoters, total.detractors) == (5, 4, 2, 1)
    assert total.nps == 25  # (2 − 1) / 4
    assert total.response_rate == 80
    by_tier = {row.label: (row.invited, row.answered, row.nps, row.response_rate) for row in results.by_tier}
    assert by_tier == {"Gold": (3, 3, 33, 100), "Silver": (1, 1, 0, 100), "": (1, 0, None, 0)}
    by_type = {row.label: (row.invited, row.answered, row.nps) for row in results.by_partner_type}
    assert by_type == {"Distributor": (2, 1, 100), "Reseller": (3, 3, 0)}
    assert latest.survey == survey
    assert latest.total == total
    assert sorted(answer.user.email for answer in answers) == GOLD_PARTNER
