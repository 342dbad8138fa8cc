"""Reads of badges: who meets each rule (set-based), and a partner's badges as the portal shows them."""

from dataclasses import dataclass
from datetime import date, datetime

from dateutil.relativedelta import relativedelta
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery

from badges.models import Badge, BadgeAward
from badges.wording import badge_name
from deals.models import DealRegistration
from loyalty.tenancy.caching import cached
from partners.models import Activity, ActivityKind, Partner
from tiers.models import TierChange


def _counted(rows: QuerySet, threshold: int) -> set[int]:
    return set(
        rows.values("partner_id")
        .annotate(count=Count("pk"))
        .filter(count__gte=threshold)
        .values_list("partner_id", flat=True)
    )


def badge_qualifiers(*, badge: Badge, partner_ids: list[int] | None, today: date) -> set[int]:
    """The active partners (of `partner_ids`, when given) who meet the badge's rule today: one query."""
    partners = Partner.objects.filter(status=Partner.Status.ACTIVE)
    if partner_ids is not None:
        partners = partners.filter(pk__in=partner_ids)
    threshold = badge.threshold
    if badge.rule == Badge.Rule.MONTHS_IN_PROGRAM:
        joined_by = today - relativedelta(months=threshold)
        return set(partners.filter(joined_at__lte=joined_by).values_list("pk", flat=True))
    if badge.rule == Badge.Rule.DEALS_WON:
        rows = DealRegistration.objects.filter(status=DealRegistration.Status.WON, partner__in=partners)
        return _counted(rows, threshold)
    if badge.rule == Badge.Rule.CERTIFICATIONS:
        rows = (
            Activity.objects.filter(
                kind=ActivityKind.CERTIFICATION, status=Activity.Status.APPROVED, partner__in=partners
            )
            .exclude(code="")
            .values("partner_id")
            .annotate(count=Count("code", distinct=True))
            .filter(count__gte=threshold)
        )
        return set(rows.values_list("partner_id", flat=True))
    # A tier upgrade: a move to a higher rank (a first tier, from none, is not an upgrade).
    rows = TierChange.objects.filter(
        from_tier__isnull=False, to_tier__rank__gt=F("from_tier__rank"), partner__in=partners
    )
    return _counted(rows, threshold)


@dataclass(frozen=True)
class PartnerBadge:
    badge: Badge
    awarded_at: datetime | None  # None: not earned yet

    @property
    def is_earned(self) -> bool:
        return self.awarded_at is not None

    @property
    def name(self) -> str:
        return badge_name(badge=self.badge)


def partner_badges(*, partner: Partner) -> list[PartnerBadge]:
    """The program's active badges and any the partner earned before one was switched off, earned first: one query,
    kept in the tenancy cache under the badges' generation (any write of a badge or an award replaces it)."""
    rows = cached(f"partner-badges:{partner.tenant_id}:{partner.pk}", lambda: _partner_badges(partner), family="badges")
    if any(row.badge.tenant_id != partner.tenant_id for row in rows):
        return _partner_badges(partner)  # never another tenant's badges, whatever the cache holds
    return rows


def _partner_badges(partner: Partner) -> list[PartnerBadge]:
    awarded = BadgeAward.objects.filter(badge=OuterRef("pk"), partner=partner)
    badges = (
        Badge.objects.filter(Q(is_active=True) | Exists(awarded))
        .annotate(awarded_at=Subquery(awarded.values("awarded_at")[:1]))
        .order_by("position", "pk")
    )
    rows = [PartnerBadge(badge, badge.awarded_at) for badge in badges]
    return sorted(rows, key=lambda row: not row.is_earned)
