"""Reads of partners for staff: participation, activity by month, notes, and who may see which partner.

The health of a portfolio (tier, flags, trend) is `tiers.selectors.partner_health_list`.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone

from loyalty.ledger.selectors import month_of
from loyalty.tenancy.models import PARTNER_ROLES, PROGRAM_ROLES, Membership, Role
from partners.models import Activity, Partner, PartnerNote

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
    active_partners: int  # distinct partners with an approved activity that occurred in the month
    new_activities: int  # activities recorded (created) in the month, whatever their status


def activity_by_month(*, start: datetime, end: datetime) -> dict[date, ActivityMonth]:
    """Per month (current time zone) of [start, end): active partners and new activities (two queries)."""
    active = dict(
        Activity.objects.filter(status=Activity.Status.APPROVED, occurred_at__gte=start, occurred_at__lt=end)
        .annotate(month=TruncMonth("occurred_at"))
        .values_list("month")
        .annotate(partners=Count("partner", distinct=True))
        .order_by()
    )
    created = dict(
        Activity.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(month=TruncMonth("created_at"))
        .values_list("month")
        .annotate(count=Count("pk"))
        .order_by()
    )
    active = {month_of(month): count for month, count in active.items()}
    created = {month_of(month): count for month, count in created.items()}
    return {month: ActivityMonth(active.get(month, 0), created.get(month, 0)) for month in sorted({*active, *created})}


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
