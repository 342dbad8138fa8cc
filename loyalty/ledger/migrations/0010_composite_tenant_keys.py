"""Entries and lots keyed (tenant, account) → account (tenant, id) in place of the tenant's and the account's own keys
(loyalty/tenancy/composite_keys.py, docs/tenancy.md), as activities are keyed to partners (partners 0015)."""

from django.db import migrations, models

from loyalty.tenancy.composite_keys import composite_key_replace, parent_key_add


def _account(related_name: str) -> models.ForeignKey:
    return models.ForeignKey(
        db_constraint=False,
        db_index=False,
        on_delete=models.PROTECT,
        related_name=related_name,
        to="ledger.pointsaccount",
    )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("ledger", "0009_adjustment_request"),
        ("tenancy", "0014_tenant_sanity_limits"),
    ]

    operations = [
        parent_key_add(table="ledger_pointsaccount", name="points_account_tenant_id"),
        *composite_key_replace(
            model_name="ledgerentry",
            table="ledger_ledgerentry",
            field_name="account",
            field=_account("entries"),
            parent="ledger_pointsaccount",
        ),
        *composite_key_replace(
            model_name="pointslot",
            table="ledger_pointslot",
            field_name="account",
            field=_account("lots"),
            parent="ledger_pointsaccount",
        ),
    ]
