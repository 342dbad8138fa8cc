"""Periodic (django-celery-beat) schedules that migrations install, so a fresh database runs every nightly job."""

from collections.abc import Callable

Operation = Callable[[object, object], None]


def crontab_schedule(*, name: str, task: str, minute: str, hour: str) -> tuple[Operation, Operation]:
    """RunPython's forward and backward functions for a daily schedule of `task` at hour:minute UTC.

    Forward keeps an existing schedule of that name as it is (operators may have edited it in the platform admin).
    """

    def forward(apps: object, schema_editor: object) -> None:
        crontab, _created = apps.get_model("django_celery_beat", "CrontabSchedule").objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(
            name=name, defaults={"task": task, "crontab": crontab, "enabled": True}
        )

    def backward(apps: object, schema_editor: object) -> None:
        apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=task).delete()

    return forward, backward
