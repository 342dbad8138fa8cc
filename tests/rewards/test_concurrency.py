"""Concurrent redemptions on PostgreSQL: stock, balance, idempotency keys and code pools hold under real races."""

import threading
from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.db.models import Count, Sum

from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount
from loyalty.ledger.selectors import ledger_verify
from loyalty.ledger.services import IdempotencyConflictError, points_account_for
from loyalty.tenancy.context import tenant_context
from partners.models import Partner
from rewards.codes import code_decrypt
from rewards.models import GiftCode, Redemption, RedemptionEvent, Reward
from rewards.services import OPEN_STATUSES, redemption_approve, redemption_cancel, redemption_reject
from tests.conftest import World
from tests.factories import PartnerFactory
from tests.rewards.factories import RewardFactory, code_pool_reward, give_points, redeem
from tests.support import THREAD_TIMEOUT, outcomes, run_concurrently

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="Needs PostgreSQL: SQLite locks the whole database and has no SELECT ... FOR UPDATE row locks",
    ),
    pytest.mark.django_db(transaction=True),
]


def partners_with_points(world: World, count: int, points: int) -> list[Partner]:
    with tenant_context(world.tenant):
        partners = PartnerFactory.create_batch(count, tenant=world.tenant, partner_type=world.partner_type)
        for partner in partners:
            give_points(partner, points, f"seed-{partner.pk}")
        return partners


def refusals(results: list) -> Counter:
    return Counter(tuple(result.messages) for result in results if isinstance(result, ValidationError))


def test_a_hundred_partners_racing_for_five_in_stock_get_exactly_five(acme: World) -> None:
    partners = partners_with_points(acme, 100, 500)
    with tenant_context(acme.tenant):
        reward = RewardFactory(points_cost=200, stock=5)

    results = run_concurrently(
        acme.tenant, 100, lambda index: redeem(partners[index], acme.partner_user, reward, f"order-{index}")
    )

    assert outcomes(results) == Counter({"Redemption": 5, "ValidationError": 95})
    assert refusals(results) == Counter({("Out of stock.",): 95})
    winners = {result.partner_id for result in results if isinstance(result, Redemption)}
    with tenant_context(acme.tenant):
        reward.refresh_from_db()
        assert reward.stock == 0
        assert Reward.objects.filter(stock__lt=0).count() == 0
        assert Redemption.objects.aggregate(count=Count("pk"), quantity=Sum("quantity")) == {"count": 5, "quantity": 5}
        assert set(Redemption.objects.values_list("status", flat=True)) == {"approved"}
        assert set(Redemption.objects.values_list("partner_id", flat=True)) == winners
        assert LedgerEntry.objects.filter(kind=EntryKind.REDEEM).count() == 5
        balances = Counter(PointsAccount.objects.values_list("balance", flat=True))
        assert balances == Counter({500: 95, 300: 5})
        assert dict(PointsAccount.objects.filter(partner_id__in=winners).values_list("partner_id", "balance")) == {
            partner_id: 300 for partner_id in winners
        }
        assert ledger_verify().breaches == []


def test_fifty_concurrent_redemptions_by_one_partner_stop_at_what_the_balance_covers(acme: World) -> None:
    with tenant_context(acme.tenant):
        give_points(acme.partner, 350, "seed")
        reward = RewardFactory(points_cost=100)

    results = run_concurrently(
        acme.tenant, 50, lambda index: redeem(acme.partner, acme.partner_user, reward, f"order-{index}")
    )

    assert outcomes(results) == Counter({"Redemption": 3, "ValidationError": 47})
    # Serialized by the account lock: every refusal came after the three debits and saw the same 50 points.
    assert refusals(results) == Counter({("Not enough points: 50 available, 100 needed.",): 47})
    with tenant_context(acme.tenant):
        account = points_account_for(partner=acme.partner)
        assert (account.balance, account.lifetime_earned, account.lifetime_redeemed) == (50, 350, 300)
        debits = LedgerEntry.objects.filter(kind=EntryKind.REDEEM)
        assert sorted(debits.values_list("balance_after", flat=True)) == [50, 150, 250]
        assert Redemption.objects.count() == 3
        assert ledger_verify().breaches == []


def test_twenty_double_submits_with_one_key_make_one_redemption_and_one_debit(acme: World) -> None:
    with tenant_context(acme.tenant):
        give_points(acme.partner, 1000, "seed")
        reward = RewardFactory(points_cost=100, stock=10)

    results = run_concurrently(
        acme.tenant, 20, lambda index: redeem(acme.partner, acme.partner_user, reward, "checkout-7f3a")
    )

    assert outcomes(results) == Counter({"Redemption": 20})
    assert len({result.pk for result in results}) == 1
    with tenant_context(acme.tenant):
        redemption = Redemption.objects.get()
        assert redemption.pk == results[0].pk
        assert LedgerEntry.objects.filter(kind=EntryKind.REDEEM).get().redemption_id == redemption.pk
        assert RedemptionEvent.objects.count() == 2  # requested, then approved automatically
        assert points_account_for(partner=acme.partner).balance == 900
        assert Reward.objects.get(pk=reward.pk).stock == 9
        assert ledger_verify().breaches == []


def test_one_key_used_concurrently_by_different_partners_lets_exactly_one_win(acme: World) -> None:
    partners = partners_with_points(acme, 10, 500)
    with tenant_context(acme.tenant):
        reward = RewardFactory(points_cost=100)

    results = run_concurrently(
        acme.tenant, 10, lambda index: redeem(partners[index], acme.partner_user, reward, "checkout-7f3a")
    )

    assert outcomes(results) == Counter({"Redemption": 1, "IdempotencyConflictError": 9})
    assert all(isinstance(result, IdempotencyConflictError) for result in results if not isinstance(result, Redemption))
    with tenant_context(acme.tenant):
        assert Redemption.objects.count() == 1
        assert LedgerEntry.objects.filter(kind=EntryKind.REDEEM).count() == 1
        assert ledger_verify().breaches == []


def test_concurrent_code_pool_redemptions_never_hand_the_same_code_twice(acme: World) -> None:
    loaded = [f"GIFT-{number:04d}-QX" for number in range(8)]
    partners = partners_with_points(acme, 20, 500)
    with tenant_context(acme.tenant):
        reward = code_pool_reward(loaded, points_cost=100)

    results = run_concurrently(
        acme.tenant, 20, lambda index: redeem(partners[index], acme.partner_user, reward, f"order-{index}")
    )

    assert outcomes(results) == Counter({"Redemption": 8, "ValidationError": 12})
    assert refusals(results) == Counter({("Out of stock.",): 12})
    with tenant_context(acme.tenant):
        assert set(Redemption.objects.values_list("status", flat=True)) == {"fulfilled"}
        per_redemption = Counter(GiftCode.objects.values_list("redemption_id", flat=True))
        assert per_redemption == Counter({result.pk: 1 for result in results if isinstance(result, Redemption)})
        issued = [code_decrypt(token) for token in GiftCode.objects.values_list("code_encrypted", flat=True)]
        assert sorted(issued) == loaded
        assert Reward.objects.get(pk=reward.pk).stock == 0
        assert ledger_verify().breaches == []


def test_concurrent_approvals_of_waiting_code_pool_redemptions_hand_different_codes(acme: World) -> None:
    loaded = [f"GIFT-{number:04d}-LM" for number in range(12)]
    partners = partners_with_points(acme, 10, 500)
    with tenant_context(acme.tenant):
        reward = code_pool_reward(loaded, points_cost=100, requires_approval=True)
        waiting = [redeem(partner, acme.partner_user, reward, f"order-{partner.pk}") for partner in partners]
        assert GiftCode.objects.filter(redemption__isnull=False).count() == 0

    results = run_concurrently(
        acme.tenant, 10, lambda index: redemption_approve(redemption=waiting[index], actor=acme.manager)
    )

    assert outcomes(results) == Counter({"Redemption": 10})
    with tenant_context(acme.tenant):
        assert set(Redemption.objects.values_list("status", flat=True)) == {"fulfilled"}
        assigned = GiftCode.objects.filter(redemption__isnull=False)
        assert Counter(assigned.values_list("redemption_id", flat=True)) == Counter({row.pk: 1 for row in waiting})
        issued = {code_decrypt(token) for token in assigned.values_list("code_encrypted", flat=True)}
        assert len(issued) == 10
        assert issued <= set(loaded)
        assert GiftCode.objects.filter(redemption__isnull=True).count() == 2
        assert ledger_verify().breaches == []


def test_concurrent_reject_and_cancel_of_one_redemption_refund_once(acme: World) -> None:
    with tenant_context(acme.tenant):
        give_points(acme.partner, 1000, "seed")
        reward = RewardFactory(points_cost=300, stock=3, requires_approval=True)
        redemption = redeem(acme.partner, acme.partner_user, reward, "order-1")

    def reject_or_cancel(index: int) -> Redemption:
        if index % 2:
            return redemption_cancel(redemption=redemption, actor=acme.partner_user)
        return redemption_reject(redemption=redemption, actor=acme.manager, reason="Discontinued")

    results = run_concurrently(acme.tenant, 10, reject_or_cancel)

    assert outcomes(results) == Counter({"Redemption": 1, "ValidationError": 9})
    with tenant_context(acme.tenant):
        redemption.refresh_from_db()
        assert redemption.status in ("rejected", "cancelled")
        assert LedgerEntry.objects.filter(kind=EntryKind.REFUND).count() == 1
        assert RedemptionEvent.objects.filter(redemption=redemption).count() == 2
        assert points_account_for(partner=acme.partner).balance == 1000
        assert Reward.objects.get(pk=reward.pk).stock == 3
        assert ledger_verify().breaches == []


def test_stock_stays_exact_while_redemptions_race_with_rejections(acme: World) -> None:
    partners = partners_with_points(acme, 30, 500)
    with tenant_context(acme.tenant):
        reward = RewardFactory(points_cost=100, stock=10, requires_approval=True)
        waiting = [redeem(partner, acme.partner_user, reward, f"first-{partner.pk}") for partner in partners[:10]]
        assert Reward.objects.get(pk=reward.pk).stock == 0

    def reject_or_redeem(index: int) -> Redemption:
        if index < 10:
            return redemption_reject(redemption=waiting[index], actor=acme.manager, reason="Discontinued")
        return redeem(partners[index], acme.partner_user, reward, f"second-{index}")

    results = run_concurrently(acme.tenant, 30, reject_or_redeem)

    assert all(isinstance(result, Redemption) for result in results[:10])
    assert set(outcomes(results[10:])) <= {"Redemption", "ValidationError"}
    assert set(refusals(results)) <= {("Out of stock.",)}
    with tenant_context(acme.tenant):
        open_quantity = (
            Redemption.objects.filter(status__in=OPEN_STATUSES).aggregate(total=Sum("quantity"))["total"] or 0
        )
        assert Reward.objects.get(pk=reward.pk).stock == 10 - open_quantity
        assert open_quantity == outcomes(results[10:])["Redemption"]
        assert ledger_verify().breaches == []


def redeem_while_another_redemption_is_open(world: World, reward: Reward) -> object:
    """Partner A redeems `reward` and keeps its transaction open; meanwhile partner B redeems the same reward with a
    2-second lock timeout. Returns B's outcome (a redemption, or the error of waiting on A's locks)."""
    first, second = partners_with_points(world, 2, 500)
    opened, finished = threading.Event(), threading.Event()

    def hold_open() -> None:
        with tenant_context(world.tenant):
            try:
                with transaction.atomic():
                    redeem(first, world.partner_user, reward, "first")
                    opened.set()
                    finished.wait(THREAD_TIMEOUT)
            finally:
                connection.close()

    holder = threading.Thread(target=hold_open)
    holder.start()
    try:
        assert opened.wait(THREAD_TIMEOUT)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            with tenant_context(world.tenant):
                return redeem(second, world.partner_user, reward, "second")
    except OperationalError as error:
        return error
    finally:
        finished.set()
        holder.join(THREAD_TIMEOUT)


def test_partners_redeeming_the_same_unlimited_reward_do_not_wait_for_each_other(acme: World) -> None:
    with tenant_context(acme.tenant):
        reward = RewardFactory(points_cost=200, stock=None)

    outcome = redeem_while_another_redemption_is_open(acme, reward)

    assert isinstance(outcome, Redemption)
    with tenant_context(acme.tenant):
        assert Redemption.objects.filter(reward=reward).count() == 2
        assert ledger_verify().breaches == []


def test_a_reward_with_stock_is_still_taken_one_redemption_at_a_time(acme: World) -> None:
    with tenant_context(acme.tenant):
        reward = RewardFactory(points_cost=200, stock=5)

    outcome = redeem_while_another_redemption_is_open(acme, reward)

    assert isinstance(outcome, OperationalError)
    assert "lock timeout" in str(outcome)
    with tenant_context(acme.tenant):
        assert Redemption.objects.filter(reward=reward).count() == 1
        reward.refresh_from_db()
        assert reward.stock == 4


def test_stock_taken_while_a_redemption_ran_refuses_it_at_the_take_and_leaves_nothing(acme: World) -> None:
    """The stock is taken late (the reward's row locked only from there to the commit): a redemption that read the
    last unit as free while another held it is refused when it comes to take it, and its debit is undone."""
    with tenant_context(acme.tenant):
        reward = RewardFactory(points_cost=200, stock=1)
    first, second = partners_with_points(acme, 2, 500)
    taken, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def hold_open() -> None:
        with tenant_context(acme.tenant):
            try:
                with transaction.atomic():
                    results["first"] = redeem(first, acme.partner_user, reward, "first")
                    taken.set()
                    release.wait(THREAD_TIMEOUT)
            finally:
                connection.close()

    def redeem_meanwhile() -> None:
        with tenant_context(acme.tenant):
            try:
                results["second"] = redeem(second, acme.partner_user, reward, "second")
            except ValidationError as error:
                results["second"] = error
            finally:
                connection.close()

    holder = threading.Thread(target=hold_open)
    holder.start()
    assert taken.wait(THREAD_TIMEOUT)
    other = threading.Thread(target=redeem_meanwhile)
    other.start()
    other.join(1)  # it reads stock 1 (the holder's take is not committed) and waits at its own take
    assert other.is_alive()
    release.set()
    holder.join(THREAD_TIMEOUT)
    other.join(THREAD_TIMEOUT)

    assert isinstance(results["first"], Redemption)
    assert isinstance(results["second"], ValidationError)
    assert results["second"].messages == ["Out of stock."]
    with tenant_context(acme.tenant):
        reward.refresh_from_db()
        assert reward.stock == 0
        assert list(Redemption.objects.filter(reward=reward).values_list("partner_id", flat=True)) == [first.pk]
        assert points_account_for(partner=second).balance == 500
        assert not LedgerEntry.objects.filter(account__partner=second, kind=EntryKind.REDEEM).exists()
        assert ledger_verify().breaches == []
