"""Schedule the publication of due announcements and surveys in django-celery-beat, every five minutes."""

from django.db import migrations

from loyalty.tenancy.schedules import crontab_schedule

schedule, unschedule = crontab_schedule(
    name="Publish due announcements and surveys (every 5 minutes)",
    task="engagement.publish_due_all_tenants",
    minute="*/5",
    hour="*",
)


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
