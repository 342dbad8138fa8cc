"""Activities keyed (tenant, partner) → partner (tenant, id) in place of the tenant's and the partner's own keys
(loyalty/tenancy/composite_keys.py, docs/tenancy.md): the partners' unique (tenant, id) index built concurrently, the
composite key added `NOT VALID` and validated, then the two single-column keys dropped. Reversed in the opposite
order (the single-column keys come back validated)."""

import django.db.models.deletion
from django.db import migrations, models

from loyalty.tenancy.composite_keys import composite_key_add, parent_key_add


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("partners", "0014_activity_change_reason_code"),
        ("tenancy", "0014_tenant_sanity_limits"),
    ]

    operations = [
        parent_key_add(table="partners_partner", name="partner_tenant_id"),
        composite_key_add(table="partners_activity", column="partner_id", parent="partners_partner"),
        migrations.AlterField(
            model_name="activity",
            name="partner",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="activities",
                to="partners.partner",
            ),
        ),
        migrations.AlterField(
            model_name="activity",
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
