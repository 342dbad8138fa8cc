"""The database refuses a row whose parent belongs to another tenant (loyalty/tenancy/composite_keys.py).

Activities, ledger entries and lots are keyed (tenant, parent) → parent (tenant, id). The rows below are written
with `bulk_create`, which skips the models' `_check_related_tenants`, under their own tenant's context (so
row-level security lets them in): only the composite key stands between them and another tenant's partner or
account. The checks are deferred to the commit; `SET CONSTRAINTS ALL IMMEDIATE` runs them at the statement.
"""

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from loyalty.ledger.models import LedgerEntry, PointsLot
from loyalty.ledger.services import points_account_for
from loyalty.tenancy.composite_keys import composite_key_add, composite_key_name
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, Partner
from tests.conftest import World
from tests.factories import unposted_entry
from tests.support import execute_as_table_owner

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


class _OwnerSchemaEditor:
    """What the composite keys' operations use of a schema editor, their statements run as the tables' owner."""

    connection = connection

    @staticmethod
    def execute(sql: str) -> None:
        execute_as_table_owner(sql)


def _key_is_validated(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT convalidated FROM pg_constraint WHERE conname = %s", [name])
        return [row[0] for row in cursor.fetchall()] == [True]


def test_a_composite_key_migration_stopped_before_its_validation_runs_again(db: None) -> None:
    """The migration is not atomic: when the key's validation fails (a row of another tenant's, written in bulk
    before the key existed; a lock timeout), the key stays `NOT VALID`. Run again once that is mended, it adds the
    key again and validates it, rather than stopping at "already exists"."""
    table, name = "partners_activity", composite_key_name("partners_activity", "partner_id")
    execute_as_table_owner(
        f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}", ADD CONSTRAINT "{name}" FOREIGN KEY ("tenant_id",'
        ' "partner_id") REFERENCES "partners_partner" ("tenant_id", "id") DEFERRABLE INITIALLY DEFERRED NOT VALID'
    )
    assert not _key_is_validated(name)
    composite_key_add(table=table, column="partner_id", parent="partners_partner").code(apps, _OwnerSchemaEditor)
    assert _key_is_validated(name)
