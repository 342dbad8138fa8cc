"""Benchmark of the nightly tier evaluation against its floor, on a scratch PostgreSQL database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tierline_bench \\
    DJANGO_SETTINGS_MODULE=loyalty.settings python bench/evaluation.py --partners 10000 --activities-per-partner 20

The database named in DATABASE_URL (it must contain "bench") is dropped, recreated and migrated; one tenant
with N partners of two types and N×M approved activities over 15 months is generated server-side, with the
demo's tier model (tiers/demo.py). Then it measures the full evaluation (`tenant_evaluate`, chunks run in place)
and the floor (one aggregate query over the same activities) and prints one `name value` line per figure.
See bench/README.md.
"""

import argparse
import cProfile
import os
import pstats
import sys
import threading
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def figure(name: str, value: object) -> None:
    print(f"{name} {value}", flush=True)


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def scratch_database(url: str) -> tuple[str, str]:
    """The scratch database's name and a URL of the server's maintenance database (as DATABASE_OWNER_URL's role
    when set: the application role may not create databases); refuses anything else."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql", "postgis"}:
        sys.exit("bench/evaluation.py measures PostgreSQL only: set DATABASE_URL=postgres://…/tierline_bench")
    name = parts.path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"Refusing to drop database {name!r}: the scratch database's name must contain 'bench'.")
    owner = urlsplit(os.environ.get("DATABASE_OWNER_URL") or url)
    return name, urlunsplit(owner._replace(path="/postgres"))


def recreate(name: str, maintenance_url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    connection = psycopg2.connect(maintenance_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connection.close()


def scratch_django(script: str) -> None:
    """For benchmarks whose tasks are published, not run: recreate the scratch database, start Django on it
    (no query log, a broker on Redis when REDIS_URL is set, else Celery's in-memory transport), refuse anything
    but PostgreSQL, migrate."""
    name, maintenance_url = scratch_database(os.environ.get("DATABASE_URL", ""))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-insecure-key")
    os.environ["DJANGO_DEBUG"] = "0"  # no query log
    os.environ["TIERLINE_HTTPS"] = "0"  # plain http, as behind a TLS-terminating proxy
    os.environ.setdefault("CELERY_BROKER_URL", os.environ.get("REDIS_URL") or "memory://")
    log(f"recreating database {name}")
    recreate(name, maintenance_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit(f"{script} measures PostgreSQL only.")
    call_command("migrate", verbosity=0, interactive=False)


@contextmanager
def timed(name: str):
    started = time.perf_counter()
    yield
    figure(name, f"{time.perf_counter() - started:.2f}")


def generate(*, partners: int, per_partner: int) -> tuple[object, int]:
    """One tenant, its two partner types, N partners, N×M approved activities and the demo tier model."""
    from dateutil.relativedelta import relativedelta
    from django.db import connection
    from django.utils import timezone

    from loyalty.tenancy.context import tenant_context
    from loyalty.tenancy.models import Tenant, User
    from partners.models import PartnerType
    from tiers.demo import _build_model
    from tiers.services import tier_model_publish

    tenant = Tenant.objects.create(slug="bench", name="Bench Program")
    manager = User.objects.create(email="manager@bench.test")
    with tenant_context(tenant):
        types = [
            PartnerType.objects.create(code="reseller", name="Reseller"),
            PartnerType.objects.create(code="installer", name="Installer"),
        ]
        model = _build_model(
            name="Partner Program",
            version=1,
            effective_from=timezone.localdate() - relativedelta(years=1, days=10),
            score_shift=Decimal(0),
            revenue_scale=Decimal(1),
        )
        tier_model_publish(model=model, actor=manager)
    today = timezone.localdate()
    with tenant_context(tenant), connection.cursor() as cursor:  # as the application role: row-level security applies
        # Partners: two thirds resellers, one third installers; partner n has a "size" n mod 10 for a spread of tiers.
        cursor.execute(
            """
            INSERT INTO partners_partner
                (tenant_id, external_id, name, partner_type_id, region, segment, joined_at, status)
            SELECT %s, 'P-' || n, 'Partner ' || n, CASE WHEN n %% 3 = 2 THEN %s ELSE %s END,
                   (ARRAY['EMEA', 'AMER', 'APAC'])[1 + n %% 3], '', %s, 'active'
            FROM generate_series(0, %s - 1) AS n
            """,
            [tenant.pk, types[1].pk, types[0].pk, today, partners],
        )
        cursor.execute("SELECT min(id) FROM partners_partner WHERE tenant_id = %s", [tenant.pk])
        first_id = cursor.fetchone()[0]
        # Activities: M per partner over the last 15 months: 40% sales, 15% deal registrations, 20% trainings,
        # 10% certifications (valid two years), 10% marketing, 5% referrals. A sale is sized so that revenue over
        # 12 months lands around (size + 1) / 7 of the reseller target (300,000): sizes spread partners over tiers.
        sale_amount = Decimal(937500) / per_partner / 7
        cursor.execute(
            """
            INSERT INTO partners_activity
                (tenant_id, partner_id, kind, occurred_at, amount, currency, amount_converted, exchange_rate, quantity,
                 product_sku, product_category, code, valid_until, source, external_id, status, evidence, metadata,
                 created_by_id, created_at)
            SELECT %(tenant)s, r.partner_id, r.kind, r.occurred_at, r.amount,
                   CASE WHEN r.amount IS NOT NULL THEN 'USD' ELSE '' END,
                   r.amount, CASE WHEN r.amount IS NOT NULL THEN 1 END,
                   1, '', '',
                   CASE WHEN r.kind IN ('certification', 'training') THEN 'C' || (random() * 4)::int ELSE '' END,
                   CASE WHEN r.kind = 'certification' THEN (r.occurred_at + interval '2 years')::date END,
                   'api', '', 'approved', '', '{}'::jsonb, NULL, r.occurred_at
            FROM (SELECT r.*, CASE WHEN r.kind IN ('sale', 'deal_registration')
                                   THEN round((%(sale)s * (1 + r.size) * (0.5 + random()))::numeric, 2) END AS amount
            FROM (
                SELECT %(first)s + i %% %(partners)s AS partner_id, (i %% %(partners)s) %% 10 AS size,
                       CASE WHEN r.k < 0.40 THEN 'sale' WHEN r.k < 0.55 THEN 'deal_registration'
                            WHEN r.k < 0.75 THEN 'training' WHEN r.k < 0.85 THEN 'certification'
                            WHEN r.k < 0.95 THEN 'marketing' ELSE 'referral' END AS kind,
                       now() - random() * interval '456 days' AS occurred_at
                FROM (SELECT i, random() AS k FROM generate_series(0, %(count)s - 1) AS i) AS r
            ) AS r) AS r
            """,
            {
                "tenant": tenant.pk,
                "sale": sale_amount,
                "first": first_id,
                "partners": partners,
                "count": partners * per_partner,
            },
        )
        activities = cursor.rowcount
    as_owner("VACUUM ANALYZE partners_partner", "VACUUM ANALYZE partners_activity")
    return tenant, activities


def as_owner(*statements: str) -> None:
    """Run maintenance statements as the tables' owner (DATABASE_OWNER_URL when set): the app role may not."""
    from django.conf import settings
    from django.db import connection

    from loyalty.tenancy.rls import connected_as

    with connected_as(settings.DATABASE_OWNER_URL), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def reuse(*, partners: int, per_partner: int) -> tuple[object, int] | None:
    """The tenant of an earlier run at this scale, its evaluations deleted (None when the data differs)."""
    from django.db import connection

    from loyalty.tenancy.context import tenant_context
    from loyalty.tenancy.models import Tenant

    tenant = Tenant.objects.filter(slug="bench").first()
    if tenant is None:
        return None
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM partners_partner WHERE tenant_id = %s", [tenant.pk])
        partner_count = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM partners_activity WHERE tenant_id = %s", [tenant.pk])
        activities = cursor.fetchone()[0]
    if (partner_count, activities) != (partners, partners * per_partner):
        return None
    tables = ("tiers_tierchange", "tiers_partnertier", "tiers_partnerscore", "tiers_evaluationrun")
    as_owner(f"TRUNCATE {', '.join(tables)} CASCADE", *(f"VACUUM ANALYZE {table}" for table in tables))
    return tenant, activities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=10_000, help="N partners (default 10,000)")
    parser.add_argument("--activities-per-partner", type=int, default=20, help="M activities each (default 20)")
    parser.add_argument("--profile", action="store_true", help="Profile the evaluation; the top calls go to stderr.")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Keep the data of a previous run at the same scale (only its evaluations are deleted) instead of "
        "generating it again.",
    )
    arguments = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    name, maintenance_url = scratch_database(url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-insecure-key")
    os.environ["DJANGO_DEBUG"] = "0"  # no query log: it would slow the run and grow without bound
    os.environ.pop("REDIS_URL", None)  # chunks run inline; no broker, no shared cache
    os.environ.pop("CELERY_BROKER_URL", None)

    if not arguments.reuse:
        log(f"recreating database {name}")
        recreate(name, maintenance_url)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.backends.signals import connection_created
    from django.utils import timezone

    from loyalty.tenancy.context import tenant_context
    from tiers.metrics import qualification_window
    from tiers.models import PartnerScore, TierModel
    from tiers.services import CHUNK_SIZE, tenant_evaluate

    if connection.vendor != "postgresql":
        sys.exit("bench/evaluation.py measures PostgreSQL only.")
    with timed("setup.migrate_seconds"):
        call_command("migrate", verbosity=0, interactive=False)
    scale = {"partners": arguments.partners, "per_partner": arguments.activities_per_partner}
    reused = reuse(**scale) if arguments.reuse else None
    if reused:
        log("reusing the generated data; its evaluations are deleted")
        tenant, activities = reused
    else:
        log(f"generating {arguments.partners} partners × {arguments.activities_per_partner} activities")
        with timed("setup.generate_seconds"):
            tenant, activities = generate(**scale)
    figure("setup.partners", arguments.partners)
    figure("setup.activities", activities)
    figure("setup.chunk_size", CHUNK_SIZE)

    with tenant_context(tenant):
        today = timezone.localdate()
        model = TierModel.objects.get(status=TierModel.Status.ACTIVE)
        window = qualification_window(model=model, evaluated_on=today, time_zone=tenant.time_zone)
    floor_sql = (
        "SELECT partner_id, sum(amount_converted), count(*) FROM partners_activity "
        "WHERE tenant_id = %s AND status = 'approved' AND occurred_at >= %s GROUP BY partner_id"
    )

    def floor() -> float:
        started = time.perf_counter()
        with tenant_context(tenant), connection.cursor() as cursor:
            cursor.execute(floor_sql, [tenant.pk, window.start])
            rows = cursor.fetchall()
        assert len(rows) <= arguments.partners
        return time.perf_counter() - started

    floor()  # warm the cache, so both figures read the same pages from memory
    floor_seconds = min(floor() for _ in range(3))

    queries = 0
    counting = threading.Lock()

    def count(execute, sql, params, many, context):  # noqa: ANN001, ANN202 - Django's execute wrapper signature
        nonlocal queries
        with counting:
            queries += 1
        return execute(sql, params, many, context)

    # The chunks' threads (settings.EVALUATION_STREAMS) open their own connections: counted too.
    def counted(sender, connection, **kwargs):  # noqa: ANN001, ANN003, ANN202, ARG001 - a signal receiver
        connection.execute_wrappers.append(count)

    connection_created.connect(counted, weak=False)

    # Where the chunks' time goes: the scoring (SQL, or the engine), its writes, and the forecasts (Python).
    import tiers.services as services

    # Wall-clock and the calling thread's CPU time: on a shared machine the CPU figures are the comparable ones (the
    # scoring's work is mostly PostgreSQL's, so its CPU figure here is small). With several streams the wall-clock
    # figures add up the threads' overlapping times; the CPU figures stay each thread's own.
    spent = {"scoring": 0.0, "forecasts": 0.0, "scoring_cpu": 0.0, "forecasts_cpu": 0.0}

    def timing(name: str, function):  # noqa: ANN001, ANN202 - wraps any service function
        def call(**kwargs):  # noqa: ANN003, ANN202
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(**kwargs)
            finally:
                spent[name] += time.perf_counter() - started
                spent[f"{name}_cpu"] += time.thread_time() - cpu

        return call

    for attribute, name in (
        ("chunk_score", "scoring"),
        ("chunk_scores_insert", "scoring"),
        ("evaluate_partners", "scoring"),
        ("_scores_insert", "scoring"),
        ("forecasts_for_chunk", "forecasts"),
    ):
        if hasattr(services, attribute):  # the SQL path's functions, or the engine's before it
            setattr(services, attribute, timing(name, getattr(services, attribute)))

    log("evaluating")
    profiler = cProfile.Profile() if arguments.profile else None
    with tenant_context(tenant), connection.execute_wrapper(count):
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        # As the `evaluate` command: the chunks in place, in settings.EVALUATION_STREAMS threads (1: one by one).
        summary = tenant_evaluate(evaluated_on=today)
        if profiler:
            profiler.disable()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        scored = PartnerScore.objects.filter(evaluated_on=today).count()
    assert summary is not None
    assert summary.evaluated == scored == arguments.partners, (summary, scored)

    figure("evaluation.seconds", f"{seconds:.2f}")
    figure("evaluation.partners_per_second", round(arguments.partners / seconds))
    figure("evaluation.queries", queries)
    figure("evaluation.upgrades", summary.upgrades)
    figure("evaluation.floor_seconds", f"{floor_seconds:.3f}")
    figure("evaluation.ratio_to_floor", f"{seconds / floor_seconds:.1f}")
    figure("evaluation.scoring_seconds", f"{spent['scoring']:.2f}")
    figure("evaluation.scoring_ratio_to_floor", f"{spent['scoring'] / floor_seconds:.1f}")
    figure("evaluation.forecast_seconds", f"{spent['forecasts']:.2f}")
    figure("evaluation.scoring_cpu_seconds", f"{spent['scoring_cpu']:.2f}")
    figure("evaluation.forecast_cpu_seconds", f"{spent['forecasts_cpu']:.2f}")
    figure("evaluation.cpu_seconds", f"{cpu:.2f}")
    figure("evaluation.streams", settings.EVALUATION_STREAMS)
    if profiler:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
