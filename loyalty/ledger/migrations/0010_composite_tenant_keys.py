"""Entries and lots keyed (tenant, account) → account (tenant, id) in place of the tenant's and the account's own keys
(loyalty/tenancy/composite_keys.py, docs/tenancy.md): the accounts' unique (tenant, id) index built concurrently, the
composite keys added `NOT VALID` and validated, then the four single-column keys dropped. Reversed in the opposite
order (the single-column keys come back validated)."""

import django.db.models.deletion
from django.db import migrations, models

from loyalty.tenancy.composite_keys import composite_key_add, parent_key_add


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("ledger", "0009_adjustment_request"),
        ("tenancy", "0014_tenant_sanity_limits"),
    ]

    operations = [
        parent_key_add(table="ledger_pointsaccount", name="points_account_tenant_id"),
        composite_key_add(table="ledger_ledgerentry", column="account_id", parent="ledger_pointsaccount"),
        composite_key_add(table="ledger_pointslot", column="account_id", parent="ledger_pointsaccount"),
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
    ]
