"""Evaluation runs record their last progress; a watchdog every 5 minutes resumes a stalled one (item 31)."""

import django.utils.timezone
from django.db import migrations, models

from loyalty.tenancy.schedules import crontab_schedule

# A stalled run is looked for every 5 minutes (issue 17, item 31).
schedule, unschedule = crontab_schedule(
    name="Resume stalled tier evaluations (every 5 minutes)",
    task="tiers.resume_stalled_evaluations",
    minute="*/5",
    hour="*",
)


class Migration(migrations.Migration):

    dependencies = [
        ('tiers', '0008_tier_model_copied_from'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.AddField(
            model_name='evaluationrun',
            name='progressed_at',
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(schedule, unschedule),
    ]
