"""Server time and query count of the partner dashboard for a partner with 10,000 ledger entries (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tierline_bench_portal \\
    DJANGO_SETTINGS_MODULE=loyalty.settings python bench/portal.py [--entries 10000] [--requests 60]

The scratch database (its name must contain "bench") is dropped, recreated and migrated. Prints one
`name value` line per figure: the dashboard's median and p95 server time (Django test client, in-process,
no network), its query count, and the ratio of its median to a trivial view's: one rendering a one-line template
for the same signed-in partner through the same middleware (tenant, session, membership, CSP).
"""

import argparse
import itertools
import os
import statistics
import sys
import time
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from evaluation import figure, recreate, scratch_database  # noqa: E402 - after sys.path
from ingest import cpu_seconds  # noqa: E402 - after sys.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--reuse", action="store_true", help="keep the partner of an earlier run (no rebuild)")
    parser.add_argument("--profile", action="store_true", help="cProfile the dashboard's requests (to stderr)")
    arguments = parser.parse_args()
    name, maintenance_url = scratch_database(os.environ.get("DATABASE_URL", ""))
    if not arguments.reuse:
        recreate(name, maintenance_url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
    os.environ["TIERLINE_HTTPS"] = "0"
    os.environ["TIERLINE_STATIC_MANIFEST"] = "0"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from loyalty.tenancy.models import User

    if arguments.reuse:
        user = User.objects.get(email=PARTNER_EMAIL)
    else:
        call_command("migrate", verbosity=0)
        user = partner_build(entries=arguments.entries)
    client = Client(HTTP_HOST="bench.localhost")
    client.force_login(user)
    for _warm in range(5):
        assert client.get("/").status_code == 200
    queries = []

    def count(execute, sql, params, many, context):  # noqa: ANN001, ANN202 - Django's execute wrapper signature
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        client.get("/")
    trivial_urls_install()
    if arguments.profile:
        profile(client.get, "/", arguments.requests)
    dashboard = server_times(client.get, "/", arguments.requests)
    trivial = server_times(client.get, TRIVIAL_PATH, arguments.requests)
    with fragments_missed():
        uncached = server_times(client.get, "/", arguments.requests)
    figure("portal.dashboard.entries", arguments.entries)
    figure("portal.dashboard.queries", len(queries))
    for name, times in (("dashboard", dashboard), ("trivial", trivial), ("dashboard_uncached", uncached)):
        figure(f"portal.{name}.median_ms", f"{statistics.median(times.wall):.1f}")
        figure(f"portal.{name}.p95_ms", f"{times.wall[int(len(times.wall) * 0.95) - 1]:.1f}")
        figure(f"portal.{name}.cpu_ms", f"{times.cpu_ms:.1f}")
        figure(f"portal.{name}.python_cpu_ms", f"{times.python_cpu_ms:.1f}")
    figure(
        "portal.dashboard.ratio_to_trivial",
        f"{statistics.median(dashboard.wall) / statistics.median(trivial.wall):.2f}",
    )
    figure("portal.dashboard.cpu_ratio_to_trivial", f"{dashboard.cpu_ms / trivial.cpu_ms:.2f}")
    figure(
        "portal.dashboard_uncached.ratio_to_trivial",
        f"{statistics.median(uncached.wall) / statistics.median(trivial.wall):.2f}",
    )


PARTNER_EMAIL = "partner@bench.test"


def partner_build(*, entries: int) -> "User":  # noqa: F821 - imported after django.setup()
    """One tenant, one scored partner with 59 approved sales and `entries` ledger entries; returns its member."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from loyalty.ledger.models import EntryKind, LedgerEntry
    from loyalty.ledger.services import points_account_for
    from loyalty.tenancy.context import tenant_context
    from loyalty.tenancy.models import Membership, Role, Tenant, User
    from loyalty.tenancy.rls import connected_as
    from partners.models import Activity, Partner, PartnerType
    from tiers.demo import _build_model
    from tiers.services import partner_rescore, tier_model_publish

    tenant = Tenant.objects.create(slug="bench", name="Bench Program")
    user = User.objects.create_user(PARTNER_EMAIL, "bench-password-123")
    with tenant_context(tenant):
        partner_type = PartnerType.objects.create(code="reseller", name="Reseller")
        partner = Partner.objects.create(external_id="P-1", name="Bench Partner", partner_type=partner_type)
        Membership.objects.create(user=user, role=Role.PARTNER_ADMIN, partner=partner)
        manager = User.objects.create_user("pm@bench.test", "bench-password-123")
        model = _build_model(
            name="Program",
            version=1,
            effective_from=timezone.localdate() - timedelta(days=400),
            score_shift=Decimal(0),
            revenue_scale=Decimal(1),
        )
        tier_model_publish(model=model, actor=manager)
        Activity.objects.bulk_create(
            [
                Activity(
                    tenant=tenant,
                    partner=partner,
                    kind="sale",
                    occurred_at=timezone.now() - timedelta(days=day),
                    amount=Decimal(5000),
                    amount_converted=Decimal(5000),
                    currency="USD",
                    source="api",
                    status="approved",
                )
                for day in range(1, 60)
            ]
        )
        partner_rescore(partner=partner)
        account = points_account_for(partner=partner)
        now = timezone.now()
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(
                    tenant=tenant,
                    account=account,
                    kind=EntryKind.EARN,
                    points=10,
                    balance_after=10 * (index + 1),
                    created_at=now - timedelta(minutes=entries - index),
                    effective_at=now - timedelta(minutes=entries - index),
                    memo="History",
                    idempotency_key=f"history:{index}",
                    entry_hash="0" * 64,
                )
                for index in range(entries)
            ],
            batch_size=5000,
        )
        type(account).objects.filter(pk=account.pk).update(balance=10 * entries)
    with connected_as(settings.DATABASE_OWNER_URL):  # only the owner may analyse its tables
        connection.cursor().execute("ANALYZE")
    return user


def profile(get: Callable, path: str, requests: int) -> None:
    """cProfile `requests` GETs of `path`; the top functions by own and by cumulative time go to stderr."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _each in range(requests):
        get(path)
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(40)
        print(out.getvalue(), file=sys.stderr)


TRIVIAL_PATH = "/bench-trivial/"


def trivial_urls_install() -> None:
    """Serve TRIVIAL_PATH beside the tenant URLs: a view that renders a one-line template, nothing else."""
    from django.conf import settings
    from django.http import HttpResponse
    from django.template import engines
    from django.urls import clear_url_caches, include, path

    template = engines["django"].from_string("<p>Hello {{ request.user.email }}</p>")

    def trivial(request):  # noqa: ANN001, ANN202 - a view
        return HttpResponse(template.render({}, request))

    module = types.ModuleType("bench_trivial_urls")
    module.urlpatterns = [path(TRIVIAL_PATH.strip("/") + "/", trivial), path("", include(settings.ROOT_URLCONF))]
    sys.modules[module.__name__] = module
    settings.ROOT_URLCONF = module.__name__
    clear_url_caches()


@dataclass
class Timings:
    wall: list[float]  # milliseconds per request, sorted
    cpu_ms: float  # CPU per request, this process's and its PostgreSQL backend's: what a page costs, whatever the load
    python_cpu_ms: float  # of which this process's


def server_times(get: Callable, path: str, requests: int) -> Timings:
    """`requests` GETs of `path` (after 5 warm-ups): wall time of each and CPU time per request."""
    for _warm in range(5):
        assert get(path).status_code == 200
    timings = []
    python, postgres = cpu_seconds()
    for _each in range(requests):
        started = time.perf_counter()
        response = get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    python_after, postgres_after = cpu_seconds()
    cpu = python_after - python + (postgres_after - postgres if postgres is not None else 0)
    return Timings(sorted(timings), cpu * 1000 / requests, (python_after - python) * 1000 / requests)


@contextmanager
def fragments_missed() -> Iterator[None]:
    """Every request misses the dashboard's cached fragments: the versions that key them change each time."""
    from portal import views

    versions = views._dashboard_versions
    fresh = itertools.count()
    run = uuid.uuid4().hex  # a shared cache (Redis) keeps an earlier run's fragments: never reuse their keys

    def missed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the wrapped function's
        standing, points_version, points = versions(*args, **kwargs)
        return f"{run}.{next(fresh)}.{standing}", f"{run}.{next(fresh)}.{points_version}", points

    views._dashboard_versions = missed
    try:
        yield
    finally:
        views._dashboard_versions = versions


if __name__ == "__main__":
    main()
