"""Schedule the webhook sweeper (every minute) and the nightly points.expiring notice in django-celery-beat."""

from django.db import migrations

SWEEP = "webhooks.sweep"
EXPIRING = "webhooks.points_expiring_all_tenants"


def schedule(apps, schema_editor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Send due webhook deliveries (every minute)",
        defaults={"task": SWEEP, "interval": every_minute, "enabled": True},
    )
    # After the nightly points expiry (02:15 UTC), so what it just expired is not announced as expiring.
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="45", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name="Announce expiring points to webhooks (nightly)",
        defaults={"task": EXPIRING, "crontab": nightly, "enabled": True},
    )


def unschedule(apps, schema_editor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task__in=[SWEEP, EXPIRING]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
