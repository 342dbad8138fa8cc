"""Posting to the ledger: idempotency, validation, append-only entries, lots, reversals, expiry, selectors, tenancy."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from loyalty.ledger.models import AppendOnlyError, EntryKind, LedgerEntry, LotAllocation, PointsAccount, PointsLot
from loyalty.ledger.selectors import ExpiringPoints, Liability, ledger_verify, points_expiring, points_liability
from loyalty.ledger.services import (
    IdempotencyConflictError,
    InsufficientPointsError,
    entry_reverse,
    lot_expire,
    points_account_for,
    points_adjust,
    points_expire_due,
    points_post,
)
from loyalty.tenancy.context import CrossTenantError, tenant_context
from loyalty.tenancy.models import Tenant
from tests.conftest import World
from tests.factories import PartnerFactory
from tests.ledger.factories import earn, ledger_snapshot, redeem, set_expiry_rule

only_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's trigger refuses UPDATE only (its flush empties with DELETE)"
)


@pytest.fixture
def in_acme(acme: World):
    with tenant_context(acme.tenant):
        yield acme


@pytest.fixture
def account(in_acme: World) -> PointsAccount:
    return points_account_for(partner=in_acme.partner)


def fresh(account: PointsAccount) -> PointsAccount:
    return PointsAccount.objects.get(pk=account.pk)


def lot_of(entry: LedgerEntry) -> PointsLot:
    return PointsLot.objects.get(entry=entry)


def error_fields(error: ValidationError) -> set[str]:
    return set(error.message_dict)


# Idempotency


def test_replaying_a_posting_returns_the_first_entry_and_writes_nothing_more(account: PointsAccount) -> None:
    first = earn(account, 100, "order-1")
    before = ledger_snapshot()

    replay = earn(account, 100, "order-1")

    assert replay.pk == first.pk
    assert ledger_snapshot() == before
    assert LedgerEntry.objects.count() == 1
    assert PointsLot.objects.count() == 1
    assert fresh(account).balance == 100
    assert fresh(account).lifetime_earned == 100


def test_replay_with_another_memo_returns_the_first_entry_unchanged(account: PointsAccount) -> None:
    first = points_post(account=account, kind=EntryKind.EARN, points=100, idempotency_key="order-1", memo="first")

    replay = points_post(account=account, kind=EntryKind.EARN, points=100, idempotency_key="order-1", memo="second")

    assert replay.pk == first.pk
    assert replay.memo == "first"
    assert LedgerEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("kind", "points", "other_account"),
    [
        pytest.param(EntryKind.EARN, 101, False, id="other-points"),
        pytest.param(EntryKind.REFUND, 100, False, id="other-kind"),
        pytest.param(EntryKind.EARN, 100, True, id="other-account"),
    ],
)
def test_key_reused_for_another_movement_is_refused_and_writes_nothing(
    in_acme: World, account: PointsAccount, kind: str, points: int, other_account: bool
) -> None:
    second_account = points_account_for(partner=in_acme.unmanaged_partner)
    earn(account, 100, "order-1")
    before = ledger_snapshot()

    with pytest.raises(IdempotencyConflictError) as error:
        points_post(
            account=second_account if other_account else account,
            kind=kind,
            points=points,
            idempotency_key="order-1",
        )

    assert error_fields(error.value) == {"idempotency_key"}
    assert ledger_snapshot() == before
    assert fresh(account).balance == 100
    assert fresh(second_account).balance == 0


def test_same_key_in_another_tenant_is_a_separate_posting(account: PointsAccount, globex: World) -> None:
    acme_entry = earn(account, 100, "order-1")
    with tenant_context(globex.tenant):
        globex_account = points_account_for(partner=globex.partner)
        globex_entry = earn(globex_account, 100, "order-1")
        assert fresh(globex_account).balance == 100

    assert globex_entry.pk != acme_entry.pk
    assert LedgerEntry.objects.count() == 1


# Validation: every refusal writes nothing


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param(" ", id="space"),
        pytest.param("order 1", id="inner-space"),
        pytest.param(" order-1", id="leading-space"),
        pytest.param("-order-1", id="leading-hyphen"),
        pytest.param(".order-1", id="leading-dot"),
        pytest.param("order#1", id="hash-sign"),
        pytest.param("ordér-1", id="non-ascii"),
        pytest.param("a" * 201, id="201-characters"),
        pytest.param("order-1\n", id="trailing-newline"),
        pytest.param("a" * 200 + "\n", id="200-characters-and-newline"),
        pytest.param(42, id="int"),
        pytest.param(None, id="none"),
        pytest.param(b"order-1", id="bytes"),
    ],
)
def test_malformed_idempotency_key_is_refused_and_writes_nothing(account: PointsAccount, key: object) -> None:
    with pytest.raises(ValidationError) as error:
        points_post(account=account, kind=EntryKind.EARN, points=10, idempotency_key=key)

    assert type(error.value) is ValidationError
    assert error_fields(error.value) == {"idempotency_key"}
    assert LedgerEntry.objects.count() == 0
    assert PointsLot.objects.count() == 0
    assert fresh(account).balance == 0


@pytest.mark.parametrize("key", ["a", "a" * 200, "Order.1_x:y/z@w-9", "0"])
def test_well_formed_idempotency_key_is_accepted_and_stored_as_given(account: PointsAccount, key: str) -> None:
    entry = earn(account, 10, key)

    assert LedgerEntry.objects.get(pk=entry.pk).idempotency_key == key


@pytest.mark.parametrize(
    "points",
    [
        pytest.param(0, id="zero"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(1.0, id="float"),
        pytest.param(Decimal(5), id="decimal"),
        pytest.param("5", id="string"),
        pytest.param(None, id="none"),
    ],
)
def test_points_other_than_a_nonzero_whole_number_are_refused(account: PointsAccount, points: object) -> None:
    with pytest.raises(ValidationError) as error:
        points_post(account=account, kind=EntryKind.EARN, points=points, idempotency_key="order-1")

    assert error_fields(error.value) == {"points"}
    assert LedgerEntry.objects.count() == 0
    assert fresh(account).balance == 0


@pytest.mark.parametrize(
    ("kind", "points"),
    [(EntryKind.EARN, -5), (EntryKind.REFUND, -5), (EntryKind.REDEEM, 5), (EntryKind.EXPIRE, 5)],
)
def test_points_with_the_wrong_sign_for_the_kind_are_refused(account: PointsAccount, kind: str, points: int) -> None:
    earn(account, 50, "seed")
    before = ledger_snapshot()

    with pytest.raises(ValidationError) as error:
        points_post(account=account, kind=kind, points=points, idempotency_key="order-1")

    assert error_fields(error.value) == {"points"}
    assert ledger_snapshot() == before


def test_unknown_kind_is_refused(account: PointsAccount) -> None:
    with pytest.raises(ValidationError) as error:
        points_post(account=account, kind="gift", points=5, idempotency_key="order-1")

    assert error_fields(error.value) == {"kind"}
    assert LedgerEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("memo", "has_actor"),
    [
        pytest.param("", True, id="no-reason"),
        pytest.param("   \n", True, id="blank-reason"),
        pytest.param("Goodwill", False, id="no-actor"),
        pytest.param("", False, id="neither"),
    ],
)
def test_adjustment_without_reason_or_actor_is_refused(
    in_acme: World, account: PointsAccount, memo: str, has_actor: bool
) -> None:
    with pytest.raises(ValidationError) as error:
        points_post(
            account=account,
            kind=EntryKind.ADJUST,
            points=25,
            memo=memo,
            actor=in_acme.manager if has_actor else None,
            idempotency_key="adjust-1",
        )

    assert error_fields(error.value) == {"memo"}
    assert LedgerEntry.objects.count() == 0
    assert fresh(account).balance == 0


def test_points_adjust_refuses_a_blank_reason(in_acme: World, account: PointsAccount) -> None:
    with pytest.raises(ValidationError) as error:
        points_adjust(partner=in_acme.partner, points=25, reason=" ", actor=in_acme.manager, idempotency_key="adj-1")

    assert error_fields(error.value) == {"memo"}
    assert LedgerEntry.objects.count() == 0


def test_adjustment_with_reason_and_actor_moves_the_balance_both_ways(in_acme: World, account: PointsAccount) -> None:
    up = points_adjust(
        partner=in_acme.partner, points=40, reason="Goodwill", actor=in_acme.manager, idempotency_key="a1"
    )
    down = points_adjust(
        partner=in_acme.partner, points=-15, reason="Typo", actor=in_acme.manager, idempotency_key="a2"
    )

    assert (up.kind, up.points, up.memo, up.actor_id) == (EntryKind.ADJUST, 40, "Goodwill", in_acme.manager.pk)
    assert (down.points, down.balance_after) == (-15, 25)
    assert fresh(account).balance == 25
    assert (fresh(account).lifetime_earned, fresh(account).lifetime_redeemed) == (0, 0)


def test_negative_adjustment_beyond_the_balance_is_refused(in_acme: World, account: PointsAccount) -> None:
    earn(account, 10, "seed")
    before = ledger_snapshot()

    with pytest.raises(InsufficientPointsError):
        points_adjust(partner=in_acme.partner, points=-11, reason="Typo", actor=in_acme.manager, idempotency_key="a1")

    assert ledger_snapshot() == before


def test_redeem_beyond_the_balance_is_refused_and_writes_nothing(account: PointsAccount) -> None:
    earn(account, 10, "seed")
    before = ledger_snapshot()

    with pytest.raises(InsufficientPointsError):
        redeem(account, 11, "order-1")

    assert ledger_snapshot() == before
    assert not LedgerEntry.objects.filter(idempotency_key="order-1").exists()


def test_redeem_of_the_whole_balance_leaves_zero(account: PointsAccount) -> None:
    earn(account, 10, "seed")

    entry = redeem(account, 10, "order-1")

    assert (entry.points, entry.balance_after) == (-10, 0)
    assert fresh(account).balance == 0


def test_reversal_without_the_entry_it_reverses_is_refused(account: PointsAccount) -> None:
    earn(account, 10, "seed")
    before = ledger_snapshot()

    with pytest.raises(ValidationError) as error:
        points_post(account=account, kind=EntryKind.REVERSE, points=-10, idempotency_key="rev-1")

    assert error_fields(error.value) == {"reverses"}
    assert ledger_snapshot() == before


def test_reversal_with_the_same_sign_as_its_entry_is_refused(account: PointsAccount) -> None:
    entry = earn(account, 10, "seed")
    before = ledger_snapshot()

    with pytest.raises(ValidationError) as error:
        points_post(account=account, kind=EntryKind.REVERSE, points=10, idempotency_key="rev-1", reverses=entry)

    assert error_fields(error.value) == {"points"}
    assert ledger_snapshot() == before


def test_reversal_larger_than_the_credit_it_reverses_is_refused(account: PointsAccount) -> None:
    earn(account, 100, "seed")
    small = earn(account, 20, "small")
    before = ledger_snapshot()

    with pytest.raises(ValidationError) as error:
        points_post(account=account, kind=EntryKind.REVERSE, points=-60, idempotency_key="rev-1", reverses=small)

    assert error_fields(error.value) == {"points"}
    assert ledger_snapshot() == before


def test_expiry_without_the_lot_that_expired_is_refused(account: PointsAccount) -> None:
    earn(account, 10, "seed")
    before = ledger_snapshot()

    with pytest.raises(ValidationError) as error:
        points_post(account=account, kind=EntryKind.EXPIRE, points=-10, idempotency_key="exp-1")

    assert error_fields(error.value) == {"expired_lot"}
    assert ledger_snapshot() == before


def test_refund_larger_than_what_its_redeem_took_is_refused(account: PointsAccount) -> None:
    earn(account, 100, "seed")
    spent = redeem(account, 30, "order-1")
    before = ledger_snapshot()

    with pytest.raises(ValidationError) as error:
        points_post(account=account, kind=EntryKind.REFUND, points=31, idempotency_key="refund-1", reverses=spent)

    assert error_fields(error.value) == {"points"}
    assert ledger_snapshot() == before


# Append-only


def test_entry_refuses_save_after_creation(account: PointsAccount) -> None:
    entry = earn(account, 10, "order-1")
    entry.memo = "rewritten"
    entry.points = 1000

    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.save(update_fields=["memo"])

    assert LedgerEntry.objects.values_list("memo", "points").get(pk=entry.pk) == ("", 10)


def test_entry_refuses_delete(account: PointsAccount) -> None:
    entry = earn(account, 10, "order-1")

    with pytest.raises(AppendOnlyError):
        entry.delete()

    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.parametrize("manager_name", ["objects", "all_tenants"])
def test_entry_queryset_refuses_update_bulk_update_and_delete(account: PointsAccount, manager_name: str) -> None:
    entry = earn(account, 10, "order-1")
    manager = getattr(LedgerEntry, manager_name)

    with pytest.raises(AppendOnlyError):
        manager.filter(pk=entry.pk).update(points=1000)
    with pytest.raises(AppendOnlyError):
        manager.update(memo="rewritten")
    entry.memo = "rewritten"
    # bulk_update runs in atomic(savepoint=False): its own savepoint keeps the test's transaction usable.
    with pytest.raises(AppendOnlyError), transaction.atomic():
        manager.bulk_update([entry], ["memo"])
    with pytest.raises(AppendOnlyError):
        manager.filter(pk=entry.pk).delete()
    with pytest.raises(AppendOnlyError):
        manager.all().delete()

    assert LedgerEntry.objects.values_list("memo", "points").get(pk=entry.pk) == ("", 10)


@pytest.mark.parametrize(
    ("table", "assignment"),
    [("ledger_ledgerentry", "points = points + 1000"), ("ledger_lotallocation", "points = points - 1")],
)
def test_database_trigger_refuses_raw_update(account: PointsAccount, table: str, assignment: str) -> None:
    earn(account, 100, "seed")
    redeem(account, 10, "order-1")
    before = ledger_snapshot()

    with (
        pytest.raises(IntegrityError, match=f"{table} is append-only: UPDATE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"UPDATE {table} SET {assignment}")  # noqa: S608 - constant test SQL

    assert ledger_snapshot() == before


@only_postgresql
@pytest.mark.parametrize("table", ["ledger_ledgerentry", "ledger_lotallocation"])
def test_postgresql_trigger_refuses_raw_delete(account: PointsAccount, table: str) -> None:
    earn(account, 100, "seed")
    redeem(account, 10, "order-1")
    before = ledger_snapshot()

    with (
        pytest.raises(IntegrityError, match=f"{table} is append-only: DELETE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - constant test SQL

    assert ledger_snapshot() == before


# Lots


def test_debit_consumes_lots_first_to_expire_and_never_expiring_last(in_acme: World, account: PointsAccount) -> None:
    now = timezone.now()
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.NEVER)
    never = lot_of(earn(account, 100, "never"))
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
    later = lot_of(earn(account, 100, "later", effective_at=now - timedelta(days=5)))
    sooner = lot_of(earn(account, 100, "sooner", effective_at=now - timedelta(days=20)))

    spent = redeem(account, 250, "order-1")

    assert list(spent.allocations.order_by("pk").values_list("lot_id", "points")) == [
        (sooner.pk, -100),
        (later.pk, -100),
        (never.pk, -50),
    ]
    remaining = dict(PointsLot.objects.values_list("pk", "remaining"))
    assert remaining == {sooner.pk: 0, later.pk: 0, never.pk: 50}
    assert fresh(account).balance == 50


def test_lots_expiring_together_are_consumed_oldest_first(in_acme: World, account: PointsAccount) -> None:
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.END_OF_FOLLOWING_YEAR)
    moment = datetime(2025, 3, 1, tzinfo=UTC)
    newer = lot_of(earn(account, 10, "newer", effective_at=moment + timedelta(days=30)))
    older = lot_of(earn(account, 10, "older", effective_at=moment))
    assert newer.expires_at == older.expires_at

    spent = redeem(account, 15, "order-1")

    assert list(spent.allocations.order_by("pk").values_list("lot_id", "points")) == [(older.pk, -10), (newer.pk, -5)]


def test_reversing_a_redeem_restores_exactly_the_lots_it_took(in_acme: World, account: PointsAccount) -> None:
    now = timezone.now()
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
    first = lot_of(earn(account, 30, "first", effective_at=now - timedelta(days=20)))
    second = lot_of(earn(account, 50, "second", effective_at=now - timedelta(days=10)))
    untouched = lot_of(earn(account, 70, "untouched"))
    spent = redeem(account, 60, "order-1")

    reversal = entry_reverse(entry=spent, actor=in_acme.manager, reason="Order cancelled")

    assert (reversal.kind, reversal.points, reversal.reverses_id, reversal.memo) == (
        EntryKind.REVERSE,
        60,
        spent.pk,
        "Order cancelled",
    )
    assert list(reversal.allocations.order_by("pk").values_list("lot_id", "points")) == [
        (first.pk, 30),
        (second.pk, 30),
    ]
    remaining = dict(PointsLot.objects.values_list("pk", "remaining"))
    assert remaining == {first.pk: 30, second.pk: 50, untouched.pk: 70}
    assert PointsLot.objects.count() == 3, "a reversal of a debit opens no new lot"
    assert fresh(account).balance == 150
    assert ledger_verify().breaches == []


def test_partial_refunds_of_a_redeem_restore_its_lots_in_order_and_never_more_than_it_took(
    in_acme: World, account: PointsAccount
) -> None:
    now = timezone.now()
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
    first = lot_of(earn(account, 30, "first", effective_at=now - timedelta(days=20)))
    second = lot_of(earn(account, 50, "second", effective_at=now - timedelta(days=10)))
    spent = redeem(account, 60, "order-1")

    refund = points_post(account=account, kind=EntryKind.REFUND, points=40, idempotency_key="refund-1", reverses=spent)
    rest = entry_reverse(entry=spent, actor=None, reason="Cancelled")

    assert list(refund.allocations.values_list("lot_id", "points")) == [(first.pk, 30), (second.pk, 10)]
    assert rest.points == 20
    assert list(rest.allocations.values_list("lot_id", "points")) == [(second.pk, 20)]
    assert dict(PointsLot.objects.values_list("pk", "remaining")) == {first.pk: 30, second.pk: 50}
    assert entry_reverse(entry=spent, actor=None, reason="Again") is None
    assert LedgerEntry.objects.count() == 5


def test_reversing_an_unspent_earn_takes_back_all_of_it_from_its_own_lot(
    in_acme: World, account: PointsAccount
) -> None:
    now = timezone.now()
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
    sooner = lot_of(earn(account, 40, "sooner", effective_at=now - timedelta(days=20)))
    wrong = earn(account, 100, "wrong")

    reversal = entry_reverse(entry=wrong, actor=in_acme.manager, reason="Duplicate claim")

    assert (reversal.points, reversal.memo, reversal.actor_id) == (-100, "Duplicate claim", in_acme.manager.pk)
    assert list(reversal.allocations.values_list("lot_id", "points")) == [(lot_of(wrong).pk, -100)]
    assert PointsLot.objects.get(pk=sooner.pk).remaining == 40, "the sooner-expiring lot is not touched"
    assert fresh(account).balance == 40
    assert fresh(account).lifetime_earned == 40


def test_reversing_a_spent_earn_claws_back_only_the_balance_and_says_how_much_was_lost(
    in_acme: World, account: PointsAccount
) -> None:
    wrong = earn(account, 100, "wrong")
    redeem(account, 70, "order-1")

    reversal = entry_reverse(entry=wrong, actor=in_acme.manager, reason="Fraudulent claim")

    assert reversal.points == -30
    assert reversal.memo == "Fraudulent claim (70 points already spent could not be recovered)"
    assert reversal.balance_after == 0
    assert fresh(account).balance == 0
    assert fresh(account).lifetime_earned == 70
    assert entry_reverse(entry=wrong, actor=in_acme.manager, reason="Again") is None
    assert LedgerEntry.objects.count() == 3
    assert ledger_verify().breaches == []


def test_reversing_an_entry_twice_posts_nothing_the_second_time(in_acme: World, account: PointsAccount) -> None:
    entry = earn(account, 100, "order-1")
    entry_reverse(entry=entry, actor=None, reason="Cancelled")
    before = ledger_snapshot()

    assert entry_reverse(entry=entry, actor=None, reason="Cancelled") is None
    assert ledger_snapshot() == before


# Expiry


def test_months_rule_expires_lots_that_many_months_after_earning(in_acme: World, account: PointsAccount) -> None:
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=3)
    earned_at = datetime(2025, 11, 30, 15, 0, tzinfo=UTC)

    lot = lot_of(earn(account, 10, "order-1", effective_at=earned_at))

    assert lot.earned_at == earned_at
    assert lot.expires_at == datetime(2026, 2, 28, 15, 0, tzinfo=UTC)


def test_never_rule_gives_lots_no_expiry(in_acme: World, account: PointsAccount) -> None:
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.NEVER)

    lot = lot_of(earn(account, 10, "order-1", effective_at=datetime(2000, 1, 1, tzinfo=UTC)))

    assert lot.expires_at is None
    assert points_expire_due(now=datetime(2100, 1, 1, tzinfo=UTC)) == 0


@pytest.mark.parametrize(
    ("time_zone", "earned_at", "expires_at"),
    [
        pytest.param("UTC", datetime(2025, 6, 15, 12, 0, tzinfo=UTC), datetime(2027, 1, 1, 0, 0, tzinfo=UTC), id="utc"),
        # 12:00 UTC on 31 December is already 1 January 2025 in Auckland: the local year is 2025.
        pytest.param(
            "Pacific/Auckland",
            datetime(2024, 12, 31, 12, 0, tzinfo=UTC),
            datetime(2027, 1, 1, 0, 0, tzinfo=ZoneInfo("Pacific/Auckland")),
            id="auckland-already-next-year",
        ),
        # 03:00 UTC on 1 January is still 31 December 2024 in New York: the local year is 2024.
        pytest.param(
            "America/New_York",
            datetime(2025, 1, 1, 3, 0, tzinfo=UTC),
            datetime(2026, 1, 1, 0, 0, tzinfo=ZoneInfo("America/New_York")),
            id="new-york-still-last-year",
        ),
    ],
)
def test_following_year_rule_expires_on_january_first_two_years_later_in_tenant_time_zone(
    in_acme: World, account: PointsAccount, time_zone: str, earned_at: datetime, expires_at: datetime
) -> None:
    in_acme.tenant.time_zone = time_zone
    in_acme.tenant.save(update_fields=["time_zone"])
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.END_OF_FOLLOWING_YEAR)

    lot = lot_of(earn(account, 10, "order-1", effective_at=earned_at))

    assert lot.expires_at == expires_at
    local = lot.expires_at.astimezone(ZoneInfo(time_zone))
    assert (local.month, local.day, local.hour, local.minute, local.second) == (1, 1, 0, 0, 0)


def test_expiry_posts_one_expire_entry_per_due_lot_dated_at_its_expiry(in_acme: World, account: PointsAccount) -> None:
    now = timezone.now()
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
    due = lot_of(earn(account, 100, "old", effective_at=now - timedelta(days=60)))
    not_due = lot_of(earn(account, 50, "recent", effective_at=now - timedelta(days=5)))
    redeem(account, 30, "order-1")

    assert points_expire_due(now=now) == 1

    expiry = LedgerEntry.objects.get(kind=EntryKind.EXPIRE)
    due.refresh_from_db()
    assert (expiry.points, expiry.expired_lot_id, expiry.effective_at) == (-70, due.pk, due.expires_at)
    assert expiry.balance_after == 50
    assert list(expiry.allocations.values_list("lot_id", "points")) == [(due.pk, -70)]
    assert due.remaining == 0
    assert PointsLot.objects.get(pk=not_due.pk).remaining == 50
    assert fresh(account).balance == 50
    assert (fresh(account).lifetime_earned, fresh(account).lifetime_redeemed) == (150, 30)
    assert ledger_verify().breaches == []


def test_rerunning_expiry_posts_nothing(in_acme: World, account: PointsAccount) -> None:
    now = timezone.now()
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
    lot = lot_of(earn(account, 100, "old", effective_at=now - timedelta(days=60)))
    points_expire_due(now=now)
    before = ledger_snapshot()

    assert points_expire_due(now=now) == 0
    assert points_expire_due(now=now + timedelta(days=1)) == 0
    assert lot_expire(lot=lot, now=now) is None
    assert ledger_snapshot() == before
    assert LedgerEntry.objects.filter(kind=EntryKind.EXPIRE).count() == 1


def test_lot_before_its_expiry_does_not_expire(in_acme: World, account: PointsAccount) -> None:
    now = timezone.now()
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
    lot = lot_of(earn(account, 100, "recent", effective_at=now - timedelta(days=10)))

    assert points_expire_due(now=lot.expires_at - timedelta(microseconds=1)) == 0
    assert lot_expire(lot=lot, now=now) is None
    assert points_expire_due(now=lot.expires_at) == 1
    assert fresh(account).balance == 0


def test_points_restored_to_an_expired_lot_expire_on_the_next_run(in_acme: World, account: PointsAccount) -> None:
    now = timezone.now()
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
    lot = lot_of(earn(account, 100, "old", effective_at=now - timedelta(days=60)))
    spent = redeem(account, 30, "order-1")
    points_expire_due(now=now)
    entry_reverse(entry=spent, actor=None, reason="Order cancelled")
    assert PointsLot.objects.get(pk=lot.pk).remaining == 30

    assert points_expire_due(now=now) == 1

    expiries = list(LedgerEntry.objects.filter(kind=EntryKind.EXPIRE).order_by("pk").values_list("points", flat=True))
    assert expiries == [-70, -30]
    assert fresh(account).balance == 0
    assert ledger_verify().breaches == []


# Selectors


def test_points_expiring_lists_per_partner_what_expires_within_the_window(in_acme: World, globex: World) -> None:
    now = timezone.now()
    month_ago = now - relativedelta(months=1)
    # With a one-month rule, earning at month_ago + n days expires about n days from now (n ± 3 at month ends,
    # so the offsets are at least 4 days apart and well inside or outside the 20-day window).
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
    one = points_account_for(partner=in_acme.partner)
    two = points_account_for(partner=in_acme.unmanaged_partner)
    three = points_account_for(partner=PartnerFactory(tenant=in_acme.tenant))
    soon = lot_of(earn(one, 100, "one-soon", effective_at=month_ago + timedelta(days=5)))
    earn(one, 40, "one-also-soon", effective_at=month_ago + timedelta(days=9))
    earn(one, 500, "one-after-the-window", effective_at=now - timedelta(days=1))
    earn(one, 70, "one-already-expired", effective_at=now - timedelta(days=40))
    sooner = lot_of(earn(two, 25, "two-sooner", effective_at=month_ago + timedelta(days=1)))
    spent = earn(three, 60, "three-spent", effective_at=month_ago + timedelta(days=3))
    redeem(three, 60, "three-order")
    with tenant_context(globex.tenant):
        set_expiry_rule(globex.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
        earn(points_account_for(partner=globex.partner), 999, "globex", effective_at=month_ago + timedelta(days=2))

    expiring = points_expiring(within_days=20)

    assert lot_of(spent).remaining == 0
    assert expiring == [
        ExpiringPoints(partner_id=in_acme.unmanaged_partner.pk, points=25, first_expiry=sooner.expires_at),
        ExpiringPoints(partner_id=in_acme.partner.pk, points=140, first_expiry=soon.expires_at),
    ]
    assert points_expiring(within_days=0) == []


def test_liability_is_the_sum_of_balances_times_the_point_value(in_acme: World, globex: World) -> None:
    in_acme.tenant.point_value = Decimal("0.025")
    in_acme.tenant.currency = "EUR"
    in_acme.tenant.save(update_fields=["point_value", "currency"])
    one = points_account_for(partner=in_acme.partner)
    two = points_account_for(partner=in_acme.unmanaged_partner)
    earn(one, 100, "one")
    earn(two, 300, "two")
    redeem(two, 50, "two-order")
    with tenant_context(globex.tenant):
        earn(points_account_for(partner=globex.partner), 10_000, "globex")

    assert points_liability() == Liability(points=350, value=Decimal("8.75"), currency="EUR")


def test_liability_of_an_empty_ledger_is_zero(in_acme: World) -> None:
    assert points_liability() == Liability(points=0, value=Decimal("0.00"), currency="USD")


def test_lifetime_totals_follow_earn_redeem_refund_and_earn_reversal(in_acme: World, account: PointsAccount) -> None:
    first = earn(account, 100, "earn-1")
    earn(account, 50, "earn-2")
    spent = redeem(account, 80, "order-1")
    assert (fresh(account).lifetime_earned, fresh(account).lifetime_redeemed) == (150, 80)

    points_post(account=account, kind=EntryKind.REFUND, points=30, idempotency_key="refund-1", reverses=spent)
    assert (fresh(account).lifetime_earned, fresh(account).lifetime_redeemed) == (150, 50)

    entry_reverse(entry=first, actor=None, reason="Cancelled")
    assert (fresh(account).lifetime_earned, fresh(account).lifetime_redeemed) == (50, 50)

    points_adjust(partner=in_acme.partner, points=5, reason="Goodwill", actor=in_acme.manager, idempotency_key="a1")
    assert (fresh(account).lifetime_earned, fresh(account).lifetime_redeemed) == (50, 50)
    assert fresh(account).balance == 5


def test_reversing_a_redeem_gives_back_lifetime_redeemed_like_a_refund(account: PointsAccount) -> None:
    earn(account, 100, "earn-1")
    refunded = redeem(account, 30, "order-1")
    reversed_ = redeem(account, 30, "order-2")
    points_post(account=account, kind=EntryKind.REFUND, points=30, idempotency_key="refund-1", reverses=refunded)
    assert fresh(account).lifetime_redeemed == 30

    entry_reverse(entry=reversed_, actor=None, reason="Order cancelled")

    assert fresh(account).balance == 100
    assert fresh(account).lifetime_redeemed == 0


# Tenancy and accounts


def test_posting_to_another_tenants_account_raises_and_writes_nothing(in_acme: World, globex: World) -> None:
    with tenant_context(globex.tenant):
        globex_account = points_account_for(partner=globex.partner)
        earn(globex_account, 100, "seed")
        globex_before = ledger_snapshot()

    with pytest.raises((CrossTenantError, ObjectDoesNotExist)):
        points_post(account=globex_account, kind=EntryKind.REDEEM, points=-100, idempotency_key="steal")
    with pytest.raises((CrossTenantError, ObjectDoesNotExist)):
        points_post(account=globex_account, kind=EntryKind.EARN, points=100, idempotency_key="seed")

    assert LedgerEntry.objects.count() == 0
    assert PointsAccount.objects.count() == 0
    with tenant_context(globex.tenant):
        assert ledger_snapshot() == globex_before


def test_reversing_another_tenants_entry_raises_and_writes_nothing(in_acme: World, globex: World) -> None:
    with tenant_context(globex.tenant):
        globex_entry = earn(points_account_for(partner=globex.partner), 100, "seed")
        globex_before = ledger_snapshot()

    with pytest.raises((CrossTenantError, ObjectDoesNotExist)):
        entry_reverse(entry=globex_entry, actor=in_acme.manager, reason="Nope")

    assert LedgerEntry.objects.count() == 0
    with tenant_context(globex.tenant):
        assert ledger_snapshot() == globex_before


def test_account_for_another_tenants_partner_is_refused(in_acme: World, globex: World) -> None:
    with pytest.raises(CrossTenantError):
        points_account_for(partner=globex.partner)

    assert PointsAccount.all_tenants.count() == 0


def test_account_is_created_once_per_partner(in_acme: World) -> None:
    first = points_account_for(partner=in_acme.partner)
    again = points_account_for(partner=in_acme.partner)

    assert first.pk == again.pk
    assert (again.balance, again.lifetime_earned, again.lifetime_redeemed, again.chain_head) == (0, 0, 0, "")
    assert PointsAccount.objects.count() == 1


def test_reversal_naming_another_accounts_entry_is_refused(in_acme: World, account: PointsAccount) -> None:
    other = points_account_for(partner=in_acme.unmanaged_partner)
    earn(other, 100, "other-seed")
    others_redeem = redeem(other, 40, "other-order")
    earn(account, 10, "seed")
    before = ledger_snapshot()

    with pytest.raises(ValidationError):
        points_post(
            account=account, kind=EntryKind.REFUND, points=40, idempotency_key="refund-1", reverses=others_redeem
        )

    assert ledger_snapshot() == before
    assert ledger_verify().breaches == []


def test_expiry_naming_another_accounts_lot_is_refused(in_acme: World, account: PointsAccount) -> None:
    other = points_account_for(partner=in_acme.unmanaged_partner)
    others_lot = lot_of(earn(other, 100, "other-seed"))
    earn(account, 100, "seed")
    before = ledger_snapshot()

    with pytest.raises(ValidationError):
        points_post(
            account=account, kind=EntryKind.EXPIRE, points=-100, idempotency_key="expire-1", expired_lot=others_lot
        )

    assert ledger_snapshot() == before
    assert ledger_verify().breaches == []


def test_consistent_ledger_after_every_kind_of_posting_has_no_breaches(in_acme: World, account: PointsAccount) -> None:
    now = timezone.now()
    set_expiry_rule(in_acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=1)
    earned = earn(account, 100, "earn-1", effective_at=now - timedelta(days=45))
    earn(account, 100, "earn-2")
    spent = redeem(account, 20, "order-1")
    points_post(account=account, kind=EntryKind.REFUND, points=5, idempotency_key="refund-1", reverses=spent)
    points_adjust(partner=in_acme.partner, points=-7, reason="Typo", actor=in_acme.manager, idempotency_key="a1")
    points_expire_due(now=now)
    entry_reverse(entry=earned, actor=None, reason="Cancelled")

    report = ledger_verify()

    assert (report.accounts, report.entries, report.breaches) == (1, LedgerEntry.objects.count(), [])
    assert fresh(account).balance == sum(LedgerEntry.objects.values_list("points", flat=True))
    assert fresh(account).balance == sum(PointsLot.objects.values_list("remaining", flat=True))
    assert LotAllocation.objects.count() > 0
