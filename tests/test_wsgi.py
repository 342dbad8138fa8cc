"""The WSGI entry point gunicorn's workers load: everything a request needs is imported as a worker starts."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_worker_imports_the_views_before_its_first_request() -> None:
    """A cold worker's first redemption took 2.6 s, the URL patterns imported by it (bench/README.md)."""
    probe = "import sys, loyalty.wsgi; print(sorted({'api.views', 'rest_framework.views'} - set(sys.modules)))"
    environment = os.environ | {"DJANGO_SETTINGS_MODULE": "loyalty.settings", "DJANGO_DEBUG": "1"}
    result = subprocess.run(  # noqa: S603 - our own interpreter: a fresh process, as a worker starts
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr


def test_a_worker_prepares_task_publishing_without_connecting_to_the_broker() -> None:
    """A cold worker's first redemption cost 130-140 ms of CPU against ~25 (bench/README.md, "the tail's requests"):
    Celery's task registry, routes, event dispatcher and the broker's transport, built by the first task published.
    They are built as the worker starts, and a broker that does not answer does not hold the start up."""
    probe = (
        "import sys, time; started = time.monotonic(); import loyalty.wsgi; from loyalty.celery import app;"
        " wanted = {'celery.app.amqp', 'celery.backends.base', 'celery.events.dispatcher', 'kombu.transport.redis'};"
        " print(app.finalized, sorted(wanted - set(sys.modules)), time.monotonic() - started < 30)"
    )
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "loyalty.settings",
        "DJANGO_DEBUG": "1",
        "CELERY_BROKER_URL": "redis://127.0.0.1:9/0",  # the discard port: nothing answers there
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter: a fresh process, as a worker starts
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "True [] True", result.stderr
