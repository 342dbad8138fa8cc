"""Reads of the enablement library (what a partner may open, what its next tier unlocks) and onboarding progress.

Gating is decided when read, from the partner's tier and type today: a downgrade hides gated items again at once.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import get_language

from deals.models import DealRegistration
from enablement.models import (
    Course,
    CourseCompletion,
    Onboarding,
    OnboardingStep,
    PartnerProfile,
    Resource,
    WelcomeText,
)
from loyalty.tenancy.caching import TENANCY, cached
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import PARTNER_ROLES, Invitation, Membership
from partners.models import Activity, ActivityKind, Partner
from tiers.models import PartnerTier
from tiers.selectors import tier_names_by_rank


@dataclass(frozen=True)
class Audience:
    """Whom the library is read for: the partner's type, its tier's rank (0: none yet) and the next tier's."""

    partner_type_id: int
    tier_rank: int
    next_rank: int | None
    next_tier_name: str


def partner_audience(*, partner: Partner) -> Audience:
    """The partner's place for gating: two queries (its tier state, the program's tier names)."""
    state = PartnerTier.objects.filter(partner=partner).select_related("tier").first()
    rank = state.tier.rank if state else 0
    names = tier_names_by_rank()
    next_rank = min((known for known in names if known > rank), default=None)
    return Audience(partner.partner_type_id, rank, next_rank, names.get(next_rank, "") if next_rank else "")


def _for_type(items: QuerySet, *, partner_type_id: int) -> QuerySet:
    """Items open to every type (none chosen) or naming this one."""
    through = items.model.partner_types.through
    owner = f"{items.model._meta.model_name}_id"
    chosen = through.objects.filter(**{owner: OuterRef("pk")})
    return items.filter(~Exists(chosen) | Exists(chosen.filter(partnertype_id=partner_type_id)))


def _up_to_rank(items: QuerySet, rank: int) -> QuerySet:
    return items.filter(Q(minimum_tier_rank__isnull=True) | Q(minimum_tier_rank__lte=rank))


def resources_open(*, audience: Audience) -> QuerySet[Resource]:
    """The published resources this audience may open."""
    published = _for_type(Resource.objects.filter(is_published=True), partner_type_id=audience.partner_type_id)
    return _up_to_rank(published, audience.tier_rank)


def courses_open(*, audience: Audience) -> QuerySet[Course]:
    """The published courses this audience may take."""
    published = _for_type(Course.objects.filter(is_published=True), partner_type_id=audience.partner_type_id)
    return _up_to_rank(published, audience.tier_rank)


@dataclass(frozen=True)
class CourseRow:
    course: Course
    completion: CourseCompletion | None


@dataclass(frozen=True)
class Library:
    """What a member sees: open resources and courses, and (greyed) what the next tier unlocks."""

    audience: Audience
    resources: list[Resource]
    courses: list[CourseRow]
    next_resources: list[Resource]
    next_courses: list[Course]

    @property
    def is_empty(self) -> bool:
        return not (self.resources or self.courses or self.next_resources or self.next_courses)


def library_get(*, partner: Partner, user_id: int) -> Library:
    """The partner's library and the member's completions, in five queries whatever its size."""
    audience = partner_audience(partner=partner)
    reach = audience.next_rank or audience.tier_rank  # the next tier's items are read with the open ones
    resources = list(
        _up_to_rank(
            _for_type(Resource.objects.filter(is_published=True), partner_type_id=audience.partner_type_id), reach
        )
    )
    courses = list(
        _up_to_rank(
            _for_type(Course.objects.filter(is_published=True), partner_type_id=audience.partner_type_id), reach
        )
    )
    completions = {
        completion.course_id: completion
        for completion in CourseCompletion.objects.filter(user_id=user_id, course__in=[c.pk for c in courses])
    }

    def is_open(item: Resource | Course) -> bool:
        return item.minimum_tier_rank is None or item.minimum_tier_rank <= audience.tier_rank

    return Library(
        audience=audience,
        resources=[item for item in resources if is_open(item)],
        courses=[CourseRow(item, completions.get(item.pk)) for item in courses if is_open(item)],
        next_resources=[item for item in resources if not is_open(item)],
        next_courses=[item for item in courses if not is_open(item)],
    )


def resource_for_member(*, membership: Membership, resource_id: int) -> Resource:
    """A resource the member may open: program staff any (to check it), a partner member only if entitled.

    Raises Resource.DoesNotExist otherwise, so the face answers 404 and never confirms what a tier hides.
    """
    if membership.is_program_staff:
        return Resource.objects.get(pk=resource_id)
    if membership.partner_id is None:
        raise Resource.DoesNotExist
    return resources_open(audience=partner_audience(partner=membership.partner)).get(pk=resource_id)


def course_for_partner(*, partner: Partner, course_id: int) -> Course:
    """A course the partner may take, with its questions; raises Course.DoesNotExist otherwise."""
    return courses_open(audience=partner_audience(partner=partner)).prefetch_related("questions").get(pk=course_id)


def course_completion_get(*, course: Course, user_id: int) -> CourseCompletion | None:
    return CourseCompletion.objects.filter(course=course, user_id=user_id).select_related("activity").first()


# --- Onboarding ----------------------------------------------------------------------------------------------------


def onboarding_entry() -> tuple[str, str]:
    """The tenancy cache's name and family of the program's checklist settings (for `prefetch`)."""
    return f"onboarding:{current_tenant().pk}", TENANCY


def onboarding_get() -> Onboarding | None:
    """The program's checklist settings (None until staff set it up in the admin), from the tenancy cache."""
    tenant = current_tenant()
    onboarding = cached(onboarding_entry()[0], lambda: Onboarding.objects.first())
    if onboarding is not None and onboarding.tenant_id != tenant.pk:  # never another program's, whatever was cached
        onboarding = Onboarding.objects.first()
    return onboarding


def _partners_done(*, step: str, partner_ids: QuerySet | Iterable[int]) -> set[int]:
    """Which of these partners have done the step: one query (two for the invitation step)."""
    if step == OnboardingStep.PROFILE:
        done = PartnerProfile.objects.filter(partner_id__in=partner_ids).values_list("partner_id", flat=True)
    elif step == OnboardingStep.INVITE:
        invited = set(
            Invitation.objects.filter(partner_id__in=partner_ids, revoked_at__isnull=True).values_list(
                "partner_id", flat=True
            )
        )
        # A colleague who joined some other way (staff added them) counts too.
        teams = (
            Membership.objects.filter(partner_id__in=partner_ids, is_active=True, role__in=sorted(PARTNER_ROLES))
            .values("partner_id")
            .annotate(members=Count("pk"))
            .filter(members__gte=2)
            .values_list("partner_id", flat=True)
        )
        return invited | set(teams)
    elif step == OnboardingStep.TRAINING:
        done = Activity.objects.filter(
            partner_id__in=partner_ids, kind=ActivityKind.TRAINING, status=Activity.Status.APPROVED
        ).values_list("partner_id", flat=True)
    else:
        done = (
            DealRegistration.objects.filter(partner_id__in=partner_ids)
            .exclude(status=DealRegistration.Status.DRAFT)
            .values_list("partner_id", flat=True)
        )
    return set(done.distinct())


@dataclass(frozen=True)
class StepState:
    step: str
    label: str
    is_done: bool


@dataclass(frozen=True)
class Checklist:
    welcome: str
    steps: list[StepState]

    @property
    def done_count(self) -> int:
        return sum(state.is_done for state in self.steps)


def _welcome(onboarding: Onboarding, language: str) -> str:
    texts = {text.language: text.text for text in WelcomeText.objects.filter(onboarding=onboarding)}
    return texts.get(language) or texts.get(current_tenant().language) or next(iter(texts.values()), "")


def _is_new(partner: Partner, onboarding: Onboarding) -> bool:
    return partner.joined_at >= timezone.localdate() - timedelta(days=onboarding.window_days)


def partner_checklist(*, partner: Partner) -> Checklist | None:
    """The partner's onboarding checklist while it is new and not done (None: nothing to show)."""
    onboarding = onboarding_get()
    steps = [step for step in (onboarding.steps if onboarding else []) if step in OnboardingStep.values]
    if not onboarding or not onboarding.is_active or not steps or not _is_new(partner, onboarding):
        return None
    states = [
        StepState(step, OnboardingStep(step).label, partner.pk in _partners_done(step=step, partner_ids=[partner.pk]))
        for step in steps
    ]
    if all(state.is_done for state in states):
        return None
    return Checklist(welcome=_welcome(onboarding, get_language() or ""), steps=states)


@dataclass(frozen=True)
class StepRate:
    step: str
    label: str
    done: int


@dataclass(frozen=True)
class OnboardingRate:
    """How far the program's new partners are through the checklist."""

    partners: int
    completed: int
    steps: list[StepRate] = field(default_factory=list)
    window_days: int = 0

    @property
    def percent(self) -> int:
        return round(self.completed * 100 / self.partners) if self.partners else 0


def onboarding_rate() -> OnboardingRate | None:
    """New active partners (joined within the window) and how many did each step and all of them.

    A query per step plus one for the partners, whatever their number; None when no checklist is set up.
    """
    onboarding = onboarding_get()
    steps = [step for step in (onboarding.steps if onboarding else []) if step in OnboardingStep.values]
    if not onboarding or not steps:
        return None
    since = timezone.localdate() - timedelta(days=onboarding.window_days)
    new_partners = Partner.objects.filter(status=Partner.Status.ACTIVE, joined_at__gte=since).values("pk")
    cohort = {row["pk"] for row in new_partners}
    done = {step: _partners_done(step=step, partner_ids=new_partners) & cohort for step in steps}
    completed = set.intersection(*done.values()) if cohort else set()
    return OnboardingRate(
        partners=len(cohort),
        completed=len(completed),
        steps=[StepRate(step, OnboardingStep(step).label, len(done[step])) for step in steps],
        window_days=onboarding.window_days,
    )
