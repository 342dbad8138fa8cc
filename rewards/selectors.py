"""Reads of rewards: the catalog as one partner sees it, and that partner's redemptions with their codes."""

from dataclasses import dataclass, field

from django.db.models import QuerySet

from partners.models import Partner
from rewards.codes import code_decrypt
from rewards.models import Redemption, Reward
from rewards.services import redeemer_facts, redemption_refusal


@dataclass(frozen=True)
class CatalogEntry:
    """One reward and whether this partner can redeem it now; `refusal` says why not, in words."""

    reward: Reward
    refusal: str | None
    reason: str = ""  # "", "unavailable", "tier", "stock", "limit", "points": a machine-readable twin of `refusal`
    points_missing: int = 0
    tier_needed: str = ""

    @property
    def is_redeemable(self) -> bool:
        return self.refusal is None


def reward_catalog_get(
    *, partner: Partner, balance: int, kind: str = "", affordable_only: bool = False
) -> list[CatalogEntry]:
    """The active rewards, each with this partner's state from the same checks as redeeming, in constant queries."""
    rewards_query = Reward.objects.filter(status=Reward.Status.ACTIVE)
    if kind:
        rewards_query = rewards_query.filter(kind=kind)
    if affordable_only:
        rewards_query = rewards_query.filter(points_cost__lte=balance)
    rewards = list(rewards_query.order_by("points_cost", "name", "pk"))
    facts = redeemer_facts(partner=partner, rewards=rewards, balance=balance)
    entries = []
    for reward in rewards:
        refusal = redemption_refusal(reward=reward, partner=partner, quantity=1, facts=facts)
        if refusal is None:
            entries.append(CatalogEntry(reward, None))
            continue
        entries.append(
            CatalogEntry(
                reward,
                refusal.message,
                refusal.reason,
                points_missing=max(0, reward.points_cost - balance) if refusal.reason == "points" else 0,
                tier_needed=facts.tier_names.get(reward.minimum_tier_rank, "") if refusal.reason == "tier" else "",
            )
        )
    return entries


@dataclass(frozen=True)
class RedemptionRow:
    redemption: Redemption
    codes: list[str] = field(default_factory=list)


def partner_redemptions(*, partner: Partner) -> QuerySet[Redemption]:
    """This partner's redemptions, newest first, with their reward and gift codes (two queries when evaluated)."""
    return (
        Redemption.objects.filter(partner=partner)
        .select_related("reward")
        .prefetch_related("codes")
        .order_by("-created_at", "-pk")
    )


def redemption_rows(*, redemptions: list[Redemption]) -> list[RedemptionRow]:
    """Redemptions with their gift-card codes decrypted: only for pages shown to the redeeming partner's members."""
    return [
        RedemptionRow(redemption, [code_decrypt(code.code_encrypted) for code in redemption.codes.all()])
        for redemption in redemptions
    ]


def redemption_for_intent(*, partner: Partner, reward: Reward, idempotency_key: str) -> Redemption | None:
    """The redemption this partner already made of this reward with this confirmation's key, if any (one query)."""
    return Redemption.objects.filter(partner=partner, reward=reward, idempotency_key=idempotency_key).first()


def redemptions_waiting() -> QuerySet[Redemption]:
    """Redemptions waiting for approval (the reward needs it, or a budget was passed), oldest first."""
    return Redemption.objects.filter(status=Redemption.Status.REQUESTED).order_by("created_at", "pk")
