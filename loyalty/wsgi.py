"""WSGI entry point for gunicorn."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

application = get_wsgi_application()
# The loaded application (modules, settings, URL patterns: a few hundred thousand objects) lives as long as the
# worker: moved out of the collector's generations, a full collection no longer walks it. Without this the
# collector took ~20 % of bulk ingestion's Python time (bench/README.md, "COPY ingestion, faster").
gc.freeze()
