"""Tier benefits become typed rows (DESIGN §11 entitlements); each old label is kept as a "text" benefit, in order."""

import django.core.validators
import django.db.models.deletion
from decimal import Decimal
from django.db import migrations, models


def labels_to_text_benefits(apps, schema_editor):
    Tier = apps.get_model("tiers", "Tier")
    TierBenefit = apps.get_model("tiers", "TierBenefit")
    # Rows as values, not instances: in this state the JSON field and the new reverse relation share the name.
    TierBenefit.objects.bulk_create(
        TierBenefit(tenant_id=tenant_id, tier_id=tier_id, kind="text", text=str(label)[:200], position=position)
        for tier_id, tenant_id, labels in Tier.objects.values_list("pk", "tenant_id", "benefits")
        for position, label in enumerate(labels or [])
    )


def text_benefits_to_labels(apps, schema_editor):
    Tier = apps.get_model("tiers", "Tier")
    TierBenefit = apps.get_model("tiers", "TierBenefit")
    labels: dict[int, list[str]] = {}
    for benefit in TierBenefit.objects.order_by("tier_id", "position", "pk"):
        labels.setdefault(benefit.tier_id, []).append(benefit.text or f"{benefit.kind} {benefit.value}")
    for tier_id, tier_labels in labels.items():
        Tier.objects.filter(pk=tier_id).update(benefits=tier_labels)


class Migration(migrations.Migration):

    dependencies = [
        ('tenancy', '0008_tenant_led_indexes'),
        ('tiers', '0005_tenant_led_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='TierBenefit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('mdf_allocation', 'Market development funds'), ('rebate_rate', 'Rebate rate'), ('discount_rate', 'Discount rate'), ('deal_protection_days', 'Deal protection'), ('support_level', 'Support level'), ('early_access', 'Early access'), ('text', 'Other benefit')], default='text', max_length=32)),
                ('value', models.DecimalField(blank=True, decimal_places=2, help_text='An amount for funds, a percentage for rates, a number of days for deal protection.', max_digits=14, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0'))])),
                ('currency', models.CharField(blank=True, help_text='For fund allocations: ISO 4217 code.', max_length=3)),
                ('text', models.CharField(blank=True, help_text='What the partner reads, e.g. the support level.', max_length=200)),
                ('position', models.PositiveSmallIntegerField(default=0)),
                ('tenant', models.ForeignKey(db_index=False, editable=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenancy.tenant')),
                ('tier', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='benefits', to='tiers.tier')),
            ],
            options={
                'ordering': ['tier', 'position', 'pk'],
                'indexes': [models.Index(fields=['tenant', 'tier'], name='tiers_tierb_tenant__5a81dd_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('value__isnull', True), ('value__gte', 0), _connector='OR'), name='tier_benefit_value_positive'), models.CheckConstraint(condition=models.Q(models.Q(('kind__in', ['rebate_rate', 'discount_rate']), _negated=True), ('value__lte', 100), _connector='OR'), name='tier_benefit_rate_at_most_100')],
            },
        ),
        migrations.RunPython(labels_to_text_benefits, text_benefits_to_labels),
        migrations.RemoveField(
            model_name='tier',
            name='benefits',
        ),
    ]
