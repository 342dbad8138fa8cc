"""Fund entries are append-only on the database too (as the points ledger's are), and pre-approvals that were
never claimed expire nightly (django-celery-beat, editable afterwards in the platform admin).

PostgreSQL refuses UPDATE and DELETE (TRUNCATE, used by `flush` and test teardown, stays possible for the table
owner). SQLite, the demo database, refuses UPDATE only: its `flush` empties tables with DELETE.
"""

from django.db import migrations

from loyalty.tenancy.schedules import crontab_schedule

TABLE = "funds_fundentry"

POSTGRESQL_FUNCTION = """
CREATE OR REPLACE FUNCTION funds_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END
$$;
"""

schedule, unschedule = crontab_schedule(
    name="Expire unclaimed fund pre-approvals (nightly)",
    task="funds.expire_preapprovals_all_tenants",
    minute="25",
    hour="2",
)


def create_triggers(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FUNCTION, params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION funds_refuse_change()"
        )
    elif vendor == "sqlite":
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: UPDATE refused'); END"
        )


def drop_triggers(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
        schema_editor.execute("DROP FUNCTION IF EXISTS funds_refuse_change()")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_update")


class Migration(migrations.Migration):
    dependencies = [
        ("funds", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(create_triggers, drop_triggers, elidable=False),
        migrations.RunPython(schedule, unschedule),
    ]
