"""Schedule the nightly expiry of lapsed deal protection in django-celery-beat (editable in the platform admin)."""

from django.db import migrations

from loyalty.tenancy.schedules import crontab_schedule

schedule, unschedule = crontab_schedule(
    name="Expire deal protection (nightly)", task="deals.expire_all_tenants", minute="15", hour="3"
)


class Migration(migrations.Migration):
    dependencies = [
        ("deals", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
