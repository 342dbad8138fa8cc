"""Writes of badges: awarding, once per badge and partner, by the nightly run or by the service that triggers it.

Set-based: per active badge, one query finds who meets it and one `INSERT … ON CONFLICT DO NOTHING` records the new
awards (the unique constraint makes a re-run, a redelivered task or a trigger racing the nightly run award nothing
twice). Bonus points go through the ledger's `points_post_many`, keyed by badge and partner: a credit can never be
posted twice either, even if its award were written by another path.
"""

from collections.abc import Sequence
from datetime import date

from django.db import transaction
from django.utils import timezone

from badges.models import Badge, BadgeAward
from badges.selectors import badge_qualifiers
from badges.wording import badge_bonus_memo
from deals.models import DealRegistration
from loyalty.bulk import columns_insert_new
from loyalty.ledger.models import EntryKind, PointsAccount
from loyalty.ledger.services import Credit, points_account_for, points_post_many
from loyalty.tenancy.caching import generation_bump
from loyalty.tenancy.context import current_tenant
from partners.models import Partner
from tiers.models import TierChange


def bonus_idempotency_key(*, badge_id: int, partner_id: int) -> str:
    return f"badge:{badge_id}:partner:{partner_id}"


@transaction.atomic
def badges_award(
    *, partner_ids: list[int] | None = None, rules: Sequence[str] | None = None, today: date | None = None
) -> list[BadgeAward]:
    """Award the active badges (of `rules`, when given) to the partners (all active ones, or `partner_ids`) who meet
    them and do not hold them yet; credit each award's bonus points. Returns the awards written now."""
    today = today or timezone.localdate()
    now = timezone.now()
    badges = Badge.objects.filter(is_active=True).order_by("pk")
    if rules is not None:
        badges = badges.filter(rule__in=rules)
    written: list[BadgeAward] = []
    credits: list[tuple[Badge, int]] = []
    tenant_id = current_tenant().pk
    for badge in badges:
        qualifiers = sorted(badge_qualifiers(badge=badge, partner_ids=partner_ids, today=today))
        if not qualifiers:
            continue
        inserted = columns_insert_new(
            BadgeAward,
            {
                "tenant_id": [tenant_id] * len(qualifiers),
                "badge_id": [badge.pk] * len(qualifiers),
                "partner_id": qualifiers,
                "awarded_at": [now] * len(qualifiers),
            },
            key="partner",
        )
        written += [
            BadgeAward(pk=award_id, tenant_id=tenant_id, badge=badge, partner_id=partner_id, awarded_at=now)
            for partner_id, award_id in inserted.items()
        ]
        if badge.bonus_points:
            credits += [(badge, partner_id) for partner_id in inserted]
    if written:  # inserted in SQL, past the models' own bumps: the partners' cached badges are stale now
        generation_bump(family=Badge.cache_family)
    if credits:
        _bonus_credit(credits)
    return written


def _bonus_credit(credits: list[tuple[Badge, int]]) -> None:
    partner_ids = sorted({partner_id for _badge, partner_id in credits})
    accounts = dict(PointsAccount.objects.filter(partner_id__in=partner_ids).values_list("partner_id", "pk"))
    # A partner that never earned: its account opens with the bonus.
    for partner in Partner.objects.filter(pk__in=[pk for pk in partner_ids if pk not in accounts]).order_by("pk"):
        accounts[partner.pk] = points_account_for(partner=partner).pk
    points_post_many(
        credits=[
            Credit(
                account_id=accounts[partner_id],
                kind=EntryKind.EARN,
                points=badge.bonus_points,
                idempotency_key=bonus_idempotency_key(badge_id=badge.pk, partner_id=partner_id),
                memo=badge_bonus_memo(badge=badge),
            )
            for badge, partner_id in credits
        ]
    )


# --- Triggers: the domain's events (settings.TIERLINE_EVENT_HANDLERS), inside the emitting transaction ----------


def tier_changes_award(*, changes: Sequence[TierChange]) -> None:
    """A tier move may be a partner's first (or n-th) upgrade: award at once rather than the next night."""
    partner_ids = sorted({change.partner_id for change in changes if change.from_tier_id is not None})
    if partner_ids:
        badges_award(partner_ids=partner_ids, rules=[Badge.Rule.TIER_UPGRADES])


def deal_status_award(*, deal: DealRegistration, from_status: str, to_status: str, reason: str) -> None:
    """A won deal may be the partner's first: award at once."""
    if to_status == DealRegistration.Status.WON:
        badges_award(partner_ids=[deal.partner_id], rules=[Badge.Rule.DEALS_WON])
