"""Reads of engagement: a member's announcements and open surveys; read counts, NPS and response rates for the
staff, in total and by tier and partner type (and region for announcements)."""

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from engagement.models import Announcement, AnnouncementDelivery, Survey, SurveyResponse
from loyalty.tenancy.caching import cached
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from partners.models import Partner

BANNER_LIMIT = 3
PROMOTER_MIN, PASSIVE_MIN = 9, 7  # 9–10 promoters, 7–8 passives, 0–6 detractors (the Net Promoter Score's bands)


def announcements_unread(*, user: User) -> QuerySet[AnnouncementDelivery]:
    """The member's published, unread announcements, newest first (the portal's banner)."""
    return (
        AnnouncementDelivery.objects.filter(user=user, read_at=None, announcement__status=Announcement.Status.PUBLISHED)
        .select_related("announcement")
        .order_by("-announcement__publish_at", "-pk")
    )


def announcements_banner_entry(*, user: User) -> tuple[str, str]:
    """The tenancy cache's name and family of the member's banner (for `prefetch`)."""
    return f"announcements-banner:{current_tenant().pk}:{user.pk}", "announcements"


def announcements_banner(*, user: User) -> list[AnnouncementDelivery]:
    """The first `BANNER_LIMIT` of `announcements_unread`, kept in the tenancy cache under the announcements'
    generation (any write of an announcement or a delivery replaces it: loyalty/tenancy/caching.py)."""
    tenant_id = current_tenant().pk
    name, family = announcements_banner_entry(user=user)
    banner = cached(name, lambda: list(announcements_unread(user=user)[:BANNER_LIMIT]), family=family)
    if any((delivery.tenant_id, delivery.user_id) != (tenant_id, user.pk) for delivery in banner):
        return list(announcements_unread(user=user)[:BANNER_LIMIT])  # never another member's, whatever is cached
    return banner


def announcements_received(*, user: User) -> QuerySet[AnnouncementDelivery]:
    return (
        AnnouncementDelivery.objects.filter(user=user, announcement__status=Announcement.Status.PUBLISHED)
        .select_related("announcement")
        .order_by("-announcement__publish_at", "-pk")
    )


def announcements_with_counts() -> QuerySet[Announcement]:
    """Every announcement, newest first, with how many members received and read it."""
    return Announcement.objects.annotate(
        delivered=Count("deliveries"), read=Count("deliveries", filter=Q(deliveries__read_at__isnull=False))
    ).order_by("-publish_at", "-pk")


@dataclass(frozen=True)
class ReadCount:
    label: str
    delivered: int
    read: int

    @property
    def percent(self) -> int | None:
        return round(self.read * 100 / self.delivered) if self.delivered else None


def announcement_read_counts(*, announcement: Announcement) -> dict[str, list[ReadCount]]:
    """Received and read, by tier, by partner type and by region (as they were when it was published)."""
    deliveries = AnnouncementDelivery.objects.filter(announcement=announcement)
    read = Count("pk", filter=Q(read_at__isnull=False))
    groups = {"tier": "tier__name", "partner_type": "partner_type__name", "region": "partner__region"}
    return {
        key: [
            ReadCount(label or "", total, done)
            for label, total, done in deliveries.values_list(column)
            .annotate(total=Count("pk"), done=read)
            .order_by(column)
            .values_list(column, "total", "done")
        ]
        for key, column in groups.items()
    }


@dataclass(frozen=True)
class Feedback:
    """NPS and response rate of a group of invitations."""

    label: str
    invited: int
    answered: int
    promoters: int
    detractors: int

    @property
    def nps(self) -> int | None:
        """% promoters − % detractors, −100 to 100; None without answers."""
        if not self.answered:
            return None
        return round((self.promoters - self.detractors) * 100 / self.answered)

    @property
    def response_rate(self) -> int | None:
        return round(self.answered * 100 / self.invited) if self.invited else None


FEEDBACK_FIGURES = {
    "invited": Count("pk"),
    "answered": Count("pk", filter=Q(answered_at__isnull=False)),
    "promoters": Count("pk", filter=Q(score__gte=PROMOTER_MIN)),
    "detractors": Count("pk", filter=Q(score__lt=PASSIVE_MIN)),
}


def _feedback(responses: QuerySet[SurveyResponse], column: str) -> list[Feedback]:
    rows = responses.values_list(column).annotate(**FEEDBACK_FIGURES).order_by(column)
    return [
        Feedback(row[column] or "", row["invited"], row["answered"], row["promoters"], row["detractors"])
        for row in rows.values(column, *FEEDBACK_FIGURES)
    ]


@dataclass(frozen=True)
class SurveyResults:
    survey: Survey
    period: str
    total: Feedback
    by_tier: list[Feedback]
    by_partner_type: list[Feedback]


def survey_periods(*, survey: Survey) -> list[str]:
    """The periods the survey was sent in, latest first."""
    periods = SurveyResponse.objects.filter(survey=survey).order_by().values_list("period", flat=True).distinct()
    return sorted(periods, reverse=True)


def survey_results(*, survey: Survey, period: str) -> SurveyResults:
    """NPS and response rate of one period of a survey, in total and by tier and partner type (three queries)."""
    responses = SurveyResponse.objects.filter(survey=survey, period=period)
    total = responses.aggregate(**FEEDBACK_FIGURES)
    return SurveyResults(
        survey=survey,
        period=period,
        total=Feedback("", **total),
        by_tier=_feedback(responses, "tier__name"),
        by_partner_type=_feedback(responses, "partner_type__name"),
    )


def feedback_latest() -> SurveyResults | None:
    """The results of the latest period of the survey sent most recently (the program dashboard), or None."""
    latest = SurveyResponse.objects.order_by("-invited_at", "-pk").select_related("survey").first()
    if latest is None:
        return None
    return survey_results(survey=latest.survey, period=latest.period)


def surveys_with_counts() -> QuerySet[Survey]:
    """Every survey, newest first, with its invitations and answers over all periods."""
    return Survey.objects.annotate(
        invited=Count("responses"), answered=Count("responses", filter=Q(responses__answered_at__isnull=False))
    ).order_by("-opens_at", "-pk")


def surveys_waiting(*, user: User) -> QuerySet[SurveyResponse]:
    """The member's unanswered invitations to open surveys, newest first."""
    return (
        SurveyResponse.objects.filter(user=user, answered_at=None, survey__is_open=True)
        .select_related("survey")
        .order_by("-invited_at", "-pk")
    )


def surveys_answered(*, user: User) -> QuerySet[SurveyResponse]:
    return (
        SurveyResponse.objects.filter(user=user, answered_at__isnull=False)
        .select_related("survey")
        .order_by("-answered_at", "-pk")
    )


def partner_feedback(*, partner: Partner) -> QuerySet[SurveyResponse]:
    """A partner's members' answers, newest first (its account manager's page)."""
    return (
        SurveyResponse.objects.filter(partner=partner, answered_at__isnull=False)
        .select_related("survey", "user")
        .order_by("-answered_at", "-pk")
    )
