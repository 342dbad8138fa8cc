"""Schedule the daily notifications (after the nightly evaluation at 03:30 UTC) in django-celery-beat."""

from django.db import migrations

from loyalty.tenancy.schedules import crontab_schedule

schedule, unschedule = crontab_schedule(
    name="Notifications (daily)", task="notifications.daily_all_tenants", minute="0", hour="7"
)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
