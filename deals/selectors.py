"""Reads of deal registrations: a partner's pipeline, the review queue, an account manager's partners' deals."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Case, Count, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone

from deals.models import DealConflict, DealEvent, DealRegistration, DealSettings
from loyalty.tenancy.models import User
from partners.models import Partner

Status = DealRegistration.Status
# The order a pipeline lists its columns in.
PIPELINE_ORDER = (
    Status.DRAFT,
    Status.SUBMITTED,
    Status.APPROVED,
    Status.WON,
    Status.LOST,
    Status.REJECTED,
    Status.EXPIRED,
)


def protection_days_left(*, deal: DealRegistration, today: date | None = None) -> int | None:
    """Whole days of protection left, today included as a day left (None when the registration is not protected)."""
    if deal.status != Status.APPROVED or deal.protected_until is None:
        return None
    return max(0, (deal.protected_until - (today or timezone.localdate())).days)


def deals_protection_ending(*, today: date) -> QuerySet[DealRegistration]:
    """Approved registrations whose protection ends within the program's reminder days from today (today included),
    with their partner: the daily run reminds each once per end date (an extension moves the date: a new reminder)."""
    program = DealSettings.objects.first()
    days = program.reminder_days if program else DealSettings._meta.get_field("reminder_days").default
    return DealRegistration.objects.filter(
        status=Status.APPROVED, protected_until__gte=today, protected_until__lte=today + timedelta(days=days)
    ).select_related("partner")


@dataclass(frozen=True)
class PipelineColumn:
    status: str
    label: str
    deals: list[DealRegistration]


def partner_deals(*, partner: Partner) -> QuerySet[DealRegistration]:
    """The partner's registrations, newest first, each with its number of conflicts."""
    return DealRegistration.objects.filter(partner=partner).annotate(conflict_count=Count("conflicts"))


def partner_pipeline(*, partner: Partner) -> list[PipelineColumn]:
    """The partner's registrations by status, in workflow order (one query)."""
    by_status: dict[str, list[DealRegistration]] = {status: [] for status in PIPELINE_ORDER}
    for deal in partner_deals(partner=partner).order_by("expected_close", "pk"):
        by_status[deal.status].append(deal)
    return [PipelineColumn(status, Status(status).label, deals) for status, deals in by_status.items()]


def deal_review_queue() -> QuerySet[DealRegistration]:
    """Submitted registrations, oldest first, with their partner and conflicts (for staff): three queries a page."""
    return (
        DealRegistration.objects.filter(status=Status.SUBMITTED)
        .select_related("partner")
        .annotate(conflict_count=Count("conflicts"))
        .prefetch_related(
            Prefetch(
                "conflicts", queryset=DealConflict.objects.select_related("other__partner").order_by("-score", "pk")
            )
        )
        .order_by("submitted_at", "pk")
    )


def account_manager_deals(*, user: User | None) -> QuerySet[DealRegistration]:
    """Registrations of the partners `user` manages (every partner's when None), open ones first, drafts left out."""
    deals = DealRegistration.objects.exclude(status=Status.DRAFT)
    if user is not None:
        deals = deals.filter(partner__account_manager=user)
    is_open = Case(When(status__in=[Status.SUBMITTED, Status.APPROVED], then=Value(0)), default=Value(1))
    return (
        deals.select_related("partner")
        .annotate(conflict_count=Count("conflicts"), closed_last=is_open)
        .order_by("closed_last", "expected_close", "pk")
    )


def deal_detail(*, deal_id: int, partner: Partner | None = None) -> DealRegistration:
    """One registration with its history and conflicts (DoesNotExist outside the tenant or the partner)."""
    deals = DealRegistration.objects.select_related("partner", "registered_by").prefetch_related(
        Prefetch("events", queryset=DealEvent.objects.select_related("actor")),
        Prefetch("conflicts", queryset=DealConflict.objects.select_related("other__partner").order_by("-score", "pk")),
    )
    if partner is not None:
        deals = deals.filter(partner=partner)
    return deals.get(pk=deal_id)


def deal_counterparts(*, deal: DealRegistration) -> QuerySet[DealConflict]:
    """Conflicts found later that point at this registration (it was the earlier one)."""
    return DealConflict.objects.filter(other=deal).select_related("deal__partner")


def deal_status_counts(*, partner: Partner) -> dict[str, int]:
    rows = DealRegistration.objects.filter(partner=partner).values_list("status").annotate(count=Count("pk"))
    return {status: count for status, count in rows.order_by()}


def deals_with_conflicts() -> QuerySet[DealRegistration]:
    return DealRegistration.objects.filter(Q(conflicts__isnull=False)).distinct()
