"""The only places reward rows are locked. Order: points account, then reward, then redemption, then codes; a
reward that counts only its stock is locked late, by the update that takes it (`reward_stock_take`)."""

from django.db.models import F

from rewards.models import GiftCode, Redemption, Reward


def reward_lock(*, reward_id: int) -> Reward:
    return Reward.objects.select_for_update().get(pk=reward_id)


def reward_for_redemption(*, reward_id: int) -> Reward:
    """The reward as a redemption needs it: locked when it has a monthly cap (the period's sum must not move while
    it is checked), else only read.

    Without a lock, partners redeeming the same reward do not queue behind each other for the whole transaction
    (their own points accounts are what serialise them); stock is taken at the end by `reward_stock_take`.
    """
    reward = Reward.objects.get(pk=reward_id)
    if reward.monthly_cap_points is None:
        return reward
    return reward_lock(reward_id=reward_id)


def reward_stock_take(*, reward_id: int, quantity: int) -> bool:
    """Take `quantity` from the reward's stock if that much is left (False, and nothing taken, otherwise).

    The update locks the row until the commit: run it as late in the transaction as possible, so that redemptions
    of the same stocked reward queue only for the rest of it (bench/README.md, "Redemption").
    """
    taken = Reward.objects.filter(pk=reward_id, stock__gte=quantity).update(stock=F("stock") - quantity)
    return taken == 1


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
