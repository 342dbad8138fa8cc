"""Writes of enablement: completing a course (once per member, recording one training activity), the profile."""

from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from enablement.models import Course, CourseCompletion, PartnerProfile
from enablement.selectors import course_for_partner
from loyalty.events import event_emit
from loyalty.tenancy.models import User
from partners.models import Activity, Partner


@dataclass(frozen=True)
class CourseOutcome:
    """What a submission came to: the completion (new or the earlier one), or a quiz score short of the pass mark."""

    completion: CourseCompletion | None
    created: bool
    score_percent: int | None

    @property
    def passed(self) -> bool:
        return self.completion is not None


def quiz_score(*, course: Course, answers: Mapping[str, object]) -> int | None:
    """The share of right answers in percent (None: the course has no quiz).

    `answers` maps "question-<id>" to the chosen choice's number (1 = first); every question needs one.
    """
    questions = list(course.questions.all())
    if not questions:
        return None
    errors, right = {}, 0
    for question in questions:
        name = f"question-{question.pk}"
        given = str(answers.get(name) or "").strip()
        if not given.isascii() or not given.isdigit() or not 1 <= int(given) <= len(question.choice_list):
            errors[name] = _("Choose one answer.")
        elif int(given) == question.correct_choice:
            right += 1
    if errors:
        raise ValidationError(errors)
    return right * 100 // len(questions)


@transaction.atomic
def course_complete(
    *, course_id: int, partner: Partner, user: User, answers: Mapping[str, object] | None = None
) -> CourseOutcome:
    """Complete a course the partner may take (passing its quiz, if it has one): once per member.

    The completion's row is unique per (course, member): a second submission — a double click, another tab at the
    same instant — waits for the first one's transaction, finds its row and records nothing. The first emits
    `course.completed`, whose handler records the training activity through ingestion (approved, earning points,
    re-scoring the partner) in this transaction; the completion links it.
    """
    if partner.status != Partner.Status.ACTIVE:
        raise ValidationError(_("Your company's membership of the program is not active."))
    course = course_for_partner(partner=partner, course_id=course_id)  # DoesNotExist: not open to this partner
    earlier = CourseCompletion.objects.filter(course=course, user=user).first()
    if earlier is not None:
        return CourseOutcome(earlier, created=False, score_percent=earlier.score_percent)
    score = quiz_score(course=course, answers=answers or {})
    if score is not None and score < course.pass_percent:
        return CourseOutcome(None, created=False, score_percent=score)
    try:
        with transaction.atomic():
            completion = CourseCompletion.objects.create(
                course=course, partner=partner, user=user, completed_at=timezone.now(), score_percent=score
            )
    except IntegrityError:
        # The same member completed it at the same instant (another tab): that submission recorded it.
        return CourseOutcome(CourseCompletion.objects.get(course=course, user=user), created=False, score_percent=score)
    event_emit("course.completed", completion=completion)
    completion.activity = Activity.objects.filter(
        source=Activity.Source.COURSE, external_id=completion.activity_external_id
    ).first()
    completion.save(update_fields=["activity"])
    return CourseOutcome(completion, created=True, score_percent=score)


@transaction.atomic
def partner_profile_save(*, partner: Partner, user: User, website: str, phone: str, description: str) -> PartnerProfile:
    """Create or update the partner's profile (one per partner); every field is required."""
    profile = PartnerProfile.objects.select_for_update().filter(partner=partner).first() or PartnerProfile(
        partner=partner
    )
    profile.website, profile.phone, profile.description = website.strip(), phone.strip(), description.strip()
    profile.updated_at, profile.updated_by = timezone.now(), user
    profile.full_clean()
    try:
        with transaction.atomic():
            profile.save()
    except IntegrityError:
        # Two first saves at once: the other one created the row; this one updates it.
        return partner_profile_save(partner=partner, user=user, website=website, phone=phone, description=description)
    return profile
