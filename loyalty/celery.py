"""The Celery application, configured from Django settings (the CELERY_ prefix)."""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

app = Celery("loyalty")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _freeze_loaded_objects(**_kwargs: object) -> None:
    """What a worker process has loaded lives as long as it: out of the collector's way (see loyalty/wsgi.py)."""
    gc.freeze()
