"""Bulk posting (points_post_many, points_accounts_for): what points_post gives one by one, in a few statements."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount, PointsLot
from loyalty.ledger.selectors import ledger_verify
from loyalty.ledger.services import (
    Credit,
    IdempotencyConflictError,
    points_account_for,
    points_accounts_for,
    points_credit_many,
    points_post,
    points_post_many,
)
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant
from tests.conftest import World
from tests.factories import PartnerFactory
from tests.ledger.factories import ledger_snapshot, set_expiry_rule


@pytest.fixture
def in_acme(acme: World):
    with tenant_context(acme.tenant):
        yield acme


MOMENT = timezone.now().replace(microsecond=0) - timedelta(days=3)


def credits_for(accounts: list[PointsAccount], prefix: str) -> list[Credit]:
    moment = MOMENT
    return [
        Credit(
            account_id=accounts[n % len(accounts)].pk,
            kind=EntryKind.EARN,
            points=10 + n,
            idempotency_key=f"{prefix}:{n}",
            memo=f"credit {n}",
            effective_at=moment + timedelta(hours=n),
        )
        for n in range(7)
    ]


def state(accounts: list[PointsAccount]) -> list[tuple]:
    """Balances, counters, entries and lots per account position (ids and hashes differ between two runs)."""
    rows = []
    for position, account in enumerate(accounts):
        fresh = PointsAccount.objects.get(pk=account.pk)
        entries = list(
            LedgerEntry.objects.filter(account=account)
            .order_by("pk")
            .values_list("kind", "points", "balance_after", "effective_at", "memo")
        )
        lots = list(
            PointsLot.objects.filter(account=account)
            .order_by("pk")
            .values_list("points", "remaining", "earned_at", "expires_at")
        )
        rows.append((position, fresh.balance, fresh.lifetime_earned, fresh.lifetime_redeemed, entries, lots))
    return rows


def test_many_credits_equal_the_same_credits_posted_one_by_one(in_acme: World) -> None:
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=12)
    bulk_accounts = [points_account_for(partner=PartnerFactory(tenant=in_acme.tenant)) for _ in range(3)]
    single_accounts = [points_account_for(partner=PartnerFactory(tenant=in_acme.tenant)) for _ in range(3)]
    # A debit first, so the bulk path continues an existing chain and balance.
    for account in (bulk_accounts[0], single_accounts[0]):
        points_post(
            account=account, kind=EntryKind.EARN, points=50, idempotency_key=f"seed:{account.pk}", effective_at=MOMENT
        )
        points_post(
            account=account,
            kind=EntryKind.REDEEM,
            points=-20,
            idempotency_key=f"spend:{account.pk}",
            effective_at=MOMENT,
        )

    entries = points_post_many(credits=credits_for(bulk_accounts, "bulk"))
    for credit in credits_for(single_accounts, "single"):
        points_post(
            account=PointsAccount.objects.get(pk=credit.account_id),
            kind=credit.kind,
            points=credit.points,
            idempotency_key=credit.idempotency_key,
            memo=credit.memo,
            effective_at=credit.effective_at,
        )

    assert [entry.points for entry in entries] == [10, 11, 12, 13, 14, 15, 16]
    assert state(bulk_accounts) == state(single_accounts)
    assert PointsAccount.objects.get(pk=bulk_accounts[0].pk).balance == 30 + 10 + 13 + 16
    assert ledger_verify().breaches == []


def test_a_repeated_key_returns_the_first_entry_and_writes_nothing(in_acme: World) -> None:
    account = points_account_for(partner=in_acme.partner)
    first = points_post_many(credits=credits_for([account], "k"))
    before = ledger_snapshot()
    again = points_post_many(credits=credits_for([account], "k"))
    assert [entry.pk for entry in again] == [entry.pk for entry in first]
    assert ledger_snapshot() == before


def test_a_repeat_within_the_batch_is_posted_once(in_acme: World) -> None:
    account = points_account_for(partner=in_acme.partner)
    credit = Credit(account_id=account.pk, kind=EntryKind.EARN, points=5, idempotency_key="same")
    first, second = points_post_many(credits=[credit, credit])
    assert first is second
    assert LedgerEntry.objects.count() == 1
    assert PointsAccount.objects.get(pk=account.pk).balance == 5


def test_a_key_used_for_another_movement_conflicts_and_nothing_is_written(in_acme: World) -> None:
    account = points_account_for(partner=in_acme.partner)
    points_post(account=account, kind=EntryKind.EARN, points=5, idempotency_key="taken")
    before = ledger_snapshot()
    credits = [
        Credit(account_id=account.pk, kind=EntryKind.EARN, points=9, idempotency_key="fresh"),
        Credit(account_id=account.pk, kind=EntryKind.EARN, points=6, idempotency_key="taken"),
    ]
    with pytest.raises(IdempotencyConflictError):
        points_post_many(credits=credits)
    assert ledger_snapshot() == before


@pytest.mark.parametrize(
    ("credit", "field"),
    [
        ({"kind": EntryKind.REDEEM, "points": -5}, "points"),
        ({"kind": EntryKind.ADJUST, "points": -5, "memo": "fix"}, "memo"),
        ({"kind": EntryKind.EARN, "points": 0}, "points"),
        ({"kind": EntryKind.EARN, "points": 5, "idempotency_key": "no spaces"}, "idempotency_key"),
        ({"kind": EntryKind.ADJUST, "points": 5}, "memo"),
    ],
)
def test_only_valid_credits_are_posted_in_bulk(in_acme: World, credit: dict, field: str) -> None:
    account = points_account_for(partner=in_acme.partner)
    fields = {"account_id": account.pk, "idempotency_key": "k"} | credit
    good = Credit(account_id=account.pk, kind=EntryKind.EARN, points=3, idempotency_key="good")
    with pytest.raises(ValidationError) as error:
        points_post_many(credits=[good, Credit(**fields)])
    assert field in error.value.message_dict
    assert LedgerEntry.objects.count() == 0


def test_another_tenants_account_is_unknown(in_acme: World, globex: World) -> None:
    with tenant_context(globex.tenant):
        theirs = points_account_for(partner=globex.partner)
    with pytest.raises(ValidationError) as error:
        points_post_many(credits=[Credit(account_id=theirs.pk, kind=EntryKind.EARN, points=3, idempotency_key="x")])
    assert error.value.message_dict == {"account": ["Unknown points account."]}
    assert LedgerEntry.objects.count() == 0


def test_accounts_for_many_partners_are_found_or_created_once(in_acme: World) -> None:
    existing = points_account_for(partner=in_acme.partner)
    accounts = points_accounts_for(partner_ids=[in_acme.partner.pk, in_acme.unmanaged_partner.pk])
    assert accounts[in_acme.partner.pk] == existing.pk
    assert PointsAccount.objects.get(pk=accounts[in_acme.unmanaged_partner.pk]).partner == in_acme.unmanaged_partner
    assert points_accounts_for(partner_ids=[in_acme.partner.pk, in_acme.unmanaged_partner.pk]) == accounts
    assert PointsAccount.objects.count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite batches large inserts by its parameter limit")
def test_query_count_does_not_grow_with_the_batch(in_acme: World) -> None:
    accounts = [points_account_for(partner=PartnerFactory(tenant=in_acme.tenant)) for _ in range(5)]
    counts = []
    for size, prefix in ((5, "a"), (400, "b")):
        credits = [
            Credit(account_id=accounts[n % 5].pk, kind=EntryKind.EARN, points=1 + n, idempotency_key=f"{prefix}:{n}")
            for n in range(size)
        ]
        with CaptureQueriesContext(connection) as captured:
            points_post_many(credits=credits)
        counts.append(len(captured.captured_queries))
    # Savepoint, accounts locked, existing keys, savepoint, insert entries, release, insert lots, update accounts,
    # release.
    assert counts == [9, 9]
    assert ledger_verify().breaches == []


# --- points_credit_many: the COPY-staged posting of ingestion --------------------------------------------------


def test_staged_credits_equal_the_same_credits_posted_one_by_one(in_acme: World) -> None:
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=12)
    staged_accounts = [points_account_for(partner=PartnerFactory(tenant=in_acme.tenant)) for _ in range(3)]
    bulk_accounts = [points_account_for(partner=PartnerFactory(tenant=in_acme.tenant)) for _ in range(3)]
    for account in (staged_accounts[0], bulk_accounts[0]):  # an existing chain and balance to continue
        for kind, points, key in ((EntryKind.EARN, 50, "seed"), (EntryKind.REDEEM, -20, "spend")):
            points_post(
                account=account, kind=kind, points=points, idempotency_key=f"{key}:{account.pk}", effective_at=MOMENT
            )
    assert points_credit_many(credits=credits_for(staged_accounts, "staged")) == 7
    points_post_many(credits=credits_for(bulk_accounts, "bulk"))
    assert state(staged_accounts) == state(bulk_accounts)
    assert ledger_verify().breaches == []  # the hash chain continues, balance = Σ entries = Σ lots


def test_staged_credits_skip_a_key_already_posted_for_the_same_movement(in_acme: World) -> None:
    account = points_account_for(partner=in_acme.partner)
    points_post(account=account, kind=EntryKind.EARN, points=11, idempotency_key="k:1")
    credits = credits_for([account], "k")
    assert points_credit_many(credits=[*credits, credits[2]]) == 6  # k:1 stored, k:2 repeated in the batch
    before = ledger_snapshot()
    assert points_credit_many(credits=credits) == 0
    assert ledger_snapshot() == before
    assert PointsAccount.objects.get(pk=account.pk).balance == sum(credit.points for credit in credits)
    assert ledger_verify().breaches == []


@pytest.mark.parametrize("position", [0, 1])
def test_staged_credits_refuse_a_key_used_for_another_movement_and_write_nothing(in_acme: World, position: int) -> None:
    account = points_account_for(partner=in_acme.partner)
    points_post(account=account, kind=EntryKind.EARN, points=5, idempotency_key="taken")
    before = ledger_snapshot()
    credits = [Credit(account_id=account.pk, kind=EntryKind.EARN, points=9, idempotency_key="fresh")]
    credits.insert(position, Credit(account_id=account.pk, kind=EntryKind.EARN, points=6, idempotency_key="taken"))
    with pytest.raises(IdempotencyConflictError):
        points_credit_many(credits=credits)
    assert ledger_snapshot() == before


def test_staged_credits_refuse_invalid_credits_and_another_tenants_account(in_acme: World, globex: World) -> None:
    account = points_account_for(partner=in_acme.partner)
    with pytest.raises(ValidationError) as error:
        points_credit_many(
            credits=[Credit(account_id=account.pk, kind=EntryKind.REDEEM, points=-5, idempotency_key="x")]
        )
    assert "points" in error.value.message_dict
    with tenant_context(globex.tenant):
        theirs = points_account_for(partner=globex.partner)
    with pytest.raises(ValidationError) as error:
        points_credit_many(credits=[Credit(account_id=theirs.pk, kind=EntryKind.EARN, points=3, idempotency_key="x")])
    assert error.value.message_dict == {"account": ["Unknown points account."]}
    assert LedgerEntry.objects.count() == 0
