"""Schedule the nightly points expiry in django-celery-beat (editable afterwards in the platform admin)."""

from django.db import migrations

from loyalty.tenancy.schedules import crontab_schedule

schedule, unschedule = crontab_schedule(
    name="Expire points (nightly)", task="ledger.expire_points_all_tenants", minute="15", hour="2"
)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0002_append_only_triggers"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
