"""Reads of partners for staff: participation, activity by month, notes, and who may see which partner.

The health of a portfolio (tier, flags, trend) is `tiers.selectors.partner_health_list`.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core import signing
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext

from loyalty.ledger.selectors import month_of
from loyalty.tenancy.models import PARTNER_ROLES, PROGRAM_ROLES, Membership, Role
from partners.applications import company_name_key
from partners.models import Activity, Claim, Partner, PartnerApplication, PartnerNote

PARTICIPATION_DAYS = 90


@dataclass(frozen=True)
class Participation:
    enrolled: int  # active partners
    participating: int  # of them, with an approved activity in the last PARTICIPATION_DAYS

    @property
    def rate(self) -> Decimal | None:
        """Participating ÷ enrolled as a percentage with one decimal; None with nobody enrolled."""
        if not self.enrolled:
            return None
        return (Decimal(self.participating) * 100 / self.enrolled).quantize(Decimal("0.1"))


def program_participation(*, days: int = PARTICIPATION_DAYS) -> Participation:
    """Active partners and how many of them had an approved activity in the last `days` days (one query)."""
    recent = Activity.objects.filter(
        partner=OuterRef("pk"), status=Activity.Status.APPROVED, occurred_at__gte=timezone.now() - timedelta(days=days)
    )
    totals = Partner.objects.filter(status=Partner.Status.ACTIVE).aggregate(
        enrolled=Count("pk"), participating=Count("pk", filter=Q(Exists(recent)))
    )
    return Participation(enrolled=totals["enrolled"], participating=totals["participating"])


@dataclass(frozen=True)
class ActivityMonth:
    active_partners: int  # partners with an approved activity that occurred in the month
    activities: int  # approved activities that occurred in the month (the same date as the partners and points)


def activity_by_month(*, start: datetime, end: datetime) -> dict[date, ActivityMonth]:
    """Per month (current time zone) of [start, end) by the date activities occurred: active partners and approved
    activities (one query). Both charts of the program dashboard count the same date, as its points chart
    (entries' `effective_at`, which is the activity's date) does."""
    rows = (
        Activity.objects.filter(status=Activity.Status.APPROVED, occurred_at__gte=start, occurred_at__lt=end)
        .annotate(month=TruncMonth("occurred_at"))
        .values_list("month")
        .annotate(partners=Count("partner", distinct=True), activities=Count("pk"))
        .order_by()
    )
    return {month_of(month): ActivityMonth(partners, activities) for month, partners, activities in rows}


def partner_notes(*, partner: Partner, limit: int = 50) -> list[PartnerNote]:
    """Staff notes about the partner, newest first."""
    return list(
        PartnerNote.objects.filter(partner=partner).select_related("author").order_by("-created_at", "-pk")[:limit]
    )


def partner_recent_activities(*, partner: Partner, limit: int = 10) -> list[Activity]:
    """The partner's latest activities in any status, newest first."""
    return list(Activity.objects.filter(partner=partner).order_by("-occurred_at", "-pk")[:limit])


def partners_visible_to(membership: Membership) -> QuerySet[Partner]:
    """The current tenant's partners this member may see."""
    partners = Partner.objects.all()
    if membership.role in PROGRAM_ROLES:
        return partners
    if membership.role == Role.ACCOUNT_MANAGER:
        return partners.filter(account_manager_id=membership.user_id)
    if membership.role in PARTNER_ROLES:
        return partners.filter(pk=membership.partner_id)
    return partners.none()


def can_manage_partner_team(membership: Membership, partner: Partner) -> bool:
    """Program staff manage every team; a partner admin manages their own partner's."""
    if membership.role in PROGRAM_ROLES:
        return True
    return membership.role == Role.PARTNER_ADMIN and membership.partner_id == partner.pk


APPLICATION_TOKEN_SALT = "tierline.partner-application"  # noqa: S105 - a signing namespace, not a secret
APPLICATION_TOKEN_MAX_AGE = 3 * 24 * 3600


def application_token(*, application: PartnerApplication) -> str:
    """A signed link token naming the application and the address it confirms."""
    return signing.dumps({"a": application.pk, "e": application.contact_email}, salt=APPLICATION_TOKEN_SALT)


def application_from_token(*, token: str) -> PartnerApplication | None:
    """The current tenant's application a token names, if the token is genuine, fresh and for its address."""
    try:
        data = signing.loads(token, salt=APPLICATION_TOKEN_SALT, max_age=APPLICATION_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    return PartnerApplication.objects.filter(pk=data.get("a"), contact_email=data.get("e")).first()


@dataclass(frozen=True)
class LookAlike:
    """An existing partner or another application that may be the same company, and why it was matched."""

    name: str
    reason: str
    partner: Partner | None = None
    application: PartnerApplication | None = None


def application_look_alikes(*, application: PartnerApplication) -> list[LookAlike]:
    """Partners and other applications with the same name (legal suffix aside) or the same domain.

    A partner's domain is the email domain of its members (partners have no website of their own). The names
    are compared in Python, after normalising, over one query of names; three queries whatever the program's size.
    """
    key = company_name_key(application.company_name)
    found: dict[int, LookAlike] = {}
    for partner in Partner.objects.only("pk", "name").iterator():
        if company_name_key(partner.name) == key:
            found[partner.pk] = LookAlike(name=partner.name, reason=gettext("same company name"), partner=partner)
    members = Membership.objects.filter(
        user__email__iendswith=f"@{application.domain}", partner__isnull=False, is_active=True
    ).select_related("partner")
    for membership in members:
        found.setdefault(
            membership.partner_id,
            LookAlike(
                name=membership.partner.name,
                reason=gettext("a member signs in from %(domain)s") % {"domain": application.domain},
                partner=membership.partner,
            ),
        )
    others = [
        LookAlike(
            name=other.company_name,
            reason=gettext("earlier application (%(status)s)") % {"status": other.get_status_display()},
            application=other,
        )
        for other in PartnerApplication.objects.exclude(pk=application.pk)
        .exclude(status=PartnerApplication.Status.UNVERIFIED)
        .filter(Q(domain=application.domain) | Q(company_name__iexact=application.company_name))
    ]
    return list(found.values()) + others


def claims_waiting() -> QuerySet[Claim]:
    """Claims waiting for a reviewer, oldest first (the queue's order)."""
    return Claim.objects.filter(status=Claim.Status.PENDING).order_by("submitted_at", "pk")


def applications_waiting() -> QuerySet[PartnerApplication]:
    """Confirmed applications waiting for a decision, oldest first (the queue's order)."""
    return (
        PartnerApplication.objects.filter(status=PartnerApplication.Status.PENDING)
        .select_related("partner_type")
        .order_by("submitted_at", "pk")
    )
