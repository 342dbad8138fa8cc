# State only: EarningRule moved to the earning app (same table); the foreign key now names it there.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('earning', '0001_initial'),
        ('ledger', '0007_ledger_cause_indexes_by_the_shared_rule'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.AlterField(
                model_name='ledgerentry',
                name='earning_rule',
                field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='earning.earningrule'),
            ),
            migrations.DeleteModel(
                name='EarningRule',
            ),
            ],
        ),
    ]
