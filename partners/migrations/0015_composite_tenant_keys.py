"""Activities keyed (tenant, partner) → partner (tenant, id) in place of the tenant's and the partner's own keys
(loyalty/tenancy/composite_keys.py, docs/tenancy.md): the partners' unique (tenant, id) index built concurrently, the
composite key added `NOT VALID` and validated, then the two single-column keys dropped. Reversed in the opposite
order (the single-column keys come back validated)."""

from django.db import migrations, models

from loyalty.tenancy.composite_keys import composite_key_replace, parent_key_add


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("partners", "0014_activity_change_reason_code"),
        ("tenancy", "0014_tenant_sanity_limits"),
    ]

    operations = [
        parent_key_add(table="partners_partner", name="partner_tenant_id"),
        *composite_key_replace(
            model_name="activity",
            table="partners_activity",
            field_name="partner",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=models.PROTECT,
                related_name="activities",
                to="partners.partner",
            ),
            parent="partners_partner",
        ),
    ]
