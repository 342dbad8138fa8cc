"""Redeeming rewards: what a redemption writes, the exact refusals that write nothing, budgets, workflow, refunds."""

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from loyalty.ledger.models import EntryKind, LedgerEntry, PointsLot
from loyalty.ledger.selectors import ledger_verify
from loyalty.ledger.services import IdempotencyConflictError, points_account_for
from loyalty.tenancy.context import CrossTenantError, tenant_context
from partners.models import Partner
from rewards.codes import code_decrypt
from rewards.models import GiftCode, Redemption, RedemptionEvent, Reward
from rewards.services import (
    redemption_approve,
    redemption_cancel,
    redemption_fulfil,
    redemption_reject,
)
from tests.conftest import World
from tests.factories import PartnerFactory
from tests.rewards.factories import (
    RewardFactory,
    code_pool_reward,
    events_of,
    give_points,
    put_at_tier,
    redeem,
    rewards_snapshot,
)

KEY_MESSAGE = "Use 1 to 200 letters, digits and . _ : / @ - (starting with a letter or digit)."
QUANTITY_MESSAGE = "Redeem between 1 and 100 at a time."


@pytest.fixture
def in_acme(acme: World):
    with tenant_context(acme.tenant):
        yield acme


def account_state(partner: Partner) -> tuple[int, int, int]:
    account = points_account_for(partner=partner)
    return account.balance, account.lifetime_earned, account.lifetime_redeemed


def lots_remaining(partner: Partner) -> list[int]:
    return list(PointsLot.objects.filter(account__partner=partner).order_by("pk").values_list("remaining", flat=True))


def stock_of(reward: Reward) -> int | None:
    reward.refresh_from_db(fields=["stock"])
    return reward.stock


def month_start() -> datetime:
    """Midnight on the first of this month, in the tenant's time zone."""
    return timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def assert_refused(
    call: Callable[[], object], messages: list[str] | None, error: type[Exception] = ValidationError
) -> Exception:
    """The call raises `error` (with exactly `messages`) and leaves every rewards and ledger table as it was."""
    before = rewards_snapshot()
    with pytest.raises(error) as caught:
        call()
    if messages is not None:
        assert caught.value.messages == messages
    assert rewards_snapshot() == before
    assert ledger_verify().breaches == []
    return caught.value


# --- Happy paths ---------------------------------------------------------------------------------------------


def test_redeem_a_manual_reward_debits_takes_stock_and_approves_at_once(in_acme: World) -> None:
    user = in_acme.partner_user
    give_points(in_acme.partner, 1000, "seed")
    reward = RewardFactory(name="Mug", points_cost=150, stock=10)

    redemption = redeem(in_acme.partner, user, reward, "order-1", quantity=2)

    redemption.refresh_from_db()
    assert (
        redemption.partner_id,
        redemption.requested_by_id,
        redemption.status,
        redemption.quantity,
        redemption.points,
        redemption.review_reasons,
        redemption.idempotency_key,
        redemption.credit_note,
        redemption.tracking,
    ) == (in_acme.partner.pk, user.pk, "approved", 2, 300, [], "order-1", "", "")
    assert stock_of(reward) == 8
    assert account_state(in_acme.partner) == (700, 1000, 300)
    debit = LedgerEntry.objects.get(kind=EntryKind.REDEEM)
    assert (debit.points, debit.redemption_id, debit.idempotency_key, debit.actor_id, debit.memo) == (
        -300,
        redemption.pk,
        f"redeem:{redemption.pk}",
        user.pk,
        "Mug × 2",
    )
    assert events_of(redemption) == [
        ("", "requested", user.pk, ""),
        ("requested", "approved", None, "Approved automatically."),
    ]
    assert GiftCode.objects.count() == 0
    assert ledger_verify().breaches == []


def test_redeem_a_code_pool_reward_fulfils_at_once_with_a_loaded_code_stored_encrypted(in_acme: World) -> None:
    loaded = ["GIFT-AAAA-1111", "GIFT-BBBB-2222", "GIFT-CCCC-3333"]
    reward = code_pool_reward(loaded, points_cost=100)
    give_points(in_acme.partner, 500, "seed")
    assert reward.stock == 3

    redemption = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")

    redemption.refresh_from_db()
    assert redemption.status == "fulfilled"
    code = GiftCode.objects.get(redemption=redemption)
    assert code_decrypt(code.code_encrypted) == "GIFT-AAAA-1111"
    assert code.last_four == "1111"
    with connection.cursor() as cursor:
        cursor.execute("SELECT code_encrypted FROM rewards_giftcode WHERE id = %s", [code.pk])
        (stored,) = cursor.fetchone()
    assert stored == code.code_encrypted
    assert "GIFT-AAAA-1111" not in stored
    assert "GIFT" not in stored
    assert GiftCode.objects.filter(redemption__isnull=True).count() == 2
    assert stock_of(reward) == 2
    assert account_state(in_acme.partner) == (400, 500, 100)
    assert events_of(redemption) == [
        ("", "requested", in_acme.partner_user.pk, ""),
        ("requested", "approved", None, "Approved automatically."),
        ("approved", "fulfilled", None, "Code issued."),
    ]
    assert ledger_verify().breaches == []


def test_redeem_several_codes_at_once_hands_as_many_different_codes(in_acme: World) -> None:
    loaded = [f"CARD-{number:04d}" for number in range(5)]
    reward = code_pool_reward(loaded, points_cost=10)
    give_points(in_acme.partner, 100, "seed")

    redemption = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1", quantity=3)

    issued = [code_decrypt(token) for token in redemption.codes.order_by("pk").values_list("code_encrypted", flat=True)]
    assert issued == ["CARD-0000", "CARD-0001", "CARD-0002"]
    assert stock_of(reward) == 2
    assert GiftCode.objects.filter(redemption__isnull=True).count() == 2


def test_redeem_a_credit_note_reward_fulfils_at_once_with_a_numbered_credit_note(in_acme: World) -> None:
    reward = RewardFactory(kind=Reward.Kind.REBATE_CREDIT, fulfilment=Reward.Fulfilment.CREDIT_NOTE, points_cost=400)
    give_points(in_acme.partner, 400, "seed")

    redemption = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")

    redemption.refresh_from_db()
    assert (redemption.status, redemption.credit_note) == ("fulfilled", f"CN-ACME-{redemption.pk:06d}")
    assert events_of(redemption) == [
        ("", "requested", in_acme.partner_user.pk, ""),
        ("requested", "approved", None, "Approved automatically."),
        ("approved", "fulfilled", None, "Credit note issued."),
    ]
    assert account_state(in_acme.partner) == (0, 400, 400)
    assert ledger_verify().breaches == []


def test_redeem_a_reward_that_needs_approval_debits_now_and_waits_as_requested(in_acme: World) -> None:
    reward = RewardFactory(points_cost=300, stock=3, requires_approval=True)
    give_points(in_acme.partner, 1000, "seed")

    redemption = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")

    redemption.refresh_from_db()
    assert (redemption.status, redemption.review_reasons) == ("requested", ["approval_required"])
    assert events_of(redemption) == [("", "requested", in_acme.partner_user.pk, "")]
    assert account_state(in_acme.partner) == (700, 1000, 300)
    assert stock_of(reward) == 2
    assert LedgerEntry.objects.filter(kind=EntryKind.REDEEM, redemption=redemption).count() == 1


def test_redeem_at_exactly_the_minimum_tier_and_with_exactly_enough_points_succeeds(in_acme: World) -> None:
    put_at_tier(in_acme.partner, 3)
    reward = RewardFactory(points_cost=250, minimum_tier_rank=3, stock=1, limit_per_partner=1)
    give_points(in_acme.partner, 250, "seed")

    redemption = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")

    assert redemption.status == "approved"
    assert stock_of(reward) == 0
    assert account_state(in_acme.partner) == (0, 250, 250)


def test_the_same_key_again_returns_the_first_redemption_and_writes_nothing_more(in_acme: World) -> None:
    reward = code_pool_reward(["CODE-1", "CODE-2"], points_cost=100)
    give_points(in_acme.partner, 1000, "seed")
    first = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")
    before = rewards_snapshot()

    again = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")

    assert again.pk == first.pk
    assert rewards_snapshot() == before
    assert GiftCode.objects.filter(redemption__isnull=False).count() == 1
    assert account_state(in_acme.partner) == (900, 1000, 100)


# --- Refusals: exact message, nothing written ----------------------------------------------------------------


def test_redeem_refuses_without_enough_points(in_acme: World) -> None:
    reward = RewardFactory(points_cost=100, stock=10)
    give_points(in_acme.partner, 250, "seed")

    assert_refused(
        lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-1", quantity=3),
        ["Not enough points: 250 available, 300 needed."],
    )
    assert stock_of(reward) == 10
    assert account_state(in_acme.partner) == (250, 250, 0)


@pytest.mark.parametrize("rank", [None, 1, 2])
def test_redeem_refuses_when_the_tier_is_too_low(in_acme: World, rank: int | None) -> None:
    if rank is not None:
        put_at_tier(in_acme.partner, rank)
    reward = RewardFactory(points_cost=100, minimum_tier_rank=3)
    give_points(in_acme.partner, 1000, "seed")

    # With a tier model in place the message names the tier needed (rank 3 is Gold in the factory's model).
    expected = (
        "Your tier is too low for this reward."
        if rank is None
        else "Your tier is too low for this reward: it needs Gold or above."
    )
    assert_refused(lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-1"), [expected])


@pytest.mark.parametrize("status", [Partner.Status.SUSPENDED, Partner.Status.LEFT])
def test_redeem_refuses_a_partner_that_is_not_active(in_acme: World, status: str) -> None:
    reward = RewardFactory(points_cost=10)
    give_points(in_acme.partner, 1000, "seed")
    Partner.all_tenants.filter(pk=in_acme.partner.pk).update(status=status)
    in_acme.partner.refresh_from_db()

    assert_refused(
        lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-1"),
        ["Your company's membership of the program is not active."],
    )


@pytest.mark.parametrize(("stock", "quantity", "message"), [(0, 1, "Out of stock."), (2, 3, "Only 2 left.")])
def test_redeem_refuses_when_stock_is_gone(in_acme: World, stock: int, quantity: int, message: str) -> None:
    reward = RewardFactory(points_cost=10, stock=stock)
    give_points(in_acme.partner, 1000, "seed")

    assert_refused(
        lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-1", quantity=quantity), [message]
    )
    assert stock_of(reward) == stock


def test_an_out_of_stock_reward_is_refused_as_out_of_stock_whatever_the_tier(in_acme: World) -> None:
    """Issue 17, item 24: an out-of-stock reward was refused only as "tier too low" to partners below its tier."""
    reward = RewardFactory(points_cost=10, stock=0, minimum_tier_rank=3)
    give_points(in_acme.partner, 1000, "seed")

    assert_refused(lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-1"), ["Out of stock."])


def test_redeem_refuses_a_code_pool_whose_stock_outruns_its_codes_and_rolls_everything_back(in_acme: World) -> None:
    reward = code_pool_reward(["ONLY-ONE"], name="Gift card", points_cost=10)
    Reward.objects.filter(pk=reward.pk).update(stock=5)  # raised by hand in the admin
    give_points(in_acme.partner, 1000, "seed")
    redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")

    assert_refused(
        lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-2"),
        ["The code pool of Gift card is empty."],
    )
    assert stock_of(reward) == 4
    assert account_state(in_acme.partner) == (990, 1000, 10)


def test_redeem_refuses_over_the_per_partner_limit_of_the_period(in_acme: World) -> None:
    reward = RewardFactory(points_cost=10, limit_per_partner=2, limit_period=Reward.LimitPeriod.MONTH)
    give_points(in_acme.partner, 1000, "seed")
    redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")

    assert_refused(
        lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-2", quantity=2),
        ["You have reached the limit for this reward (2 per month)."],
    )
    redeem(in_acme.partner, in_acme.partner_user, reward, "order-3")
    assert_refused(
        lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-4"),
        ["You have reached the limit for this reward (2 per month)."],
    )


def test_the_limit_ignores_earlier_periods_other_partners_and_redemptions_given_back(in_acme: World) -> None:
    reward = RewardFactory(
        points_cost=10, limit_per_partner=1, limit_period=Reward.LimitPeriod.MONTH, requires_approval=True
    )
    give_points(in_acme.partner, 1000, "seed")
    give_points(in_acme.unmanaged_partner, 1000, "seed-other")
    last_month = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")
    Redemption.objects.filter(pk=last_month.pk).update(created_at=month_start() - timedelta(seconds=1))
    redeem(in_acme.unmanaged_partner, in_acme.partner_user, reward, "other-1")
    cancelled = redeem(in_acme.partner, in_acme.partner_user, reward, "order-2")
    redemption_cancel(redemption=cancelled, actor=in_acme.partner_user)
    rejected = redeem(in_acme.partner, in_acme.partner_user, reward, "order-3")
    redemption_reject(redemption=rejected, actor=in_acme.manager, reason="Wrong address")

    counted = redeem(in_acme.partner, in_acme.partner_user, reward, "order-4")

    assert counted.status == "requested"
    assert_refused(
        lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-5"),
        ["You have reached the limit for this reward (1 per month)."],
    )


def test_a_limit_for_ever_counts_every_earlier_redemption(in_acme: World) -> None:
    reward = RewardFactory(points_cost=10, limit_per_partner=1, limit_period=Reward.LimitPeriod.EVER)
    give_points(in_acme.partner, 1000, "seed")
    long_ago = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")
    Redemption.objects.filter(pk=long_ago.pk).update(created_at=timezone.now() - timedelta(days=3 * 365))

    assert_refused(
        lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-2"),
        ["You have reached the limit for this reward (1 ever)."],
    )


def test_redeem_refuses_before_the_reward_is_available(in_acme: World) -> None:
    starts = timezone.now() + timedelta(days=2)
    reward = RewardFactory(available_from=starts)
    give_points(in_acme.partner, 1000, "seed")

    assert_refused(
        lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-1"),
        [f"This reward is available from {timezone.localdate(starts).isoformat()}."],
    )


def test_redeem_refuses_after_the_reward_stopped_being_available(in_acme: World) -> None:
    ended = timezone.now() - timedelta(days=2)
    reward = RewardFactory(available_until=ended)
    give_points(in_acme.partner, 1000, "seed")

    assert_refused(
        lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-1"),
        [f"This reward was available until {timezone.localdate(ended).isoformat()}."],
    )


@pytest.mark.parametrize("status", [Reward.Status.HIDDEN, Reward.Status.RETIRED])
def test_redeem_refuses_a_hidden_or_retired_reward(in_acme: World, status: str) -> None:
    reward = RewardFactory(status=status, stock=5)
    give_points(in_acme.partner, 1000, "seed")

    assert_refused(
        lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-1"),
        ["This reward is no longer available."],
    )


@pytest.mark.parametrize("quantity", [0, 101, True, -1, 1.0, "1"])
def test_redeem_refuses_a_quantity_outside_one_to_a_hundred(in_acme: World, quantity: object) -> None:
    reward = RewardFactory(points_cost=1)
    give_points(in_acme.partner, 1000, "seed")

    error = assert_refused(
        lambda: redeem(in_acme.partner, in_acme.partner_user, reward, "order-1", quantity=quantity),
        [QUANTITY_MESSAGE],
    )
    assert error.message_dict == {"quantity": [QUANTITY_MESSAGE]}


@pytest.mark.parametrize("key", ["", " order-1", "order 1", "-order", "x" * 201, "ordre-é", None])
def test_redeem_refuses_a_malformed_idempotency_key(in_acme: World, key: object) -> None:
    reward = RewardFactory(points_cost=1)
    give_points(in_acme.partner, 1000, "seed")

    error = assert_refused(lambda: redeem(in_acme.partner, in_acme.partner_user, reward, key), [KEY_MESSAGE])
    assert error.message_dict == {"idempotency_key": [KEY_MESSAGE]}


@pytest.mark.parametrize("change", ["reward", "quantity", "partner"])
def test_the_same_key_for_another_redemption_raises_a_conflict_and_writes_nothing(in_acme: World, change: str) -> None:
    reward = RewardFactory(points_cost=10)
    other_reward = RewardFactory(points_cost=10)
    give_points(in_acme.partner, 1000, "seed")
    give_points(in_acme.unmanaged_partner, 1000, "seed-other")
    redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")
    partner, chosen, quantity = in_acme.partner, reward, 1
    if change == "reward":
        chosen = other_reward
    elif change == "quantity":
        quantity = 2
    else:
        partner = in_acme.unmanaged_partner

    assert_refused(
        lambda: redeem(partner, in_acme.partner_user, chosen, "order-1", quantity=quantity),
        ["This key was already used for another redemption."],
        error=IdempotencyConflictError,
    )


def test_redeem_of_another_tenants_reward_is_not_found_and_writes_nothing(acme: World, globex: World) -> None:
    with tenant_context(globex.tenant):
        foreign = RewardFactory(points_cost=10, stock=5)
        globex_before = rewards_snapshot()
    with tenant_context(acme.tenant):
        give_points(acme.partner, 1000, "seed")

        assert_refused(
            lambda: redeem(acme.partner, acme.partner_user, foreign, "order-1"), None, error=Reward.DoesNotExist
        )

    assert Redemption.all_tenants.count() == 0
    assert RedemptionEvent.all_tenants.count() == 0
    assert LedgerEntry.all_tenants.filter(kind=EntryKind.REDEEM).count() == 0
    assert Reward.all_tenants.get(pk=foreign.pk).stock == 5
    with tenant_context(globex.tenant):
        assert rewards_snapshot() == globex_before


def test_redeem_for_another_tenants_partner_is_refused_and_writes_nothing(acme: World, globex: World) -> None:
    with tenant_context(globex.tenant):
        give_points(globex.partner, 1000, "seed")
        globex_before = rewards_snapshot()
    with tenant_context(acme.tenant):
        reward = RewardFactory(points_cost=10, stock=5)
        before = rewards_snapshot()
        with pytest.raises(CrossTenantError):
            redeem(globex.partner, globex.partner_user, reward, "order-1")
        assert rewards_snapshot() == before

    assert Redemption.all_tenants.count() == 0
    assert LedgerEntry.all_tenants.filter(kind=EntryKind.REDEEM).count() == 0
    with tenant_context(globex.tenant):
        assert rewards_snapshot() == globex_before


# --- Budgets: past them, a redemption waits for approval instead of failing ------------------------------------


def test_a_redemption_past_the_tenants_monthly_budget_waits_for_approval(in_acme: World) -> None:
    tenant = in_acme.tenant
    tenant.monthly_redemption_budget = Decimal("10.00")  # 1,000 points at 0.01 a point
    tenant.save(update_fields=["monthly_redemption_budget"])
    give_points(in_acme.partner, 5000, "seed")
    give_points(in_acme.unmanaged_partner, 5000, "seed-other")
    big = RewardFactory(points_cost=800)
    small = RewardFactory(points_cost=100, stock=5)
    last_month = redeem(in_acme.partner, in_acme.partner_user, big, "order-0")
    Redemption.objects.filter(pk=last_month.pk).update(created_at=month_start() - timedelta(seconds=1))
    redeem(in_acme.partner, in_acme.partner_user, big, "order-1")
    at_budget = redeem(in_acme.unmanaged_partner, in_acme.partner_user, small, "other-1", quantity=2)
    assert at_budget.status == "approved"  # exactly 10.00 is within the budget

    waiting = redeem(in_acme.unmanaged_partner, in_acme.partner_user, small, "other-2")

    waiting.refresh_from_db()
    assert (waiting.status, waiting.review_reasons, waiting.points) == ("requested", ["monthly_budget"], 100)
    assert events_of(waiting) == [("", "requested", in_acme.partner_user.pk, "")]
    assert account_state(in_acme.unmanaged_partner) == (4700, 5000, 300)
    assert stock_of(small) == 2
    assert ledger_verify().breaches == []


def test_given_back_redemptions_free_the_monthly_budget(in_acme: World) -> None:
    tenant = in_acme.tenant
    tenant.monthly_redemption_budget = Decimal("10.00")
    tenant.save(update_fields=["monthly_redemption_budget"])
    give_points(in_acme.partner, 5000, "seed")
    reward = RewardFactory(points_cost=600)
    first = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")
    redemption_reject(redemption=first, actor=in_acme.manager, reason="Duplicate order")

    second = redeem(in_acme.partner, in_acme.partner_user, reward, "order-2")

    assert (second.status, second.review_reasons) == ("approved", [])


def test_a_redemption_past_the_rewards_monthly_cap_waits_for_approval(in_acme: World) -> None:
    give_points(in_acme.partner, 5000, "seed")
    capped = RewardFactory(points_cost=200, monthly_cap_points=500)
    other = RewardFactory(points_cost=200)
    redeem(in_acme.partner, in_acme.partner_user, capped, "order-1")
    redeem(in_acme.partner, in_acme.partner_user, capped, "order-2")
    redeem(in_acme.partner, in_acme.partner_user, other, "order-3")

    waiting = redeem(in_acme.partner, in_acme.partner_user, capped, "order-4")
    other_again = redeem(in_acme.partner, in_acme.partner_user, other, "order-5")

    waiting.refresh_from_db()
    assert (waiting.status, waiting.review_reasons) == ("requested", ["reward_cap"])
    assert other_again.status == "approved"
    assert account_state(in_acme.partner) == (4000, 5000, 1000)

    approved = redemption_approve(redemption=waiting, actor=in_acme.manager, reason="Within the quarter's plan")

    assert approved.status == "approved"
    assert events_of(waiting)[-1] == ("requested", "approved", in_acme.manager.pk, "Within the quarter's plan")


def test_every_reason_to_wait_is_recorded(in_acme: World) -> None:
    tenant = in_acme.tenant
    tenant.monthly_redemption_budget = Decimal("1.00")
    tenant.save(update_fields=["monthly_redemption_budget"])
    give_points(in_acme.partner, 5000, "seed")
    reward = RewardFactory(points_cost=200, monthly_cap_points=100, requires_approval=True)

    redemption = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")

    assert redemption.review_reasons == ["monthly_budget", "reward_cap", "approval_required"]
    assert redemption.status == "requested"


# --- Workflow ----------------------------------------------------------------------------------------------


def requested(world: World, **reward_fields: object) -> Redemption:
    reward = RewardFactory(points_cost=100, stock=5, requires_approval=True, **reward_fields)
    give_points(world.partner, 1000, f"seed-{reward.pk}")
    return redeem(world.partner, world.partner_user, reward, f"order-{reward.pk}")


def in_status(world: World, status: str) -> Redemption:
    """A manual redemption brought to `status` through the services."""
    redemption = requested(world)
    if status in ("approved", "fulfilled"):
        redemption_approve(redemption=redemption, actor=world.manager)
    if status == "fulfilled":
        redemption_fulfil(redemption=redemption, actor=world.manager, tracking="UPS 1Z999")
    if status == "rejected":
        redemption_reject(redemption=redemption, actor=world.manager, reason="No longer offered")
    if status == "cancelled":
        redemption_cancel(redemption=redemption, actor=world.partner_user)
    redemption.refresh_from_db()
    assert redemption.status == status
    return redemption


def test_a_manager_approves_then_fulfils_a_manual_redemption_with_tracking(in_acme: World) -> None:
    redemption = requested(in_acme)
    before = timezone.now()

    redemption_approve(redemption=redemption, actor=in_acme.manager)
    redemption_fulfil(redemption=redemption, actor=in_acme.manager, tracking="UPS 1Z999AA10123456784")

    redemption.refresh_from_db()
    assert (redemption.status, redemption.tracking) == ("fulfilled", "UPS 1Z999AA10123456784")
    assert redemption.updated_at >= before
    assert events_of(redemption) == [
        ("", "requested", in_acme.partner_user.pk, ""),
        ("requested", "approved", in_acme.manager.pk, ""),
        ("approved", "fulfilled", in_acme.manager.pk, "UPS 1Z999AA10123456784"),
    ]
    assert LedgerEntry.objects.filter(redemption=redemption).count() == 1


def test_approving_a_requested_code_pool_redemption_issues_its_code(in_acme: World) -> None:
    reward = code_pool_reward(["CARD-0001"], points_cost=50, requires_approval=True)
    give_points(in_acme.partner, 100, "seed")
    redemption = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1")
    assert GiftCode.objects.filter(redemption__isnull=False).count() == 0

    redemption_approve(redemption=redemption, actor=in_acme.manager)

    redemption.refresh_from_db()
    assert redemption.status == "fulfilled"
    assert [code_decrypt(code.code_encrypted) for code in redemption.codes.all()] == ["CARD-0001"]
    assert events_of(redemption)[1:] == [
        ("requested", "approved", in_acme.manager.pk, ""),
        ("approved", "fulfilled", in_acme.manager.pk, "Code issued."),
    ]


MOVES = {
    "approve": lambda world, redemption: redemption_approve(redemption=redemption, actor=world.manager),
    "fulfil": lambda world, redemption: redemption_fulfil(redemption=redemption, actor=world.manager, tracking="T"),
    "reject": lambda world, redemption: redemption_reject(redemption=redemption, actor=world.manager, reason="No"),
    "cancel": lambda world, redemption: redemption_cancel(redemption=redemption, actor=world.partner_user),
}
CANCEL_REFUSED = "Only a redemption still waiting for review can be cancelled."


@pytest.mark.parametrize(
    ("status", "move", "message"),
    [
        ("requested", "fulfil", "A redemption that is requested cannot become fulfilled."),
        ("approved", "approve", "A redemption that is approved cannot become approved."),
        ("approved", "cancel", CANCEL_REFUSED),
        ("fulfilled", "approve", "A redemption that is fulfilled cannot become approved."),
        ("fulfilled", "fulfil", "A redemption that is fulfilled cannot become fulfilled."),
        ("fulfilled", "reject", "A redemption that is fulfilled cannot become rejected."),
        ("fulfilled", "cancel", CANCEL_REFUSED),
        ("rejected", "approve", "A redemption that is rejected cannot become approved."),
        ("rejected", "fulfil", "A redemption that is rejected cannot become fulfilled."),
        ("rejected", "reject", "A redemption that is rejected cannot become rejected."),
        ("rejected", "cancel", CANCEL_REFUSED),
        ("cancelled", "approve", "A redemption that is cancelled cannot become approved."),
        ("cancelled", "fulfil", "A redemption that is cancelled cannot become fulfilled."),
        ("cancelled", "reject", "A redemption that is cancelled cannot become rejected."),
        ("cancelled", "cancel", CANCEL_REFUSED),
    ],
)
def test_moves_outside_the_workflow_are_refused_and_write_nothing(
    in_acme: World, status: str, move: str, message: str
) -> None:
    redemption = in_status(in_acme, status)

    assert_refused(lambda: MOVES[move](in_acme, redemption), [message])
    redemption.refresh_from_db()
    assert redemption.status == status


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_reject_needs_a_reason(in_acme: World, reason: str) -> None:
    redemption = requested(in_acme)

    error = assert_refused(
        lambda: redemption_reject(redemption=redemption, actor=in_acme.manager, reason=reason),
        ["Say why the redemption is rejected."],
    )
    assert error.message_dict == {"reason": ["Say why the redemption is rejected."]}


@pytest.mark.parametrize(
    ("from_status", "undo", "expected_event"),
    [
        ("requested", "reject", ("requested", "rejected", "manager", "Out of this colour")),
        ("approved", "reject", ("approved", "rejected", "manager", "Out of this colour")),
        ("requested", "cancel", ("requested", "cancelled", "partner_user", "Cancelled by the partner.")),
    ],
)
def test_reject_and_cancel_refund_exactly_into_the_lots_the_points_came_from(
    in_acme: World, from_status: str, undo: str, expected_event: tuple[str, str, str, str]
) -> None:
    give_points(in_acme.partner, 100, "older", days_ago=30)  # expires first, so it is spent first
    give_points(in_acme.partner, 200, "newer")
    reward = RewardFactory(points_cost=125, stock=4, requires_approval=True)
    account_before, lots_before = account_state(in_acme.partner), lots_remaining(in_acme.partner)
    redemption = redeem(in_acme.partner, in_acme.partner_user, reward, "order-1", quantity=2)
    assert lots_remaining(in_acme.partner) == [0, 50]
    assert account_state(in_acme.partner) == (50, 300, 250)
    assert stock_of(reward) == 2
    if from_status == "approved":
        redemption_approve(redemption=redemption, actor=in_acme.manager)

    if undo == "reject":
        redemption_reject(redemption=redemption, actor=in_acme.manager, reason="Out of this colour")
    else:
        redemption_cancel(redemption=redemption, actor=in_acme.partner_user)

    redemption.refresh_from_db()
    assert redemption.status == expected_event[1]
    assert account_state(in_acme.partner) == account_before == (300, 300, 0)
    assert lots_remaining(in_acme.partner) == lots_before == [100, 200]
    assert stock_of(reward) == 4
    debit = LedgerEntry.objects.get(kind=EntryKind.REDEEM)
    refund = LedgerEntry.objects.get(kind=EntryKind.REFUND)
    actor = getattr(in_acme, expected_event[2])
    assert (
        refund.points,
        refund.reverses_id,
        refund.redemption_id,
        refund.idempotency_key,
        refund.actor_id,
        refund.memo,
    ) == (250, debit.pk, redemption.pk, f"refund:{redemption.pk}", actor.pk, expected_event[3])
    assert LedgerEntry.objects.count() == 4
    assert events_of(redemption)[-1] == (expected_event[0], expected_event[1], actor.pk, expected_event[3])
    assert ledger_verify().breaches == []


def test_a_refund_leaves_points_spent_since_on_other_rewards_spent(in_acme: World) -> None:
    give_points(in_acme.partner, 300, "seed")
    waiting = redeem(in_acme.partner, in_acme.partner_user, RewardFactory(points_cost=200, requires_approval=True), "a")
    redeem(in_acme.partner, in_acme.partner_user, RewardFactory(points_cost=100), "b")
    assert account_state(in_acme.partner) == (0, 300, 300)

    redemption_reject(redemption=waiting, actor=in_acme.manager, reason="Discontinued")

    assert account_state(in_acme.partner) == (200, 300, 100)
    assert lots_remaining(in_acme.partner) == [200]
    assert ledger_verify().breaches == []


def test_each_move_records_who_when_and_why(in_acme: World) -> None:
    started = timezone.now()
    approved = requested(in_acme)
    redemption_approve(redemption=approved, actor=in_acme.manager, reason="Budget checked")
    redemption_fulfil(redemption=approved, actor=in_acme.owner, tracking="DHL 123")
    cancelled = requested(in_acme)
    redemption_cancel(redemption=cancelled, actor=in_acme.partner_admin)
    finished = timezone.now()

    assert events_of(approved) == [
        ("", "requested", in_acme.partner_user.pk, ""),
        ("requested", "approved", in_acme.manager.pk, "Budget checked"),
        ("approved", "fulfilled", in_acme.owner.pk, "DHL 123"),
    ]
    assert events_of(cancelled) == [
        ("", "requested", in_acme.partner_user.pk, ""),
        ("requested", "cancelled", in_acme.partner_admin.pk, "Cancelled by the partner."),
    ]
    moments = list(RedemptionEvent.objects.order_by("pk").values_list("created_at", flat=True))
    assert moments == sorted(moments)
    assert all(started <= moment <= finished for moment in moments)
    assert set(RedemptionEvent.objects.values_list("tenant_id", flat=True)) == {in_acme.tenant.pk}


def test_partners_of_the_same_tenant_redeem_from_their_own_accounts(in_acme: World) -> None:
    other = PartnerFactory(tenant=in_acme.tenant, partner_type=in_acme.partner_type)
    give_points(in_acme.partner, 100, "seed")
    give_points(other, 1000, "seed-other")
    reward = RewardFactory(points_cost=100)

    redeem(other, in_acme.partner_user, reward, "order-1")

    assert account_state(in_acme.partner) == (100, 100, 0)
    assert account_state(other) == (900, 1000, 100)
