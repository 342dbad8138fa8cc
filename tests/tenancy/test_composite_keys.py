"""The database refuses a row whose parent belongs to another tenant (loyalty/tenancy/composite_keys.py).

Activities, ledger entries and lots are keyed (tenant, parent) → parent (tenant, id). The rows below are written
with `bulk_create`, which skips the models' `_check_related_tenants`, under their own tenant's context (so
row-level security lets them in): only the composite key stands between them and another tenant's partner or
account. The checks are deferred to the commit; `SET CONSTRAINTS ALL IMMEDIATE` runs them at the statement.
"""

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, migrations, transaction
from django.db.migrations.loader import MigrationLoader
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


def _single_column_keys(table: str) -> list[str]:
    """The columns of `table` that a single-column foreign key covers."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return sorted(
        found["columns"][0] for found in constraints.values() if found["foreign_key"] and len(found["columns"]) == 1
    )


class _OwnerEditor:
    """A schema editor whose statements run as the tables' owner (the test connects as the application role)."""

    def __init__(self) -> None:
        self.editor = connection.schema_editor(atomic=False, collect_sql=False)
        self.editor.execute = lambda sql, params=(): execute_as_table_owner(str(sql) % tuple(params or ()))

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.editor, name)


@pytest.mark.parametrize(
    ("app_label", "migration_name", "table"),
    [
        ("partners", "0015_composite_tenant_keys", "partners_activity"),
        ("ledger", "0010_composite_tenant_keys", "ledger_pointslot"),
    ],
)
def test_a_composite_key_migration_stopped_between_its_two_key_drops_runs_again(
    db: None, app_label: str, migration_name: str, table: str
) -> None:
    """Stopped after the parent's key was dropped and before the tenant's (the migration is not atomic), the
    migration stopped again at the first drop, run again: "Found wrong number (0) of foreign key constraints". Each
    drop now looks at the catalogue first, and the run ends with the composite key alone, as a whole one does."""
    loader = MigrationLoader(connection)
    migration = loader.get_migration(app_label, migration_name)
    keyed = {"partners_activity": "partner_id", "ledger_pointslot": "account_id"}[table]
    assert keyed not in _single_column_keys(table)
    # Where the stop left the table: the tenant's single-column key still there, the parent's gone.
    execute_as_table_owner(
        f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_tenant_id_stopped_fk" FOREIGN KEY ("tenant_id")'
        ' REFERENCES "tenancy_tenant" ("id") DEFERRABLE INITIALLY DEFERRED'
    )
    assert "tenant_id" in _single_column_keys(table)
    state = loader.project_state((app_label, migration_name), at_end=False)  # before the migration
    editor = _OwnerEditor()
    for operation in migration.operations[1:]:  # all but the parent's index, built CONCURRENTLY (no transaction)
        after = state.clone()
        operation.state_forwards(app_label, after)
        if isinstance(operation, migrations.RunPython):
            operation.code(apps, _OwnerSchemaEditor)
        else:
            operation.database_forwards(app_label, editor, state, after)
        state = after
    assert "tenant_id" not in _single_column_keys(table)
    assert keyed not in _single_column_keys(table)
    assert _key_is_validated(composite_key_name(table, keyed))


@pytest.mark.parametrize(
    ("app_label", "migration_name", "table"),
    [
        ("partners", "0015_composite_tenant_keys", "partners_activity"),
        ("ledger", "0010_composite_tenant_keys", "ledger_pointslot"),
    ],
)
def test_a_composite_key_migration_reversed_and_stopped_between_its_two_key_restores_runs_again(
    db: None, app_label: str, migration_name: str, table: str
) -> None:
    """Reversed, the tenant's key comes back first, then the parent's: stopped between the two, the reversal run
    again stopped at once, adding the tenant's key a second time ("constraint ... already exists")."""
    loader = MigrationLoader(connection)
    operations = loader.get_migration(app_label, migration_name).operations[1:]  # not the parent's index
    keyed = {"partners_activity": "partner_id", "ledger_pointslot": "account_id"}[table]
    states = [loader.project_state((app_label, migration_name), at_end=False)]
    for operation in operations:
        states.append(states[-1].clone())
        operation.state_forwards(app_label, states[-1])
    editor = _OwnerEditor()

    def reverse(steps: int) -> None:
        for index in reversed(range(len(operations))[-steps:]):
            if isinstance(operations[index], migrations.RunPython):
                operations[index].reverse_code(apps, _OwnerSchemaEditor)
            else:
                operations[index].database_backwards(app_label, editor, states[index + 1], states[index])

    reverse(1)  # the tenant's key restored, then the stop
    assert "tenant_id" in _single_column_keys(table)
    assert keyed not in _single_column_keys(table)
    reverse(len(operations))
    assert {"tenant_id", keyed} <= set(_single_column_keys(table))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE conname = %s", [composite_key_name(table, keyed)])
        assert cursor.fetchone() == (0,)
