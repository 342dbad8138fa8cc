"""Every portal page runs the same number of queries for a partner with 10 and with 10,000 ledger entries."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.services import points_account_for
from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.factories import unposted_entry
from tests.rewards.factories import RewardFactory

PAGES = ["/", "/rewards/", "/rewards/history/", "/statement/", "/claims/", "/team/"]


def add_history(world: World, count: int) -> None:
    """`count` earn entries in bulk (the pages read entries; they never re-check the hash chain)."""
    with tenant_context(world.tenant):
        account = points_account_for(partner=world.partner)
        start = LedgerEntry.objects.filter(account=account).count()
        now = timezone.now()
        LedgerEntry.objects.bulk_create(
            [
                unposted_entry(
                    account=account,
                    kind=EntryKind.EARN,
                    points=10,
                    balance_after=10 * (start + index + 1),
                    created_at=now - timedelta(minutes=count - index),
                    effective_at=now - timedelta(minutes=count - index),
                    memo="Bulk history",
                    idempotency_key=f"history:{start + index}",
                )
                for index in range(count)
            ],
            batch_size=2000,
        )
        type(account).objects.filter(pk=account.pk).update(balance=10 * (start + count))


def queries_for(client, path: str) -> int:
    cache.clear()  # a cold page: the dashboard's fragments are cached (tests/portal/test_dashboard_cache.py)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(captured.captured_queries)


@pytest.mark.parametrize("path", PAGES)
def test_page_queries_do_not_grow_with_ten_thousand_entries(acme: World, client_for, path: str) -> None:
    with tenant_context(acme.tenant):
        for index in range(3):
            RewardFactory(points_cost=50 + index)
    client = client_for(acme, acme.partner_admin)
    add_history(acme, 10)
    client.get(path)  # warm the session
    small = queries_for(client, path)
    add_history(acme, 9_990)
    large = queries_for(client, path)
    # The statement's first page, once full, adds the count of entries (a short one holds them all: no count).
    assert (path, large) == (path, small + (path == "/statement/"))
    assert small <= (16 if path == "/" else 15)  # the home also lists badges, the onboarding and announcements
