"""Admin lists and pages run the same number of queries whatever the number of rows they show."""

import itertools
from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.ledger.services import points_adjust
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry
from loyalty.tenancy.services import audit_record
from tests.conftest import World
from tests.partners.test_review_admin import pending_activity, pending_claim

SERIAL = itertools.count()


def queries_for(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def add_claims(world: World, count: int) -> None:
    for _ in range(count):
        pending_claim(world)


def add_activities(world: World, count: int) -> None:
    for _ in range(count):
        pending_activity(world, external_id=f"A-{next(SERIAL)}")


def add_adjustments(world: World, count: int) -> None:
    with tenant_context(world.tenant):
        for number in range(count):
            points_adjust(
                partner=world.partner if number % 2 else world.unmanaged_partner,
                points=10,
                reason="Goodwill",
                actor=world.manager,
                idempotency_key=f"adjust-{next(SERIAL)}",
            )


def add_audit_entries(world: World, count: int) -> None:
    with tenant_context(world.tenant):
        for _ in range(count):
            audit_record(actor=world.manager, action=AuditEntry.Action.ACTION, target=world.partner, summary="Noted")


PAGES: list[tuple[str, Callable[[World, int], None]]] = [
    ("/admin/", add_claims),
    ("/admin/partners/claim/", add_claims),
    ("/admin/partners/activity/", add_activities),
    ("/admin/ledger/ledgerentry/", add_adjustments),
    ("/admin/ledger/pointsaccount/", add_adjustments),
    ("/admin/tenancy/auditentry/", add_audit_entries),
    ("/admin/partners/partner/", add_adjustments),
]


@pytest.mark.parametrize(("path", "grow"), PAGES, ids=[path for path, _grow in PAGES])
def test_admin_page_query_count_does_not_grow_with_rows(
    acme: World, client_for, path: str, grow: Callable[[World, int], None]
) -> None:
    client = client_for(acme, acme.manager)
    grow(acme, 2)
    client.get(path)  # warm caches (content types, session)
    few = queries_for(client, path)

    grow(acme, 15)

    assert queries_for(client, path) == few
