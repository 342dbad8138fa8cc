"""The database refuses a row whose parent belongs to another tenant (loyalty/tenancy/composite_keys.py).

Activities, ledger entries and lots are keyed (tenant, parent) → parent (tenant, id). The rows below are written
with `bulk_create`, which skips the models' `_check_related_tenants`, under their own tenant's context (so
row-level security lets them in): only the composite key stands between them and another tenant's partner or
account. The checks are deferred to the commit; `SET CONSTRAINTS ALL IMMEDIATE` runs them at the statement.
"""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from loyalty.ledger.models import LedgerEntry, PointsLot
from loyalty.ledger.services import points_account_for
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, Partner
from tests.conftest import World
from tests.factories import unposted_entry

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the composite keys are PostgreSQL's")


def _refused(rows: list, *, constraint: str) -> None:
    model = type(rows[0])
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        model.all_tenants.bulk_create(rows)


def _accepted(rows: list) -> None:
    with transaction.atomic():
        type(rows[0]).all_tenants.bulk_create(rows)


def _activity(world: World, partner: Partner) -> Activity:
    return Activity(tenant=world.tenant, partner=partner, kind="marketing", occurred_at=timezone.now(), source="api")


@pytest.fixture
def immediate(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.usefixtures("immediate")
def test_an_activity_of_another_tenants_partner_is_refused(acme: World, globex: World) -> None:
    with tenant_context(acme.tenant):
        _refused([_activity(acme, globex.partner)], constraint="partners_activity_tenant_partner_id_fk")
        _accepted([_activity(acme, acme.partner)])


@pytest.mark.usefixtures("immediate")
def test_an_entry_or_lot_on_another_tenants_account_is_refused(acme: World, globex: World) -> None:
    with tenant_context(globex.tenant):
        theirs = points_account_for(partner=globex.partner)
    with tenant_context(acme.tenant):
        ours = points_account_for(partner=acme.partner)
        theirs_entry = unposted_entry(tenant=acme.tenant, account=theirs, idempotency_key="theirs")
        _refused([theirs_entry], constraint="ledger_ledgerentry_tenant_account_id_fk")
        _accepted([unposted_entry(tenant=acme.tenant, account=ours, idempotency_key="ours")])
        entry = LedgerEntry.objects.get(idempotency_key="ours")
        lot = {"tenant": acme.tenant, "entry": entry, "points": 1, "remaining": 1, "earned_at": timezone.now()}
        _refused([PointsLot(account=theirs, **lot)], constraint="ledger_pointslot_tenant_account_id_fk")
        _accepted([PointsLot(account=ours, **lot)])
