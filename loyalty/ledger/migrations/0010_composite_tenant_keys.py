"""Composite keys (tenant, parent) → parent (tenant, id) in place of the tenant's and the parent's own keys on the
hot ingestion tables (loyalty/tenancy/composite_keys.py): the unique (tenant, id) first, the two single-column keys
dropped, the composite added. Reversed in the opposite order."""

import django.db.models.deletion
from django.db import migrations, models

from loyalty.tenancy.composite_keys import composite_key_add


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0009_adjustment_request"),
        ("partners", "0014_activity_change_reason_code"),
        ("tenancy", "0014_tenant_sanity_limits"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="pointsaccount",
            constraint=models.UniqueConstraint(fields=("tenant", "id"), name="points_account_tenant_and_id"),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="ledger.pointsaccount",
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tenancy.tenant",
            ),
        ),
        migrations.AlterField(
            model_name="pointslot",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="lots",
                to="ledger.pointsaccount",
            ),
        ),
        migrations.AlterField(
            model_name="pointslot",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tenancy.tenant",
            ),
        ),
        composite_key_add(table="ledger_ledgerentry", column="account_id", target="ledger_pointsaccount"),
        composite_key_add(table="ledger_pointslot", column="account_id", target="ledger_pointsaccount"),
    ]
