"""The tenant's latest tier change by (tenant_id, id) (the designer reads it on every what-if): built
`CONCURRENTLY` on PostgreSQL, so a populated table keeps taking the night's writes; a plain index elsewhere."""

from django.db import migrations, models

INDEX = models.Index(fields=["tenant", "id"], name="tier_change_tenant_latest")


def forward(apps, schema_editor) -> None:  # noqa: ANN001 - RunPython's signature
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'CREATE INDEX CONCURRENTLY IF NOT EXISTS "tier_change_tenant_latest" ON "tiers_tierchange" ("tenant_id", "id")'
        )
    else:
        schema_editor.add_index(apps.get_model("tiers", "TierChange"), INDEX)


def backward(apps, schema_editor) -> None:  # noqa: ANN001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('DROP INDEX CONCURRENTLY IF EXISTS "tier_change_tenant_latest"')
    else:
        schema_editor.remove_index(apps.get_model("tiers", "TierChange"), INDEX)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("tiers", "0015_field_verbose_names"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="tierchange", index=INDEX)],
            database_operations=[migrations.RunPython(forward, backward, elidable=False)],
        ),
    ]
