"""Schedule the nightly evaluation in django-celery-beat (editable afterwards in the platform admin)."""

from django.db import migrations

from loyalty.tenancy.schedules import crontab_schedule

schedule, unschedule = crontab_schedule(
    name="Evaluate tiers (nightly)", task="tiers.evaluate_all_tenants", minute="30", hour="3"
)


class Migration(migrations.Migration):
    dependencies = [
        ("tiers", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
