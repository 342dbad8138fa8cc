"""Completing a course records one training activity through ingestion: points by the earning rules, the scorecard
moves, and a repeat (double click, another tab, a replay) records nothing more."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from earning.models import EarningRule
from enablement.models import Course, CourseCompletion
from enablement.services import course_complete
from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ActivityKind, Partner
from tests.conftest import World
from tests.enablement.factories import course, ladder, place
from tests.factories import MembershipFactory
from tiers.models import Criterion, Metric
from tiers.selectors import partner_status_get

QUIZ = (
    ("Which tier comes after Silver?", "Bronze\nGold\nPlatinum", 2),
    ("What does MDF stand for?", "Market development funds\nMonthly deal forecast", 1),
)


@pytest.fixture
def trained(acme: World) -> World:
    """Acme on a ladder whose scorecard also counts trainings (target 4), a training rule of 50 points."""
    tiers = ladder(acme)
    place(acme, acme.partner, tiers["Silver"])
    with tenant_context(acme.tenant):
        Criterion.objects.create(
            pathway=tiers["Silver"].model.pathways.get(),
            label="Trainings",
            metric=Metric.ACTIVITY_COUNT,
            activity_kind=ActivityKind.TRAINING,
            target=Decimal(4),
            weight=Decimal(1),
        )
        EarningRule.objects.create(
            name="Courses",
            activity_kind=ActivityKind.TRAINING,
            basis=EarningRule.Basis.PER_ACTIVITY,
            rate=Decimal(50),
            applies_tier_multiplier=False,
        )
    return acme


def trainings(world: World) -> list[Activity]:
    with tenant_context(world.tenant):
        return list(Activity.objects.filter(kind=ActivityKind.TRAINING))


def course_points(world: World) -> list[int]:
    with tenant_context(world.tenant):
        return list(LedgerEntry.objects.filter(activity__kind=ActivityKind.TRAINING).values_list("points", flat=True))


def complete(world: World, item: Course, user=None, partner: Partner | None = None, **answers):  # noqa: ANN001, ANN201
    with tenant_context(world.tenant):
        return course_complete(
            course_id=item.pk, partner=partner or world.partner, user=user or world.partner_user, answers=answers
        )


def test_completing_a_course_records_one_approved_training_that_earns_and_moves_the_scorecard(
    trained: World, django_capture_on_commit_callbacks
) -> None:
    basics = course(trained, "Basics", code="basics-101")

    with django_capture_on_commit_callbacks(execute=True):
        outcome = complete(trained, basics)

    assert outcome.passed
    assert outcome.created
    [activity] = trainings(trained)
    assert (activity.status, activity.source, activity.code, activity.partner_id) == (
        "approved",
        "course",
        "basics-101",
        trained.partner.pk,
    )
    assert activity.external_id == f"course:{basics.pk}:member:{trained.partner_user.pk}"
    assert activity.metadata["course"] == "Basics"
    assert outcome.completion.activity_id == activity.pk
    assert course_points(trained) == [50]
    with tenant_context(trained.tenant):
        breakdown = {row["label"]: row["value"] for row in partner_status_get(partner=trained.partner).score.breakdown}
    assert Decimal(breakdown["Trainings"]) == 1


def test_completing_it_again_records_nothing_more(trained: World) -> None:
    basics = course(trained, "Basics")
    first = complete(trained, basics)

    again = complete(trained, basics)

    assert again.passed
    assert not again.created
    assert again.completion.pk == first.completion.pk
    assert len(trainings(trained)) == 1
    assert course_points(trained) == [50]


def test_each_member_who_completes_it_is_a_training_of_their_own(trained: World) -> None:
    basics = course(trained, "Basics")
    complete(trained, basics, user=trained.partner_user)
    complete(trained, basics, user=trained.partner_admin)

    assert sorted(activity.metadata.get("course") for activity in trainings(trained)) == ["Basics", "Basics"]
    assert course_points(trained) == [50, 50]


def test_a_quiz_below_the_pass_mark_records_nothing_and_a_pass_records_the_score(trained: World) -> None:
    quiz = course(trained, "Quiz", questions=QUIZ, pass_percent=100)
    with tenant_context(trained.tenant):
        first, second = (f"question-{pk}" for pk in quiz.questions.values_list("pk", flat=True).order_by("position"))

    failed = complete(trained, quiz, **{first: 2, second: 2})
    assert not failed.passed
    assert failed.score_percent == 50
    assert trainings(trained) == []

    passed = complete(trained, quiz, **{first: "2", second: "1"})
    assert passed.passed
    assert passed.completion.score_percent == 100
    assert len(trainings(trained)) == 1


@pytest.mark.parametrize("answer", [None, "", "0", "3", "9", "x", "²", "-1", "1.0", "\x00"])
def test_a_quiz_answer_that_is_missing_or_not_a_choice_is_refused(trained: World, answer: object) -> None:
    quiz = course(trained, "Quiz", questions=QUIZ[1:])
    with tenant_context(trained.tenant):
        name = f"question-{quiz.questions.get().pk}"

    with pytest.raises(ValidationError) as refusal:
        complete(trained, quiz, **{name: answer})

    assert refusal.value.message_dict == {name: ["Choose one answer."]}
    assert trainings(trained) == []


def test_a_course_above_the_partners_tier_or_for_another_type_cannot_be_completed(trained: World) -> None:
    gold = course(trained, "Gold only", rank=3)
    with pytest.raises(Course.DoesNotExist):
        complete(trained, gold)
    assert trainings(trained) == []
    with tenant_context(trained.tenant):
        assert not CourseCompletion.objects.exists()


def test_an_inactive_partner_cannot_complete_a_course(trained: World) -> None:
    basics = course(trained, "Basics")
    with tenant_context(trained.tenant):
        Partner.objects.filter(pk=trained.partner.pk).update(status=Partner.Status.SUSPENDED)
        trained.partner.refresh_from_db()

    with pytest.raises(ValidationError):
        complete(trained, basics)
    assert trainings(trained) == []


def test_the_training_counts_once_for_an_earning_rule_on_its_course_code(trained: World) -> None:
    basics = course(trained, "Basics", code="basics-101")
    other = course(trained, "Other", code="other")
    with tenant_context(trained.tenant):
        EarningRule.objects.create(
            name="Basics bonus",
            activity_kind=ActivityKind.TRAINING,
            code="basics-101",
            basis=EarningRule.Basis.PER_ACTIVITY,
            rate=Decimal(100),
            applies_tier_multiplier=False,
        )

    complete(trained, basics)
    complete(trained, basics)
    complete(trained, other)

    assert sorted(course_points(trained)) == [50, 50, 100]


def test_another_tenants_partner_cannot_complete_this_tenants_course(trained: World, globex: World) -> None:
    basics = course(trained, "Basics")
    with tenant_context(globex.tenant), pytest.raises(Course.DoesNotExist):
        course_complete(course_id=basics.pk, partner=globex.partner, user=globex.partner_user)
    assert trainings(trained) == []


def test_a_second_member_of_another_partner_cannot_be_credited(trained: World) -> None:
    """The ingestion path refuses a member who is not of the partner: the completion is not recorded either."""
    basics = course(trained, "Basics")
    stranger = MembershipFactory(tenant=trained.tenant, role="partner_user", partner=trained.unmanaged_partner).user

    with pytest.raises(ValidationError):
        complete(trained, basics, user=stranger, partner=trained.partner)
    with tenant_context(trained.tenant):
        assert not CourseCompletion.objects.exists()
