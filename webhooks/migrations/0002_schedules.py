"""Schedule the webhook sweeper (every minute) and the nightly points.expiring notice in django-celery-beat."""

from django.db import migrations

from loyalty.tenancy.schedules import crontab_schedule

SWEEP = "webhooks.sweep"

# After the nightly points expiry (02:15 UTC), so what it just expired is not announced as expiring.
announce, unannounce = crontab_schedule(
    name="Announce expiring points to webhooks (nightly)",
    task="webhooks.points_expiring_all_tenants",
    minute="45",
    hour="2",
)


def sweep_every_minute(apps, schema_editor) -> None:
    every_minute, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=1, period="minutes"
    )
    apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(
        name="Send due webhook deliveries (every minute)",
        defaults={"task": SWEEP, "interval": every_minute, "enabled": True},
    )


def unsweep(apps, schema_editor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=SWEEP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(sweep_every_minute, unsweep), migrations.RunPython(announce, unannounce)]
