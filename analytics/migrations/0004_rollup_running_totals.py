"""The rollup's rows become running totals (one row per partner and month from its first approved activity on),
read one month at a time. The old per-month rows and every program's state are dropped, so each program's next
refresh rebuilds it in full (the nightly task, or `manage.py analytics_rollup --tenant SLUG --full` at once);
until then the page reads every activity live, with the same figures."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0003_rollup_covering_index'),
        ('partners', '0014_activity_change_reason_code'),
        ('tenancy', '0014_tenant_sanity_limits'),
    ]

    operations = [
        migrations.RunSQL(
            ["DELETE FROM analytics_partnermonth", "DELETE FROM analytics_rollupstate"],
            migrations.RunSQL.noop,
        ),
        migrations.RemoveConstraint(
            model_name='partnermonth',
            name='partner_month_unique',
        ),
        migrations.AddConstraint(
            model_name='partnermonth',
            constraint=models.UniqueConstraint(fields=('tenant', 'month', 'partner'), include=('activities', 'sales', 'sales_count', 'deal_registrations', 'trainings', 'certifications', 'marketing', 'referrals', 'customs', 'last_occurred_at'), name='partner_month_unique'),
        ),
    ]
