"""Schedule the nightly badge awards in django-celery-beat (editable in the platform admin)."""

from django.db import migrations

from loyalty.tenancy.schedules import crontab_schedule

# After the nightly evaluation (tier upgrades) and the deals' expiry.
schedule, unschedule = crontab_schedule(
    name="Award badges (nightly)", task="badges.award_all_tenants", minute="45", hour="3"
)


class Migration(migrations.Migration):
    dependencies = [
        ("badges", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
