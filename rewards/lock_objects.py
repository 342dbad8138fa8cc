"""The only places reward rows are locked. Order: points account, then reward, then redemption, then codes."""

from rewards.models import GiftCode, Redemption, Reward


def reward_lock(*, reward_id: int) -> Reward:
    return Reward.objects.select_for_update().get(pk=reward_id)


def reward_for_redemption(*, reward_id: int) -> Reward:
    """The reward as a redemption needs it: locked when it counts something (stock, a monthly cap), else only read.

    Unlimited rewards are the popular ones; without a lock, partners redeeming the same one do not queue behind
    each other for the whole transaction (their own points accounts are what serialise them).
    """
    reward = Reward.objects.get(pk=reward_id)
    if reward.stock is None and reward.monthly_cap_points is None:
        return reward
    return reward_lock(reward_id=reward_id)


def redemption_lock(*, redemption_id: int) -> Redemption:
    """The redemption locked, its reward joined but not locked (`of`: a plain FOR UPDATE would lock it too)."""
    return Redemption.objects.select_for_update(of=("self",)).select_related("reward").get(pk=redemption_id)


def free_code_lock(*, reward_id: int) -> GiftCode | None:
    """An unassigned code of the reward, locked; concurrent redemptions skip each other's codes."""
    return (
        GiftCode.objects.select_for_update(skip_locked=True)
        .filter(reward_id=reward_id, redemption__isnull=True)
        .order_by("pk")
        .first()
    )
