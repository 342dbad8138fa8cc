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
