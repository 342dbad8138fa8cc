"""Composite foreign keys `(tenant_id, <column>) → <parent>(tenant_id, id)` on PostgreSQL, for the hot ingestion
tables (docs/tenancy.md, "Composite keys on the ingestion tables").

Every foreign key costs PostgreSQL one trigger call, index probe and `FOR KEY SHARE` row lock per inserted row
(deferred to the commit). Where a row names both its tenant and a tenant-owned parent, one composite key does the
work of the two single-column keys it replaces, and more: the parent exists, its tenant is the row's (a cross-tenant
link is refused by the database, not only by `_check_related_tenants`), and the tenant exists because the parent's
own key says so. The parent carries a unique index on (tenant_id, id) for the key to refer to.

Django declares no composite foreign keys: the models keep their `ForeignKey` fields (`db_constraint=False` on the
two replaced) and a migration adds the index and the key with these operations, database-only (SQLite, the demo's
database, gets none). The migration is non-atomic: the index is built `CONCURRENTLY`, the key added `NOT VALID`
then validated, so that a populated database keeps taking writes (docs/tenancy.md says what each step locks).
"""

from django.db import migrations, models


def _on_postgresql(forward_sql: list[str], backward_sql: list[str]) -> migrations.RunPython:
    def forward(apps, schema_editor) -> None:  # noqa: ANN001 - RunPython's signature
        if schema_editor.connection.vendor == "postgresql":
            for statement in forward_sql:
                schema_editor.execute(statement)

    def backward(apps, schema_editor) -> None:  # noqa: ANN001
        if schema_editor.connection.vendor == "postgresql":
            for statement in backward_sql:
                schema_editor.execute(statement)

    return migrations.RunPython(forward, backward, elidable=False)


def parent_key_add(*, table: str, name: str) -> migrations.RunPython:
    """The unique index (tenant_id, id) of `table` that composite keys refer to, built without blocking writes, and
    the table analyzed: without statistics, a check on a table small enough for another tenant-led index to fit in
    one page may be planned through that index (all the tenant's rows read per check; docs/tenancy.md)."""
    return _on_postgresql(
        [
            f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "{table}" ("tenant_id", "id")',
            f'ANALYZE "{table}"',
        ],
        [f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'],
    )


def composite_key_name(table: str, column: str) -> str:
    return f"{table}_tenant_{column}_fk"[:63]


def composite_key_add(*, table: str, column: str, parent: str) -> migrations.RunPython:
    """`(tenant_id, column) → parent(tenant_id, id)`, deferred like Django's own keys: added `NOT VALID` (no scan
    under the lock that blocks writes), then validated (a scan under a lock that lets writes through).

    The migration is not atomic, so this step may run again: after a failed validation (a row of another tenant's
    parent, written in bulk before the key; a lock timeout) the key is left `NOT VALID`. PostgreSQL has no
    `ADD CONSTRAINT IF NOT EXISTS`, and a `DROP CONSTRAINT IF EXISTS` would take `ACCESS EXCLUSIVE` (reads wait
    too) even with no key to drop: the key is added only when the table has none of that name."""
    name = composite_key_name(table, column)
    return _on_postgresql(
        [
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = '\"{table}\"'::regclass"
            f" AND conname = '{name}') THEN"
            f' ALTER TABLE "{table}" ADD CONSTRAINT "{name}" FOREIGN KEY ("tenant_id", "{column}")'
            f' REFERENCES "{parent}" ("tenant_id", "id") DEFERRABLE INITIALLY DEFERRED NOT VALID;'
            " END IF; END $$",
            f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{name}"',
        ],
        [f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"'],
    )


class SingleKeyAlter(migrations.AlterField):
    """`AlterField` of a key's `db_constraint` (its single-column foreign key dropped, or restored when reversed),
    done only when the database is not already as the step leaves it.

    The migration is not atomic, so a run stopped between its steps (the partner's key dropped, the tenant's not
    yet: a lock timeout, a deploy killed) leaves the first step done; Django's `AlterField`, run again, looks for
    the key it drops, finds none and stops ("Found wrong number (0) of foreign key constraints"). The catalogue
    says whether the step is done (`get_constraints`, a read that takes no lock on the table); SQLite, whose
    migrations are not stopped half-way this way, always runs the step."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:  # noqa: ANN001
        model = to_state.apps.get_model(app_label, self.model_name)
        wanted = model._meta.get_field(self.name).db_constraint
        if schema_editor.connection.vendor == "postgresql" and self._has_key(schema_editor, model) == wanted:
            return
        super().database_forwards(app_label, schema_editor, from_state, to_state)

    def _has_key(self, schema_editor, model: type[models.Model]) -> bool:  # noqa: ANN001
        column = model._meta.get_field(self.name).column
        connection = schema_editor.connection
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
        return any(found["foreign_key"] and found["columns"] == [column] for found in constraints.values())


def composite_key_replace(
    *, model_name: str, table: str, field_name: str, field: models.ForeignKey, parent: str
) -> list[migrations.operations.base.Operation]:
    """The composite key on `table`, then its two single-column keys dropped: `field` (the parent's, now with
    `db_constraint=False`) and the tenant's. Reversed, the single-column keys come back before the composite goes."""
    tenant = models.ForeignKey(
        "tenancy.tenant",
        db_constraint=False,
        db_index=False,
        editable=False,
        on_delete=models.PROTECT,
        related_name="+",
    )
    return [
        composite_key_add(table=table, column=f"{field_name}_id", parent=parent),
        SingleKeyAlter(model_name=model_name, name=field_name, field=field),
        SingleKeyAlter(model_name=model_name, name="tenant", field=tenant),
    ]
