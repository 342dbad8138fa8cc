# Moves EarningRule from the ledger app into this one without touching the database: the table keeps its
# name (ledger_earningrule), its constraints, indexes, M2M table and row-level security policy.

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('ledger', '0007_ledger_cause_indexes_by_the_shared_rule'),
        ('partners', '0008_tenant_led_indexes'),
        ('tenancy', '0008_tenant_led_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='EarningRule',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('name', models.CharField(max_length=200)),
                    ('activity_kind', models.CharField(choices=[('sale', 'Sale'), ('deal_registration', 'Deal registration'), ('training', 'Training'), ('certification', 'Certification'), ('marketing', 'Marketing'), ('referral', 'Referral'), ('custom', 'Custom')], max_length=32)),
                    ('product_categories', models.JSONField(blank=True, default=list, help_text='Empty: every category.')),
                    ('minimum_amount', models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True)),
                    ('code', models.CharField(blank=True, help_text='Only activities with this code. Empty: any.', max_length=100)),
                    ('basis', models.CharField(choices=[('per_activity', 'Points per activity'), ('per_currency_unit', 'Points per unit of currency'), ('per_quantity', 'Points per unit of quantity')], max_length=32)),
                    ('rate', models.DecimalField(decimal_places=4, max_digits=12, validators=[django.core.validators.MinValueValidator(Decimal('0.0001'))])),
                    ('applies_tier_multiplier', models.BooleanField(default=True)),
                    ('valid_from', models.DateField(blank=True, help_text='Campaigns and SPIFFs: first day.', null=True)),
                    ('valid_until', models.DateField(blank=True, help_text='Campaigns and SPIFFs: last day.', null=True)),
                    ('cap_points', models.PositiveIntegerField(blank=True, help_text='Most points per partner per period.', null=True)),
                    ('cap_period', models.CharField(choices=[('month', 'Per month'), ('quarter', 'Per quarter'), ('year', 'Per year'), ('ever', "Over the rule's life")], default='year', max_length=16)),
                    ('is_active', models.BooleanField(default=True)),
                    ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                    ('partner_types', models.ManyToManyField(blank=True, help_text='Empty: every partner type.', related_name='+', to='partners.partnertype')),
                    ('tenant', models.ForeignKey(db_index=False, editable=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenancy.tenant')),
                ],
                options={
                    'db_table': 'ledger_earningrule',
                    'ordering': ['activity_kind', 'name'],
                    'indexes': [models.Index(fields=['tenant', 'activity_kind', 'is_active'], name='earning_rule_kind')],
                    'constraints': [models.CheckConstraint(condition=models.Q(('rate__gt', 0)), name='earning_rule_rate_positive'), models.CheckConstraint(condition=models.Q(('valid_from__isnull', True), ('valid_until__isnull', True), ('valid_until__gte', models.F('valid_from')), _connector='OR'), name='earning_rule_window_ordered')],
                },
            ),
            ],
        ),
    ]
