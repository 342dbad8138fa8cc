"""Concurrent postings on PostgreSQL: the account lock serializes debits, idempotency keys hold under races."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from loyalty.ledger.lock_objects import account_lock
from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount, PointsLot
from loyalty.ledger.selectors import ledger_verify
from loyalty.ledger.services import (
    IdempotencyConflictError,
    entry_reverse,
    points_account_for,
    points_expire_due,
    points_post,
)
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant
from tests.conftest import World
from tests.ledger.factories import PointsAccountFactory, earn, redeem, set_expiry_rule
from tests.support import THREAD_TIMEOUT, outcomes, run_concurrently

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="Needs PostgreSQL: SQLite locks the whole database and has no SELECT ... FOR UPDATE row locks",
    ),
    pytest.mark.django_db(transaction=True),
]


def account_with(world: World, points: int, partner=None) -> PointsAccount:
    with tenant_context(world.tenant):
        account = points_account_for(partner=partner or world.partner)
        earn(account, points, f"seed-{account.pk}")
        return account


def test_fifty_concurrent_debits_against_ten_points_let_exactly_ten_through(acme: World) -> None:
    account = account_with(acme, 10)

    results = run_concurrently(acme.tenant, 50, lambda index: redeem(account, 1, f"order-{index}"))

    assert outcomes(results) == Counter({"LedgerEntry": 10, "InsufficientPointsError": 40})
    with tenant_context(acme.tenant):
        account.refresh_from_db()
        assert (account.balance, account.lifetime_redeemed) == (0, 10)
        debits = LedgerEntry.objects.filter(kind=EntryKind.REDEEM)
        # Serialized by the account lock: each debit saw the previous one, so every balance from 9 to 0 occurs once.
        assert sorted(debits.values_list("balance_after", flat=True)) == list(range(10))
        assert debits.count() == 10
        assert LedgerEntry.objects.filter(balance_after__lt=0).count() == 0
        assert list(PointsLot.objects.values_list("remaining", flat=True)) == [0]
        assert ledger_verify().breaches == []


def test_twenty_concurrent_postings_with_one_key_write_one_entry_and_all_return_it(acme: World) -> None:
    with tenant_context(acme.tenant):
        account = points_account_for(partner=acme.partner)

    results = run_concurrently(
        acme.tenant,
        20,
        lambda index: points_post(account=account, kind=EntryKind.EARN, points=100, idempotency_key="claim-7"),
    )

    assert outcomes(results) == Counter({"LedgerEntry": 20})
    assert len({entry.pk for entry in results}) == 1
    with tenant_context(acme.tenant):
        account.refresh_from_db()
        assert LedgerEntry.objects.count() == 1
        assert LedgerEntry.objects.get().pk == results[0].pk
        assert PointsLot.objects.count() == 1
        assert (account.balance, account.lifetime_earned) == (100, 100)
        assert ledger_verify().breaches == []


def test_one_key_used_concurrently_for_different_amounts_lets_exactly_one_win(acme: World) -> None:
    with tenant_context(acme.tenant):
        account = points_account_for(partner=acme.partner)

    results = run_concurrently(
        acme.tenant,
        20,
        lambda index: points_post(account=account, kind=EntryKind.EARN, points=index + 1, idempotency_key="claim-7"),
    )

    assert outcomes(results) == Counter({"LedgerEntry": 1, "IdempotencyConflictError": 19})
    winner = next(result for result in results if isinstance(result, LedgerEntry))
    assert all(isinstance(result, IdempotencyConflictError) for result in results if result is not winner)
    with tenant_context(acme.tenant):
        account.refresh_from_db()
        assert list(LedgerEntry.objects.values_list("pk", "points")) == [(winner.pk, winner.points)]
        assert account.balance == winner.points
        assert PointsLot.objects.count() == 1
        assert ledger_verify().breaches == []


def test_one_key_used_concurrently_on_different_accounts_lets_exactly_one_win(acme: World) -> None:
    with tenant_context(acme.tenant):
        accounts = PointsAccountFactory.create_batch(10, tenant=acme.tenant)

    results = run_concurrently(
        acme.tenant,
        10,
        lambda index: points_post(account=accounts[index], kind=EntryKind.EARN, points=5, idempotency_key="claim-7"),
    )

    assert outcomes(results) == Counter({"LedgerEntry": 1, "IdempotencyConflictError": 9})
    with tenant_context(acme.tenant):
        assert LedgerEntry.objects.count() == 1
        assert sorted(PointsAccount.objects.values_list("balance", flat=True)) == [0] * 9 + [5]
        assert ledger_verify().breaches == []


def test_concurrent_debits_on_two_accounts_all_succeed(acme: World) -> None:
    first = account_with(acme, 10)
    second = account_with(acme, 10, partner=acme.unmanaged_partner)

    results = run_concurrently(
        acme.tenant, 20, lambda index: redeem(first if index % 2 else second, 1, f"order-{index}")
    )

    assert outcomes(results) == Counter({"LedgerEntry": 20})
    with tenant_context(acme.tenant):
        assert dict(PointsAccount.objects.values_list("pk", "balance")) == {first.pk: 0, second.pk: 0}
        assert ledger_verify().breaches == []


def test_a_held_lock_on_one_account_blocks_its_postings_but_not_another_accounts(acme: World) -> None:
    locked = account_with(acme, 10)
    free = account_with(acme, 10, partner=acme.unmanaged_partner)
    lock_taken, release = threading.Event(), threading.Event()

    def hold_lock(index: int) -> dict[str, object] | None:
        if index == 0:
            with transaction.atomic():
                account_lock(account_id=locked.pk)
                lock_taken.set()
                release.wait(THREAD_TIMEOUT)
            return None
        lock_taken.wait(THREAD_TIMEOUT)
        try:
            outcome = {}
            for name, account in (("free", free), ("locked", locked)):
                try:
                    with transaction.atomic():
                        with connection.cursor() as cursor:
                            cursor.execute("SET LOCAL lock_timeout = '1s'")
                        outcome[name] = redeem(account, 1, f"order-{name}")
                except OperationalError as error:
                    outcome[name] = error
            return outcome
        finally:
            release.set()

    results = run_concurrently(acme.tenant, 2, hold_lock)

    outcome = results[1]
    assert isinstance(outcome["free"], LedgerEntry)
    assert isinstance(outcome["locked"], OperationalError)
    assert "lock timeout" in str(outcome["locked"])
    with tenant_context(acme.tenant):
        assert dict(PointsAccount.objects.values_list("pk", "balance")) == {locked.pk: 10, free.pk: 9}
        assert not LedgerEntry.objects.filter(idempotency_key="order-locked").exists()


def test_concurrent_reversals_of_one_entry_post_exactly_one(acme: World) -> None:
    account = account_with(acme, 100)
    with tenant_context(acme.tenant):
        entry = LedgerEntry.objects.get(account=account)

    results = run_concurrently(
        acme.tenant, 10, lambda index: entry_reverse(entry=entry, actor=None, reason="Cancelled")
    )

    assert outcomes(results) == Counter({"NoneType": 9, "LedgerEntry": 1})
    with tenant_context(acme.tenant):
        account.refresh_from_db()
        assert list(LedgerEntry.objects.filter(kind=EntryKind.REVERSE).values_list("points", flat=True)) == [-100]
        assert account.balance == 0
        assert ledger_verify().breaches == []


def test_concurrent_expiry_runs_and_debits_expire_each_lot_once(acme: World) -> None:
    set_expiry_rule(acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
    with tenant_context(acme.tenant):
        account = points_account_for(partner=acme.partner)
        now = timezone.now()
        for number in range(5):
            earn(account, 10, f"old-{number}", effective_at=now - timedelta(days=40 + number))
        earn(account, 50, "recent")

    def expire_or_spend(index: int) -> object:
        if index % 2:
            return points_expire_due(now=now)
        return redeem(account, 5, f"order-{index}")

    results = run_concurrently(acme.tenant, 10, expire_or_spend)

    assert outcomes(results) == Counter({"int": 5, "LedgerEntry": 5})
    with tenant_context(acme.tenant):
        account.refresh_from_db()
        expiries = LedgerEntry.objects.filter(kind=EntryKind.EXPIRE)
        assert sum(result for result in results if isinstance(result, int)) == expiries.count()
        assert expiries.values("expired_lot").distinct().count() == expiries.count()
        assert PointsLot.objects.filter(expires_at__lte=now, remaining__gt=0).count() == 0
        expired = -sum(expiries.values_list("points", flat=True))
        assert account.balance == 100 - 5 * 5 - expired
        # Every old lot is spent or expired; what is left is in the recent lot.
        assert account.balance == PointsLot.objects.get(entry__idempotency_key="recent").remaining
        assert ledger_verify().breaches == []


def test_concurrent_first_use_creates_one_account(acme: World) -> None:
    results = run_concurrently(acme.tenant, 10, lambda index: points_account_for(partner=acme.partner))

    assert outcomes(results) == Counter({"PointsAccount": 10})
    assert len({account.pk for account in results}) == 1
    with tenant_context(acme.tenant):
        assert PointsAccount.objects.count() == 1
