"""Stateful property test: any sequence of postings keeps the ledger equal to a plain Python model of it.

The model keeps the balance and every lot's remaining points, consuming lots first-to-expire (never-expiring
last) and restoring exactly what a debit took when it is reversed or refunded. After every step the database
must agree with it, and balance = Σ entries = Σ lots remaining, with ledger_verify() finding nothing.
"""

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount, PointsLot
from loyalty.ledger.selectors import ledger_verify
from loyalty.ledger.services import (
    IdempotencyConflictError,
    InsufficientPointsError,
    entry_reverse,
    points_adjust,
    points_expire_due,
    points_post,
)
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant
from tests.conftest import World
from tests.ledger.factories import PointsAccountFactory, set_expiry_rule

EXPIRY_MONTHS = 1
NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass
class ModelLot:
    points: int
    remaining: int
    earned_at: datetime
    expires_at: datetime | None


@dataclass
class ModelEntry:
    kind: str
    points: int
    own_lot: int | None = None
    # (lot pk, points) in the order the posting took or restored them.
    allocations: list[tuple[int, int]] = field(default_factory=list)


class LedgerMachine(RuleBasedStateMachine):
    """One fresh account per example, inside a savepoint that is rolled back when the example ends."""

    world: World

    def __init__(self) -> None:
        super().__init__()
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        self._tenant = tenant_context(self.world.tenant)
        self._tenant.__enter__()
        self.account = PointsAccountFactory(tenant=self.world.tenant)
        self.now = timezone.now()
        self.sequence = itertools.count()
        self.balance = 0
        self.lots: dict[int, ModelLot] = {}
        self.entries: dict[int, ModelEntry] = {}
        self.reversed_total: dict[int, int] = defaultdict(int)
        self.restored: dict[tuple[int, int], int] = defaultdict(int)
        self.earn_keys: list[tuple[str, int, int]] = []

    def teardown(self) -> None:
        self._tenant.__exit__(None, None, None)
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    # The model

    def key(self, kind: str) -> str:
        return f"{kind}-{next(self.sequence)}"

    def open_lots_in_consumption_order(self, preferred_lot: int | None) -> list[int]:
        open_lots = [pk for pk, lot in self.lots.items() if lot.remaining > 0]
        open_lots.sort(key=lambda pk: (self.lots[pk].expires_at or NEVER, self.lots[pk].earned_at, pk))
        return sorted(open_lots, key=lambda pk: pk != preferred_lot)

    def model_credit_new_lot(self, entry: LedgerEntry) -> None:
        lot = PointsLot.objects.get(entry=entry)
        expected_expiry = (
            None
            if self.world.tenant.points_expiry == Tenant.PointsExpiry.NEVER
            else entry.effective_at + relativedelta(months=EXPIRY_MONTHS)
        )
        assert (lot.points, lot.remaining, lot.earned_at, lot.expires_at) == (
            entry.points,
            entry.points,
            entry.effective_at,
            expected_expiry,
        )
        self.lots[lot.pk] = ModelLot(entry.points, entry.points, entry.effective_at, expected_expiry)
        self.entries[entry.pk] = ModelEntry(entry.kind, entry.points, own_lot=lot.pk)
        self.balance += entry.points

    def model_debit(self, entry: LedgerEntry, *, preferred_lot: int | None = None) -> None:
        needed = -entry.points
        allocations = []
        for pk in self.open_lots_in_consumption_order(preferred_lot):
            take = min(self.lots[pk].remaining, needed)
            self.lots[pk].remaining -= take
            allocations.append((pk, -take))
            needed -= take
            if needed == 0:
                break
        assert needed == 0, "the model let a debit through that its lots cannot cover"
        self.entries[entry.pk] = ModelEntry(entry.kind, entry.points, allocations=allocations)
        self.balance += entry.points

    def model_restore(self, entry: LedgerEntry, reversed_pk: int) -> None:
        to_restore = entry.points
        allocations = []
        for lot_pk, taken in self.entries[reversed_pk].allocations:
            room = -taken - self.restored[(reversed_pk, lot_pk)]
            take = min(room, to_restore)
            if take <= 0:
                continue
            self.lots[lot_pk].remaining += take
            self.restored[(reversed_pk, lot_pk)] += take
            allocations.append((lot_pk, take))
            to_restore -= take
            if to_restore == 0:
                break
        assert to_restore == 0
        self.entries[entry.pk] = ModelEntry(entry.kind, entry.points, allocations=allocations)
        self.reversed_total[reversed_pk] += entry.points
        self.balance += entry.points

    def assert_allocations_match_the_model(self, entry: LedgerEntry) -> None:
        actual = list(entry.allocations.order_by("pk").values_list("lot_id", "points"))
        assert actual == self.entries[entry.pk].allocations

    # Rules

    @rule(points=st.integers(1, 500), days_ago=st.sampled_from([0, 10, 25, 40, 70]))
    def earn(self, points: int, days_ago: int) -> None:
        key = self.key("earn")
        entry = points_post(
            account=self.account,
            kind=EntryKind.EARN,
            points=points,
            idempotency_key=key,
            effective_at=self.now - timedelta(days=days_ago),
        )
        self.model_credit_new_lot(entry)
        self.earn_keys.append((key, entry.pk, points))

    @rule(points=st.integers(1, 300))
    def earn_never_expiring(self, points: int) -> None:
        set_expiry_rule(self.world.tenant, Tenant.PointsExpiry.NEVER)
        try:
            entry = points_post(
                account=self.account, kind=EntryKind.EARN, points=points, idempotency_key=self.key("earn")
            )
            self.model_credit_new_lot(entry)
        finally:
            set_expiry_rule(self.world.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=EXPIRY_MONTHS)

    @rule(points=st.integers(1, 600))
    def spend(self, points: int) -> None:
        key = self.key("redeem")
        if points > self.balance:
            with pytest.raises(InsufficientPointsError):
                points_post(account=self.account, kind=EntryKind.REDEEM, points=-points, idempotency_key=key)
            assert not LedgerEntry.objects.filter(idempotency_key=key).exists()
            return
        entry = points_post(account=self.account, kind=EntryKind.REDEEM, points=-points, idempotency_key=key)
        assert entry.balance_after == self.balance - points
        self.model_debit(entry)
        self.assert_allocations_match_the_model(entry)

    @rule(points=st.integers(-600, 600).filter(bool), reason=st.sampled_from(["Goodwill", "Correction", "", "  "]))
    def adjust(self, points: int, reason: str) -> None:
        key = self.key("adjust")

        def post() -> LedgerEntry:
            return points_adjust(
                partner=self.account.partner,
                points=points,
                reason=reason,
                actor=self.world.manager,
                idempotency_key=key,
            )

        if not reason.strip():
            with pytest.raises(ValidationError) as error:
                post()
            assert set(error.value.message_dict) == {"memo"}
            return
        if -points > self.balance:
            with pytest.raises(InsufficientPointsError):
                post()
            return
        entry = post()
        assert (entry.kind, entry.memo, entry.actor_id) == (EntryKind.ADJUST, reason, self.world.manager.pk)
        if points > 0:
            self.model_credit_new_lot(entry)
        else:
            self.model_debit(entry)
            self.assert_allocations_match_the_model(entry)

    @precondition(lambda self: self.entries)
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        reversed_pk = data.draw(st.sampled_from(sorted(self.entries)), label="entry to reverse")
        model = self.entries[reversed_pk]
        outstanding = model.points + self.reversed_total[reversed_pk]
        clawed_short = outstanding > 0 and outstanding > self.balance
        amount = -self.balance if clawed_short else -outstanding

        reversal = entry_reverse(entry=LedgerEntry.objects.get(pk=reversed_pk), actor=None, reason="Cancelled")

        if amount == 0:
            assert reversal is None
            return
        assert (reversal.kind, reversal.points, reversal.reverses_id) == (EntryKind.REVERSE, amount, reversed_pk)
        if clawed_short:
            lost = outstanding - self.balance
            assert reversal.memo == f"Cancelled ({lost} points already spent could not be recovered)"
        else:
            assert reversal.memo == "Cancelled"
        if amount > 0:
            self.model_restore(reversal, reversed_pk)
        else:
            self.model_debit(reversal, preferred_lot=model.own_lot)
            self.reversed_total[reversed_pk] += amount
        self.assert_allocations_match_the_model(reversal)

    @precondition(lambda self: any(entry.kind == EntryKind.REDEEM for entry in self.entries.values()))
    @rule(data=st.data(), points=st.integers(1, 300))
    def refund(self, data: st.DataObject, points: int) -> None:
        redeems = sorted(pk for pk, entry in self.entries.items() if entry.kind == EntryKind.REDEEM)
        redeem_pk = data.draw(st.sampled_from(redeems), label="redeem to refund")
        refundable = -(self.entries[redeem_pk].points + self.reversed_total[redeem_pk])
        key = self.key("refund")

        def post() -> LedgerEntry:
            return points_post(
                account=self.account,
                kind=EntryKind.REFUND,
                points=points,
                idempotency_key=key,
                reverses=LedgerEntry.objects.get(pk=redeem_pk),
            )

        if points > refundable:
            with pytest.raises(ValidationError) as error:
                post()
            assert set(error.value.message_dict) == {"points"}
            assert not LedgerEntry.objects.filter(idempotency_key=key).exists()
            return
        refund = post()
        self.model_restore(refund, redeem_pk)
        self.assert_allocations_match_the_model(refund)

    @rule(days=st.integers(1, 45))
    def advance_clock(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule()
    def expire_due(self) -> None:
        due = sorted(
            pk
            for pk, lot in self.lots.items()
            if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= self.now
        )
        last_pk = max(self.entries, default=0)

        assert points_expire_due(now=self.now) == len(due)

        expiries = list(LedgerEntry.objects.filter(account=self.account, pk__gt=last_pk).order_by("pk"))
        assert [entry.expired_lot_id for entry in expiries] == due
        for entry in expiries:
            lot = self.lots[entry.expired_lot_id]
            assert (entry.kind, entry.points, entry.effective_at) == (EntryKind.EXPIRE, -lot.remaining, lot.expires_at)
            self.entries[entry.pk] = ModelEntry(
                entry.kind, entry.points, allocations=[(entry.expired_lot_id, -lot.remaining)]
            )
            self.balance -= lot.remaining
            lot.remaining = 0
            self.assert_allocations_match_the_model(entry)
        assert points_expire_due(now=self.now) == 0, "a second run expires nothing"

    @precondition(lambda self: self.earn_keys)
    @rule(data=st.data(), same_points=st.booleans())
    def replay(self, data: st.DataObject, same_points: bool) -> None:
        key, pk, points = data.draw(st.sampled_from(self.earn_keys), label="earlier earn")

        def post(amount: int) -> LedgerEntry:
            return points_post(account=self.account, kind=EntryKind.EARN, points=amount, idempotency_key=key)

        if same_points:
            assert post(points).pk == pk
        else:
            with pytest.raises(IdempotencyConflictError):
                post(points + 1)

    # Invariants

    @invariant()
    def ledger_matches_the_model(self) -> None:
        account = PointsAccount.objects.get(pk=self.account.pk)
        entries_total = LedgerEntry.objects.filter(account=account).aggregate(total=Sum("points"))["total"] or 0
        lots = {
            pk: (points, remaining) for pk, points, remaining in account.lots.values_list("pk", "points", "remaining")
        }

        assert account.balance == self.balance
        assert account.balance >= 0
        assert entries_total == account.balance
        assert sum(remaining for _points, remaining in lots.values()) == account.balance
        assert all(0 <= remaining <= points for points, remaining in lots.values())
        assert {pk: remaining for pk, (_points, remaining) in lots.items()} == {
            pk: lot.remaining for pk, lot in self.lots.items()
        }
        assert LedgerEntry.objects.filter(account=account).count() == len(self.entries)
        assert ledger_verify().breaches == []


def test_ledger_matches_its_model_through_any_sequence_of_postings(acme: World) -> None:
    set_expiry_rule(acme.tenant, Tenant.PointsExpiry.MONTHS_AFTER_EARNING, months=EXPIRY_MONTHS)
    machine = type("AcmeLedgerMachine", (LedgerMachine,), {"world": acme})

    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

    with tenant_context(acme.tenant):
        assert LedgerEntry.objects.count() == 0, "every example rolled back its savepoint"
