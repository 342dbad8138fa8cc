"""`points_post_locked` (issue 24, item 4): postings under a lock the caller already holds (`partner_account_lock`),
several in one transaction; a debit's lots taken in one statement, in consumption order; replays found without a
lookup before the insert."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.ledger.lock_objects import partner_account_lock
from loyalty.ledger.models import EntryKind, LotAllocation, PointsAccount, PointsLot
from loyalty.ledger.selectors import ledger_verify
from loyalty.ledger.services import (
    IdempotencyConflictError,
    InsufficientPointsError,
    entry_reverse,
    points_post_locked,
)
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import CrossTenantError
from rewards.services import reward_redeem
from tests.conftest import World
from tests.ledger.factories import earn, is_postgresql, ledger_snapshot, redeem
from tests.rewards.factories import RewardFactory, give_points


@pytest.fixture
def in_acme(acme: World):
    with tenant_context(acme.tenant):
        yield acme


def test_postings_under_one_lock_chain_and_total_as_one_by_one(in_acme: World) -> None:
    with transaction.atomic():
        account = partner_account_lock(partner=in_acme.partner)  # created, then locked
        points_post_locked(account=account, kind=EntryKind.EARN, points=300, idempotency_key="a")
        points_post_locked(account=account, kind=EntryKind.EARN, points=200, idempotency_key="b")
        points_post_locked(account=account, kind=EntryKind.REDEEM, points=-450, idempotency_key="c")
    assert (account.balance, account.lifetime_earned, account.lifetime_redeemed) == (50, 500, 450)
    stored = PointsAccount.objects.get(pk=account.pk)
    assert (stored.balance, stored.chain_head) == (50, account.chain_head)
    assert ledger_verify().breaches == []


def test_a_debit_takes_its_lots_first_to_expire_first_in_one_statement(in_acme: World) -> None:
    account = partner_account_lock(partner=in_acme.partner)
    now = timezone.now()
    earned = [earn(account, 100, f"earn-{days}", effective_at=now - timedelta(days=days)) for days in (3, 2, 1)]
    lots = [entry.lot for entry in earned]
    with CaptureQueriesContext(transaction.get_connection()) as captured:
        debit = redeem(account, 250, "spend")
    takes = [query["sql"] for query in captured.captured_queries if "ledger_lotallocation" in query["sql"]]
    if is_postgresql():  # elsewhere an update per lot
        assert len(takes) == 1
        assert "UPDATE ledger_pointslot" in takes[0]
    allocations = list(LotAllocation.objects.filter(entry=debit).order_by("pk").values_list("lot_id", "points"))
    assert allocations == [(lots[0].pk, -100), (lots[1].pk, -100), (lots[2].pk, -50)]
    entry_reverse(entry=debit, actor=None, reason="Refund")
    assert ledger_verify().breaches == []
    remaining = PointsLot.objects.filter(pk__in=[lot.pk for lot in lots]).order_by("pk").values_list("remaining")
    assert [value for (value,) in remaining] == [100, 100, 100]


def test_a_replay_returns_the_first_entry_even_when_it_would_now_be_refused(in_acme: World) -> None:
    account = partner_account_lock(partner=in_acme.partner)
    earn(account, 100, "earn")
    first = redeem(account, 80, "spend")
    before = ledger_snapshot()
    assert redeem(account, 80, "spend").pk == first.pk  # 20 left: refused as new, returned as a replay
    with pytest.raises(IdempotencyConflictError):
        redeem(account, 10, "spend")
    with pytest.raises(InsufficientPointsError):
        redeem(account, 80, "spend-again")
    assert ledger_snapshot() == before


def test_an_entry_linked_to_another_tenants_row_is_refused_before_it_is_written(in_acme: World, globex: World) -> None:
    """The insert skips `save()`; the checks `save()` makes of a tenant-owned row are still made."""
    with tenant_context(globex.tenant):
        give_points(globex.partner, 100, "theirs")
        theirs = reward_redeem(
            partner=globex.partner,
            requested_by=globex.partner_user,
            reward=RewardFactory(points_cost=10),
            idempotency_key="their-order",
        )
    account = partner_account_lock(partner=in_acme.partner)
    earn(account, 100, "ours")
    before = ledger_snapshot()
    with pytest.raises(CrossTenantError), transaction.atomic():
        points_post_locked(account=account, kind=EntryKind.REFUND, points=5, idempotency_key="x", redemption=theirs)
    assert ledger_snapshot() == before
