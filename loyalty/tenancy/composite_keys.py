"""Composite foreign keys `(tenant_id, <column>) → <target>(tenant_id, id)` on PostgreSQL, for the hot ingestion
tables (bench/README.md, "Fewer foreign-key checks per row").

Every foreign key costs PostgreSQL one trigger call, index probe and row lock per inserted row (deferred to the
commit). On a table whose rows name both their tenant and a tenant-owned parent, one composite key does the work
of the two single-column keys it replaces, and more: the row's parent exists, the row's tenant is the parent's
(a cross-tenant link is refused by the database, not only by `_check_related_tenants`), and the tenant exists
because the parent's own key says so. The parent carries a unique (tenant, id) constraint for the key to refer to.

Django declares no composite foreign keys: the models keep their `ForeignKey` fields (`db_constraint=False` on the
two replaced) and a migration adds the key with these operations. SQLite (the demo database) gets none.
"""

from django.db import migrations


def composite_key_name(table: str, column: str) -> str:
    return f"{table}_tenant_{column}_fk"[:63]


def composite_key_add(*, table: str, column: str, target: str) -> migrations.RunPython:
    """The operation adding `(tenant_id, column) → target(tenant_id, id)`, deferred like Django's own keys."""
    name = composite_key_name(table, column)

    def forward(apps, schema_editor) -> None:  # noqa: ANN001 - RunPython's signature
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" FOREIGN KEY ("tenant_id", "{column}")'
                f' REFERENCES "{target}" ("tenant_id", "id") DEFERRABLE INITIALLY DEFERRED'
            )

    def backward(apps, schema_editor) -> None:  # noqa: ANN001
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"')

    return migrations.RunPython(forward, backward, elidable=False)
