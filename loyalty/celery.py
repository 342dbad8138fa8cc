"""The Celery application, configured from Django settings (the CELERY_ prefix)."""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

app = Celery("loyalty")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def publishing_prepare() -> None:
    """Build now what a process's first published task would build: the task registry, the routes and the producer
    pool, the broker's transport (its modules). Nothing connects, so a broker down as a web worker starts delays
    nothing: the first publish connects, as every publish after an outage does (loyalty/tenancy/tasks.py)."""
    app.finalize(auto=True)
    app.amqp.router  # noqa: B018 - the cached properties import and build what publishing uses
    app.amqp.producer_pool  # noqa: B018
    app.events.Dispatcher  # noqa: B018 - sending a task imports the event dispatcher (task-sent events)
    app.backend  # noqa: B018 - none is configured, but finding that scans the installed packages' entry points
    with app.connection_for_write() as connection:
        connection.transport  # noqa: B018 - the transport class, imported; closing a connection never opened is free


@worker_process_init.connect
def _freeze_loaded_objects(**_kwargs: object) -> None:
    """What a worker process has loaded lives as long as it: out of the collector's way (see loyalty/wsgi.py)."""
    gc.freeze()
