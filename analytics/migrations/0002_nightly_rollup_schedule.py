"""Schedule the nightly analytics rollup in django-celery-beat (editable afterwards in the platform admin)."""

from django.db import migrations

from loyalty.tenancy.schedules import crontab_schedule

schedule, unschedule = crontab_schedule(
    name="Roll up analytics (nightly)", task="analytics.rollup_all_tenants", minute="0", hour="2"
)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_rollup"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
