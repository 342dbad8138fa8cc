"""The database refuses a row whose parent belongs to another tenant (loyalty/tenancy/composite_keys.py).

Activities, ledger entries and lots are keyed (tenant, parent) → parent (tenant, id). The rows below are written
with `bulk_create`, which skips the models' `_check_related_tenants`, under their own tenant's context (so
row-level security lets them in): only the composite key stands between them and another tenant's partner or
account. The checks are deferred to the commit; `SET CONSTRAINTS ALL IMMEDIATE` runs them at the statement.
"""

from collections.abc import Iterable

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, migrations, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
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


# The composite keys' migrations: app, migration, table, the parent's column.
STOPPED_MIGRATIONS = pytest.mark.parametrize(
    ("app_label", "migration_name", "table", "keyed"),
    [
        ("partners", "0015_composite_tenant_keys", "partners_activity", "partner_id"),
        ("ledger", "0010_composite_tenant_keys", "ledger_pointslot", "account_id"),
    ],
)


def _steps(app_label: str, migration_name: str) -> tuple[list, list[ProjectState]]:
    """The migration's operations but the parent's index (built `CONCURRENTLY`, outside any transaction), and the
    project's state before each and after the last."""
    loader = MigrationLoader(connection)
    operations = loader.get_migration(app_label, migration_name).operations[1:]
    states = [loader.project_state((app_label, migration_name), at_end=False)]
    for operation in operations:
        states.append(states[-1].clone())
        operation.state_forwards(app_label, states[-1])
    return operations, states


def _run(
    app_label: str, operations: list, states: list[ProjectState], indexes: Iterable[int], *, forwards: bool
) -> None:
    editor = _OwnerEditor()
    for index in indexes:
        operation, before, after = operations[index], states[index], states[index + 1]
        if isinstance(operation, migrations.RunPython):
            (operation.code if forwards else operation.reverse_code)(apps, _OwnerSchemaEditor)
        elif forwards:
            operation.database_forwards(app_label, editor, before, after)
        else:
            operation.database_backwards(app_label, editor, after, before)


@STOPPED_MIGRATIONS
def test_a_composite_key_migration_stopped_between_its_two_key_drops_runs_again(
    db: None, app_label: str, migration_name: str, table: str, keyed: str
) -> None:
    """Stopped after the parent's key was dropped and before the tenant's (the migration is not atomic), the
    migration runs again and ends with the composite key alone, as a whole run does (Django's own drop was already
    lenient here; each step now reads the catalogue first, as the reversal below needs)."""
    operations, states = _steps(app_label, migration_name)
    assert keyed not in _single_column_keys(table)
    # Where the stop left the table: the tenant's single-column key still there, the parent's gone.
    execute_as_table_owner(
        f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_tenant_id_stopped_fk" FOREIGN KEY ("tenant_id")'
        ' REFERENCES "tenancy_tenant" ("id") DEFERRABLE INITIALLY DEFERRED'
    )
    assert "tenant_id" in _single_column_keys(table)
    _run(app_label, operations, states, range(len(operations)), forwards=True)
    assert "tenant_id" not in _single_column_keys(table)
    assert keyed not in _single_column_keys(table)
    assert _key_is_validated(composite_key_name(table, keyed))


@STOPPED_MIGRATIONS
def test_a_composite_key_migration_reversed_and_stopped_between_its_two_key_restores_runs_again(
    db: None, app_label: str, migration_name: str, table: str, keyed: str
) -> None:
    """Reversed, the tenant's key comes back first, then the parent's: stopped between the two, the reversal run
    again stopped at once, adding the tenant's key a second time ("constraint ... already exists")."""
    operations, states = _steps(app_label, migration_name)
    last = len(operations) - 1
    _run(app_label, operations, states, [last], forwards=False)  # the tenant's key restored, then the stop
    assert "tenant_id" in _single_column_keys(table)
    assert keyed not in _single_column_keys(table)
    _run(app_label, operations, states, reversed(range(len(operations))), forwards=False)
    assert {"tenant_id", keyed} <= set(_single_column_keys(table))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE conname = %s", [composite_key_name(table, keyed)])
        assert cursor.fetchone() == (0,)
