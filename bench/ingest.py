"""Benchmark of activity ingestion (the bulk service behind the API and the CSV import), on a scratch PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tierline_bench_ingest \\
    DJANGO_SETTINGS_MODULE=loyalty.settings python bench/ingest.py --partners 1000 --activities 100000

The database named in DATABASE_URL (it must contain "bench") is dropped, recreated and migrated; one tenant with
N partners of two types, five earning rules (a per-currency rate, a capped bonus, a category SPIFF, a training
rule for one partner type, a minimum-amount bonus) and a tier multiplier on a tenth of the partners. Then:
(a) `activities_ingest(approve=True)` in batches of 1,000, as POST /api/v1/activities/ calls it;
(b) a CSV import of as many rows, end to end: upload check, dry run, import (chunks run inline, as the task would).
Prints one `name value` line per figure. See bench/README.md.
"""

import argparse
import cProfile
import csv
import gc
import os
import pstats
import sys
import tempfile
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.evaluation import figure, log, scratch_django  # noqa: E402

BATCH = 1_000
KINDS = ["sale"] * 6 + ["deal_registration", "training", "certification", "marketing"]


def generate(*, partners: int) -> tuple[object, object]:
    """The tenant, its program manager, N partners, the earning rules and some tier multipliers."""
    from django.db import connection
    from django.utils import timezone

    from earning.models import EarningRule
    from loyalty.tenancy.context import tenant_context
    from loyalty.tenancy.models import Tenant, User
    from partners.models import PartnerType
    from tiers.models import PartnerTier, Tier, TierModel

    tenant = Tenant.objects.create(slug="bench", name="Bench Program")
    manager = User.objects.create(email="manager@bench.test")
    with tenant_context(tenant):
        reseller = PartnerType.objects.create(code="reseller", name="Reseller")
        installer = PartnerType.objects.create(code="installer", name="Installer")
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO partners_partner
                    (tenant_id, external_id, name, partner_type_id, region, segment, joined_at, status)
                SELECT %s, 'P-' || n, 'Partner ' || n, CASE WHEN n %% 3 = 2 THEN %s ELSE %s END, '', '', %s, 'active'
                FROM generate_series(0, %s - 1) AS n
                """,
                [tenant.pk, installer.pk, reseller.pk, timezone.localdate(), partners],
            )
        rule = EarningRule.objects.create
        rule(name="Sales", activity_kind="sale", basis="per_currency_unit", rate=Decimal("0.1"))
        rule(
            name="Deal bonus",
            activity_kind="sale",
            basis="per_activity",
            rate=Decimal(50),
            cap_points=500,
            cap_period="month",
        )
        rule(
            name="Switch SPIFF",
            activity_kind="sale",
            basis="per_quantity",
            rate=Decimal(5),
            product_categories=["switches"],
        )
        rule(
            name="Big deals",
            activity_kind="deal_registration",
            basis="per_activity",
            rate=Decimal(200),
            minimum_amount=Decimal(5000),
        )
        training = rule(name="Training", activity_kind="training", basis="per_activity", rate=Decimal(100))
        training.partner_types.add(installer)
        model = TierModel.objects.create(name="Program")
        gold = Tier.objects.create(
            model=model, name="Gold", rank=1, minimum_score=Decimal(0), point_multiplier=Decimal("1.5")
        )
        PartnerTier.objects.bulk_create(
            [
                PartnerTier(tenant=tenant, partner_id=partner_id, tier=gold, since=timezone.localdate())
                for partner_id in tenant_partner_ids(tenant)[::10]
            ]
        )
    statistics_gather()
    return tenant, manager


def statistics_gather() -> None:
    """`ANALYZE` the database, as a production server's autovacuum would have by then. This machine's PostgreSQL
    runs with `autovacuum = off`, and without statistics the planner may probe the cap cells through the wrong
    index mid-run (bench/README.md, "Where PostgreSQL's 170 µs per CSV row go"): a figure no deployment sees."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def tenant_partner_ids(tenant: object) -> list[int]:
    from partners.models import Partner

    return list(Partner.objects.order_by("pk").values_list("pk", flat=True))


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds used so far by the PostgreSQL backend `pid`, None when the server is not on this machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _OtherBackends:
    """The CPU of the PostgreSQL backends of this process's other threads (a CSV import's streams open their own
    connections and close them when the import ends): each one's is read when it closes."""

    def __init__(self) -> None:
        self.closed_seconds = 0.0
        self.open_pids: dict[int, int] = {}  # id of the connection wrapper: its backend's pid

    def created(self, sender: object, connection: object, **kwargs: object) -> None:  # connection_created
        if threading.current_thread() is threading.main_thread():
            return  # cpu_seconds() reads the main thread's backend itself
        with connection.connection.cursor() as cursor:  # the driver's own: nothing of Django's runs
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        self.open_pids[id(connection)] = pid
        close = type(connection).close

        def counted_close() -> None:
            if (closing := self.open_pids.pop(id(connection), None)) is not None:
                self.closed_seconds += _backend_cpu(closing) or 0.0
            close(connection)

        connection.close = counted_close

    def seconds(self) -> float:
        return self.closed_seconds + sum(_backend_cpu(pid) or 0.0 for pid in self.open_pids.values())


_other_backends = _OtherBackends()


def cpu_seconds() -> tuple[float, float | None]:
    """CPU time used so far by this process (all its threads) and by its PostgreSQL backends (None when the server
    is not on this machine): on a shared machine they say what the work costs, whatever the other sessions' load
    does to wall time.
    """
    from django.db import connection
    from django.db.backends.signals import connection_created

    connection_created.connect(_other_backends.created, dispatch_uid="bench-other-backends")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    main = _backend_cpu(pid)
    if main is None:
        return time.process_time(), None
    return time.process_time(), main + _other_backends.seconds()


def cpu_figures(prefix: str, *, started: tuple[float, float | None], activities: int) -> None:
    """`<prefix>.python_cpu_ms_per_1000` and `<prefix>.postgres_cpu_ms_per_1000` since `started` (cpu_seconds())."""
    python, postgres = cpu_seconds()
    figure(f"{prefix}.python_cpu_ms_per_1000", round((python - started[0]) * 1e6 / activities))
    if postgres is not None and started[1] is not None:
        figure(f"{prefix}.postgres_cpu_ms_per_1000", round((postgres - started[1]) * 1e6 / activities))


def rows(*, count: int, partners: int, prefix: str) -> list[dict[str, str]]:
    """`count` activities as strings, as they arrive from a CRM export or JSON."""
    from django.utils import timezone

    now = timezone.now()
    made = []
    for n in range(count):
        kind = KINDS[n % len(KINDS)]
        row = {
            "partner": f"P-{(n * 7919) % partners}",
            "external_id": f"{prefix}-{n}",
            "kind": kind,
            "occurred_at": (now - timedelta(minutes=37 * n % 500_000)).isoformat(timespec="seconds"),
        }
        if kind in ("sale", "deal_registration"):
            row |= {"amount": f"{100 + n % 9000}.{n % 100:02d}", "currency": "USD", "quantity": str(1 + n % 5)}
            row["product_category"] = "switches" if n % 4 == 0 else "routers"
        elif kind in ("training", "certification"):
            row["code"] = f"C-{n % 12}"
        made.append(row)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=1_000, help="N partners (default 1,000)")
    parser.add_argument("--activities", type=int, default=100_000, help="activities per measure (default 100,000)")
    parser.add_argument("--profile", action="store_true", help="Profile (a); the top calls go to stderr.")
    arguments = parser.parse_args()

    started = time.perf_counter()
    # The re-score tasks are published, as in production, not run inline; the queue is purged at the end.
    scratch_django("bench/ingest.py")
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection

    from imports.ingest import activities_ingest
    from imports.services import IMPORT_COLUMNS, import_job_commit, import_job_create, import_job_run
    from loyalty.celery import app as celery_app
    from loyalty.ledger.models import LedgerEntry
    from loyalty.ledger.selectors import ledger_verify
    from loyalty.tenancy.context import tenant_context
    from partners.models import Activity, ImportJob

    tenant, manager = generate(partners=arguments.partners)
    figure("setup.seconds", f"{time.perf_counter() - started:.1f}")
    figure("setup.partners", arguments.partners)
    figure("setup.broker", celery_app.conf.broker_url.split("://")[0])
    # As the servers do once loaded (loyalty/wsgi.py, the Celery worker): what is loaded stays out of the collector.
    gc.freeze()

    # (a) The bulk service, as the API calls it.
    api_rows = rows(count=arguments.activities, partners=arguments.partners, prefix="API")
    profiler = cProfile.Profile() if arguments.profile else None
    log(f"(a) ingesting {len(api_rows)} activities in batches of {BATCH}")
    sql_seconds = 0.0

    def timed_sql(execute, sql, params, many, context):  # noqa: ANN001, ANN202 - Django's execute wrapper signature
        nonlocal sql_seconds
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_seconds += time.perf_counter() - began

    with tenant_context(tenant), connection.execute_wrapper(timed_sql):
        cpu_started = cpu_seconds()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for start in range(0, len(api_rows), BATCH):
            results = activities_ingest(rows=api_rows[start : start + BATCH], source="api", actor=manager)
            assert all(result.status == "created" for result in results), results[0]
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        cpu_figures("api", started=cpu_started, activities=len(api_rows))
        entries = LedgerEntry.objects.count()
    figure("api.activities", len(api_rows))
    figure("api.ledger_entries", entries)
    figure("api.seconds", f"{seconds:.2f}")
    figure("api.activities_per_second", round(len(api_rows) / seconds))
    figure("api.sql_seconds", f"{sql_seconds:.2f}")
    statistics_gather()  # autovacuum's analyze after (a)'s new rows

    # (b) A CSV file of as many rows, end to end.
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", encoding="utf-8", delete=False) as handle:
        writer = csv.DictWriter(handle, fieldnames=IMPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows(count=arguments.activities, partners=arguments.partners, prefix="CSV"))
    content = Path(handle.name).read_bytes()
    Path(handle.name).unlink()
    log(f"(b) importing a CSV of {arguments.activities} rows ({len(content) / 2**20:.1f} MB)")
    with tenant_context(tenant):
        upload = SimpleUploadedFile("bench.csv", content, content_type="text/csv")
        started = time.perf_counter()
        # Services as the admin calls them; the chunks run here rather than in a worker (the task is queued, unread).
        job = import_job_create(file=upload, actor=manager, approve=True)
        total = job.total_rows
        checked = time.perf_counter()
        import_job_run(job_id=job.pk, phase=ImportJob.Status.VALIDATING)
        validated = time.perf_counter()
        job.refresh_from_db()
        import_job_commit(job=job)
        cpu_started = cpu_seconds()
        import_job_run(job_id=job.pk, phase=ImportJob.Status.IMPORTING)
        imported = time.perf_counter()
        cpu_figures("csv.import", started=cpu_started, activities=total)
        job.refresh_from_db()
        assert (job.status, job.created_count) == (ImportJob.Status.DONE, total), (job.status, job.failure)
        assert Activity.objects.filter(source="csv").count() == total
        breaches = ledger_verify().breaches
    job.file.delete(save=False)
    figure("csv.rows", total)
    figure("csv.import_streams", getattr(settings, "IMPORT_STREAMS", 1))
    figure("csv.upload_check_seconds", f"{checked - started:.2f}")
    figure("csv.dry_run_seconds", f"{validated - checked:.2f}")
    figure("csv.dry_run_rows_per_second", round(total / (validated - checked)))
    figure("csv.import_seconds", f"{imported - validated:.2f}")
    figure("csv.import_rows_per_second", round(total / (imported - validated)))
    figure("csv.end_to_end_rows_per_second", round(total / (imported - started)))
    figure("ledger_verify.breaches", len(breaches))
    celery_app.control.purge()
    if profiler:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
