"""Reward test helpers: rewards, points to spend, tiers to qualify, snapshots of what a refusal must not write."""

from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone

from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.services import points_account_for, points_post
from loyalty.tenancy.models import User
from partners.models import Partner
from rewards.models import GiftCode, Redemption, RedemptionEvent, Reward
from rewards.services import codes_load, reward_redeem
from tests.factories import TenantOwnedFactory
from tests.ledger.factories import ledger_snapshot
from tests.tiers.factories import revenue_program
from tiers.models import PartnerTier, TierModel


class RewardFactory(TenantOwnedFactory):
    """An active, unlimited, manually fulfilled gift card of 100 points that anyone may redeem at once (nothing to
    ship, no options to pick)."""

    class Meta:
        model = Reward

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Reward {n}")
    kind = Reward.Kind.GIFT_CARD
    points_cost = 100


def code_pool_reward(codes: list[str], **fields: Any) -> Reward:
    """A gift-card reward whose pool holds `codes` (its stock is their number); call inside the tenant context."""
    reward = RewardFactory(kind=Reward.Kind.GIFT_CARD, fulfilment=Reward.Fulfilment.CODE_POOL, **fields)
    codes_load(reward=reward, codes=codes)
    reward.refresh_from_db()
    return reward


def give_points(partner: Partner, points: int, key: str, *, days_ago: int = 0) -> LedgerEntry:
    """Credit `points` as one earn entry (one lot); call inside the partner's tenant context."""
    return points_post(
        account=points_account_for(partner=partner),
        kind=EntryKind.EARN,
        points=points,
        idempotency_key=key,
        effective_at=timezone.now() - timedelta(days=days_ago),
    )


def put_at_tier(partner: Partner, rank: int) -> PartnerTier:
    """Make the partner's current tier the one of `rank` (1 = Registered … 4 = Platinum) in a fresh tier model."""
    program = revenue_program(version=TierModel.objects.count() + 1)
    tier = next(tier for tier in program.tiers.values() if tier.rank == rank)
    return PartnerTier.objects.create(partner=partner, tier=tier, since=timezone.localdate())


def redeem(partner: Partner, user: User, reward: Reward, key: str, quantity: int = 1) -> Redemption:
    return reward_redeem(partner=partner, requested_by=user, reward=reward, quantity=quantity, idempotency_key=key)


def rewards_snapshot() -> dict[str, Any]:
    """Everything rewards and the ledger hold for the current tenant, to assert that a refused call wrote nothing."""
    return {
        **ledger_snapshot(),
        "redemptions": list(Redemption.objects.order_by("pk").values_list("pk", "status", "points", "credit_note")),
        "events": list(RedemptionEvent.objects.order_by("pk").values_list("pk", "redemption_id", "to_status")),
        "stock": list(Reward.objects.order_by("pk").values_list("pk", "stock")),
        "codes": list(GiftCode.objects.order_by("pk").values_list("pk", "redemption_id")),
    }


def events_of(redemption: Redemption) -> list[tuple[str, str, int | None, str]]:
    """(from, to, actor id, reason) of each move of the redemption, in order."""
    return list(redemption.events.values_list("from_status", "to_status", "actor_id", "reason"))


# --- Real concurrency (PostgreSQL) -----------------------------------------------------------------------------
