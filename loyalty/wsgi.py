"""WSGI entry point for gunicorn."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from loyalty.celery import publishing_prepare

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

application = get_wsgi_application()
# The URL patterns, and with them every view, serializer and the API framework, imported now, as each worker
# starts (before it accepts a connection), not by its first request: a cold worker's first redemption took 2.6 s
# against 0.3 s once the patterns were loaded, and the requests queued behind it made the benchmark's tail
# (bench/README.md, "Redemption: the tail").
get_resolver().url_patterns  # noqa: B018 - the property imports the URL configuration
# Celery's publishing machinery, which a worker's first task published at a commit built otherwise (the task registry,
# the AMQP routes, the broker's transport: ~25 modules): a cold worker's first redemption cost 130-140 ms of CPU
# against ~25 ms (bench/README.md, "Issue 24, item 4: the tail's requests").
publishing_prepare()
# The loaded application (modules, settings, URL patterns: a few hundred thousand objects) lives as long as the
# worker: moved out of the collector's generations, a full collection no longer walks it. Without this the
# collector took ~20 % of bulk ingestion's Python time (bench/README.md, "COPY ingestion, faster").
gc.freeze()
