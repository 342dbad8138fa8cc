"""The only places reward rows are locked. Order: points account, then reward, then redemption, then codes."""

from rewards.models import GiftCode, Redemption, Reward


def reward_lock(*, reward_id: int) -> Reward:
    return Reward.objects.select_for_update().get(pk=reward_id)


def redemption_lock(*, redemption_id: int) -> Redemption:
    return Redemption.objects.select_for_update().select_related("reward").get(pk=redemption_id)


def free_code_lock(*, reward_id: int) -> GiftCode | None:
    """An unassigned code of the reward, locked; concurrent redemptions skip each other's codes."""
    return (
        GiftCode.objects.select_for_update(skip_locked=True)
        .filter(reward_id=reward_id, redemption__isnull=True)
        .order_by("pk")
        .first()
    )
