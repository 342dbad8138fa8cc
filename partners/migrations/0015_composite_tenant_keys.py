"""Composite keys (tenant, parent) → parent (tenant, id) in place of the tenant's and the parent's own keys on the
hot ingestion tables (loyalty/tenancy/composite_keys.py): the unique (tenant, id) first, the two single-column keys
dropped, the composite added. Reversed in the opposite order."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from loyalty.tenancy.composite_keys import composite_key_add


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0014_activity_change_reason_code"),
        ("tenancy", "0014_tenant_sanity_limits"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="partner",
            constraint=models.UniqueConstraint(fields=("tenant", "id"), name="partner_tenant_and_id"),
        ),
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
        composite_key_add(table="partners_activity", column="partner_id", target="partners_partner"),
    ]
