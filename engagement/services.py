"""Writes of engagement: announcements written, scheduled, published (once per member) and read; surveys created,
sent once per period and answered once per member."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from engagement.models import Announcement, AnnouncementDelivery, Survey, SurveyResponse, Targeted
from loyalty.events import event_emit
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import PARTNER_ROLES, Membership, User
from loyalty.tenancy.tasks import enqueue_on_commit
from partners.models import Partner, PartnerType
from tiers.models import Tier

PUBLISH_TASK = "engagement.publish_due"


@dataclass(frozen=True)
class Audience:
    """Whom a message is for: every list empty means everyone; otherwise a partner must match each given list."""

    tiers: Sequence[Tier] = ()
    partner_types: Sequence[PartnerType] = ()
    regions: Sequence[str] = ()


@dataclass(frozen=True)
class Recipient:
    user_id: int
    partner_id: int
    tier_id: int | None
    partner_type_id: int


def audience_members(*, targeted: Targeted) -> list[Recipient]:
    """The active members of the active partners in the audience, with their partner's tier and type, in one query."""
    members = Membership.objects.filter(
        is_active=True, role__in=sorted(PARTNER_ROLES), partner__status=Partner.Status.ACTIVE
    )
    tier_ids = [tier.pk for tier in targeted.tiers.all()]
    type_ids = [partner_type.pk for partner_type in targeted.partner_types.all()]
    if tier_ids:
        members = members.filter(partner__tier_states__tier_id__in=tier_ids)
    if type_ids:
        members = members.filter(partner__partner_type_id__in=type_ids)
    if targeted.regions:
        members = members.filter(partner__region__in=targeted.regions)
    rows = members.values_list("user_id", "partner_id", "partner__tier_states__tier_id", "partner__partner_type_id")
    return [Recipient(*row) for row in rows.order_by("user_id").distinct()]


def _targeted_create(targeted: Targeted, *, audience: Audience, due_at: datetime) -> Targeted:
    """Save a new announcement or survey with its audience, and publish it at once when it is due now. A form key
    already used returns the first row instead (a double submit, even two at once)."""
    model = type(targeted)
    existing = model.objects.filter(form_key=targeted.form_key).first() if targeted.form_key else None
    if existing is not None:
        return existing
    targeted.regions = list(audience.regions)
    targeted.full_clean()
    try:
        with transaction.atomic():
            targeted.save()
    except IntegrityError:  # a concurrent submit of the same form key got there first
        return model.objects.get(form_key=targeted.form_key)
    targeted.tiers.set(audience.tiers)
    targeted.partner_types.set(audience.partner_types)
    if due_at <= timezone.now():
        # Due now: out right after the commit; later ones wait for the beat (every five minutes).
        enqueue_on_commit(PUBLISH_TASK)
    return targeted


# --- Announcements ---------------------------------------------------------------------------------------------


@transaction.atomic
def announcement_create(
    *, texts: dict, link: str, audience: Audience, publish_at: datetime, actor: User, form_key: UUID | None = None
) -> Announcement:
    """Schedule an announcement (texts by language code: {"en": {"title", "body"}}); due now, it goes out at once.
    A second call with the same form key returns the first announcement (a double submit)."""
    announcement = Announcement(texts=texts, link=link, publish_at=publish_at, created_by=actor, form_key=form_key)
    return _targeted_create(announcement, audience=audience, due_at=publish_at)


def announcement_cancel(*, announcement: Announcement) -> bool:
    """Cancel a scheduled announcement; False when it was already published or cancelled (nothing changes)."""
    return bool(
        Announcement.objects.filter(pk=announcement.pk, status=Announcement.Status.SCHEDULED).update(
            status=Announcement.Status.CANCELLED
        )
    )


def _deliveries_create(announcement: Announcement, recipients: Iterable[Recipient]) -> list[int]:
    """Deliver to each recipient not delivered to yet; the partners of the new deliveries."""
    delivered = set(AnnouncementDelivery.objects.filter(announcement=announcement).values_list("user_id", flat=True))
    now, tenant = timezone.now(), current_tenant()
    rows = [
        AnnouncementDelivery(
            tenant=tenant,
            announcement=announcement,
            user_id=recipient.user_id,
            partner_id=recipient.partner_id,
            tier_id=recipient.tier_id,
            partner_type_id=recipient.partner_type_id,
            delivered_at=now,
        )
        for recipient in recipients
        if recipient.user_id not in delivered
    ]
    AnnouncementDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return sorted({row.partner_id for row in rows})


def announcements_publish_due(*, now: datetime | None = None) -> int:
    """Publish every scheduled announcement whose time has come: each once, even when two runs overlap (rows are
    claimed under a lock that skips what another run holds) or a run is repeated (deliveries are unique)."""
    now = now or timezone.now()
    published = 0
    while True:
        with transaction.atomic():
            announcement = (
                Announcement.objects.select_for_update(skip_locked=True)
                .filter(status=Announcement.Status.SCHEDULED, publish_at__lte=now)
                .order_by("publish_at", "pk")
                .first()
            )
            if announcement is None:
                return published
            partner_ids = _deliveries_create(announcement, audience_members(targeted=announcement))
            announcement.status, announcement.published_at = Announcement.Status.PUBLISHED, timezone.now()
            announcement.save(update_fields=["status", "published_at"])
            event_emit("announcement.published", announcement=announcement, partner_ids=partner_ids)
            published += 1


def announcement_read(*, announcement_id: int, user: User) -> bool:
    """Mark the member's copy read (opened or dismissed); False when it was read already or is not theirs."""
    return bool(
        AnnouncementDelivery.objects.filter(announcement_id=announcement_id, user=user, read_at=None).update(
            read_at=timezone.now()
        )
    )


# --- Surveys ---------------------------------------------------------------------------------------------------


@transaction.atomic
def survey_create(
    *, texts: dict, cadence: str, audience: Audience, opens_at: datetime, actor: User, form_key: UUID | None = None
) -> Survey:
    """Open a survey (texts by language code: {"en": {"title", "questions": [...]}}); sent from `opens_at`, once
    per period of its cadence. A second call with the same form key returns the first survey."""
    survey = Survey(texts=texts, cadence=cadence, opens_at=opens_at, created_by=actor, form_key=form_key)
    return _targeted_create(survey, audience=audience, due_at=opens_at)


def survey_close(*, survey: Survey) -> bool:
    """Stop sending and answering; False when it was closed already."""
    return bool(Survey.objects.filter(pk=survey.pk, is_open=True).update(is_open=False))


def surveys_send_due(*, now: datetime | None = None) -> int:
    """Invite the audience of every open survey for the current period, each member once per period; members who
    joined the audience since are invited on the next run. Returns the number of invitations made."""
    now = now or timezone.now()
    period_day = timezone.localdate(now)
    invited = 0
    surveys = Survey.objects.filter(is_open=True, opens_at__lte=now).prefetch_related("tiers", "partner_types")
    for survey in surveys.order_by("pk"):
        with transaction.atomic():
            period = survey.period_of(period_day)
            done = set(SurveyResponse.objects.filter(survey=survey, period=period).values_list("user_id", flat=True))
            tenant = current_tenant()
            rows = [
                SurveyResponse(
                    tenant=tenant,
                    survey=survey,
                    period=period,
                    user_id=recipient.user_id,
                    partner_id=recipient.partner_id,
                    tier_id=recipient.tier_id,
                    partner_type_id=recipient.partner_type_id,
                    invited_at=now,
                )
                for recipient in audience_members(targeted=survey)
                if recipient.user_id not in done
            ]
            if not rows:
                continue
            SurveyResponse.objects.bulk_create(rows, ignore_conflicts=True)
            partner_ids = sorted({row.partner_id for row in rows})
            event_emit("survey.sent", survey=survey, period=period, partner_ids=partner_ids)
            invited += len(rows)
    return invited


def survey_answer(*, response: SurveyResponse, score: int, comment: str, answers: list[str]) -> bool:
    """Record the member's answer once: False (nothing written) when it was answered already or the survey closed,
    so a double submit or a second tab keeps the first answer.

    The write is one conditional UPDATE on the row alone (`answered_at IS NULL`), which PostgreSQL re-checks after
    waiting for a concurrent answer's lock. A condition through a join (the survey being open) would make Django
    write `pk IN (subquery)`, whose result is not re-checked, and let simultaneous submits all succeed.
    """
    if not Survey.objects.filter(pk=response.survey_id, is_open=True).exists():
        return False
    return bool(
        SurveyResponse.objects.filter(pk=response.pk, user_id=response.user_id, answered_at=None).update(
            score=score, comment=comment, answers=answers, answered_at=timezone.now()
        )
    )
