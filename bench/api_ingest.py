"""Benchmark of POST /api/v1/activities/: 100,000 activities in batches of 1,000 through the API, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tierline_bench_api \\
    DJANGO_SETTINGS_MODULE=loyalty.settings python bench/api_ingest.py --partners 1000 --activities 100000

The database named in DATABASE_URL (it must contain "bench") is dropped, recreated and migrated; the program is
bench/ingest.py's (N partners, five earning rules, tier multipliers), plus an API key with `activities:write`.
Each batch is one HTTP request through Django's whole stack in process (the test Client: host routing, the
tenant middleware, key authentication, throttling, the idempotency claim, JSON parsing and rendering), with an
Idempotency-Key; rule evaluation and ledger posting included, after one unmeasured warm-up request of as many
activities (a long-running server's first request). No network and no gunicorn: the figure is the server's work.
Prints one `name value` line per figure. See bench/README.md.
"""

import argparse
import cProfile
import gc
import json
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.evaluation import figure, log, scratch_django  # noqa: E402
from bench.ingest import BATCH, cpu_figures, cpu_seconds, generate, rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=1_000, help="N partners (default 1,000)")
    parser.add_argument("--activities", type=int, default=100_000, help="activities to post (default 100,000)")
    parser.add_argument("--profile", action="store_true", help="Profile the requests; the top calls go to stderr.")
    arguments = parser.parse_args()

    started = time.perf_counter()
    scratch_django("bench/api_ingest.py")
    from django.conf import settings
    from django.test import Client

    from api.services import api_key_create
    from loyalty.celery import app as celery_app
    from loyalty.ledger.models import LedgerEntry
    from loyalty.ledger.selectors import ledger_verify
    from loyalty.tenancy.context import tenant_context

    tenant, manager = generate(partners=arguments.partners)
    with tenant_context(tenant):
        token = api_key_create(name="Bench", scopes=["activities:write"], created_by=manager).token
    figure("setup.seconds", f"{time.perf_counter() - started:.1f}")
    figure("setup.partners", arguments.partners)
    # As the servers do once loaded (loyalty/wsgi.py, the Celery worker): what is loaded stays out of the collector.
    gc.freeze()

    all_rows = rows(count=arguments.activities, partners=arguments.partners, prefix="API")
    bodies = [json.dumps({"activities": all_rows[at : at + BATCH]}) for at in range(0, len(all_rows), BATCH)]
    client = Client(HTTP_HOST=f"{tenant.slug}.localhost", HTTP_AUTHORIZATION=f"Bearer {token}")
    # The default rate (1,200 requests a minute) is far above 100 batches, but a fast run must not meet it.
    settings.API_THROTTLE_RATE = "100000/min"
    profiler = cProfile.Profile() if arguments.profile else None
    # One request first, not measured: the first request of a process imports the API's modules, resolves its URLs
    # and fills Django's caches (~2 s here), which a server pays once, not per batch.
    warm_up = json.dumps({"activities": rows(count=BATCH, partners=arguments.partners, prefix="WARM")})
    response = client.post("/api/v1/activities/", warm_up, content_type="application/json", HTTP_IDEMPOTENCY_KEY="warm")
    assert response.status_code == 200, response.content[:500]
    log(f"posting {len(all_rows)} activities in {len(bodies)} requests of {BATCH}")
    slowest = 0.0
    cpu_started = cpu_seconds()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    for number, body in enumerate(bodies):
        began = time.perf_counter()
        response = client.post(
            "/api/v1/activities/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"bench-{number}"
        )
        slowest = max(slowest, time.perf_counter() - began)
        assert response.status_code == 200, response.content[:500]
        assert response.json()["created"] == BATCH, response.content[:500]
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    cpu_figures("api", started=cpu_started, activities=len(all_rows))
    with tenant_context(tenant):
        entries = LedgerEntry.objects.count()
        breaches = len(ledger_verify().breaches)
    celery_app.control.purge()
    figure("api.activities", len(all_rows))
    figure("api.requests", len(bodies))
    figure("api.ledger_entries", entries)
    figure("api.seconds", f"{seconds:.2f}")
    figure("api.activities_per_second", round(len(all_rows) / seconds))
    figure("api.slowest_request_seconds", f"{slowest:.2f}")
    figure("ledger_verify.breaches", breaches)
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
