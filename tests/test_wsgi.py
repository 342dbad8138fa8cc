"""The WSGI entry point gunicorn's workers load: everything a request needs is imported as a worker starts."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker_probe(probe: str, **environment: str) -> str:
    """The last line `probe` prints, run in a fresh interpreter as a worker starts (development settings)."""
    result = subprocess.run(  # noqa: S603 - our own interpreter: a fresh process, as a worker starts
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "loyalty.settings", "DJANGO_DEBUG": "1"} | environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def test_a_worker_imports_the_views_before_its_first_request() -> None:
    """A cold worker's first redemption took 2.6 s, the URL patterns imported by it (bench/README.md)."""
    probe = "import sys, loyalty.wsgi; print(sorted({'api.views', 'rest_framework.views'} - set(sys.modules)))"
    assert worker_probe(probe) == "[]"


def test_a_worker_prepares_task_publishing_without_connecting_to_the_broker() -> None:
    """A cold worker's first redemption cost 130-140 ms of CPU against ~25 (bench/README.md, "the tail's requests"):
    Celery's task registry, routes, event dispatcher and the broker's transport, built by the first task published.
    They are built as the worker starts, and a broker that does not answer does not hold the start up."""
    probe = (
        "import sys, time; started = time.monotonic(); import loyalty.wsgi; from loyalty.celery import app;"
        " wanted = {'celery.app.amqp', 'celery.backends.base', 'celery.events.dispatcher', 'kombu.transport.redis'};"
        " print(app.finalized, sorted(wanted - set(sys.modules)), time.monotonic() - started < 30)"
    )
    # The discard port: nothing answers there.
    assert worker_probe(probe, CELERY_BROKER_URL="redis://127.0.0.1:9/0") == "True [] True"
