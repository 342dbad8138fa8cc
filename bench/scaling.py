"""Scaling curve of the nightly evaluation (time per partner across sizes) and the speed-up of 2 Celery workers over 1.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tierline_bench_scale REDIS_URL=redis://127.0.0.1:6379/5 \\
    DJANGO_SETTINGS_MODULE=loyalty.settings python bench/scaling.py --sizes 2000,10000,20000 [--million]

The database named in DATABASE_URL (it must contain "bench") is dropped, recreated and migrated. For each size,
the program of bench/evaluation.py (its `generate`, imported) is built afresh (the previous one truncated) and
evaluated for today with `tenant_evaluate`, chunks inline, as bench/evaluation.py measures it. On the
`--workers-size` data, the nightly fan-out then runs through Celery for real: `evaluate_tenant` is published to
Redis (REDIS_URL, required) and `celery -A loyalty worker --concurrency 1` subprocesses take its chunks; once with
one worker (for yesterday) and once with two (for the day before), timed from publishing to the run completed.
Prints one `name value` line per figure; see bench/README.md.
"""

import argparse
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.evaluation import as_owner, figure, generate, log, scratch_django  # noqa: E402


def evaluate_inline(*, tenant: object, partners: int) -> float:
    """Seconds of one full evaluation for today, chunks run in this process."""
    from django.utils import timezone

    from loyalty.tenancy.context import tenant_context
    from tiers.services import evaluation_chunk, tenant_evaluate

    with tenant_context(tenant):
        started = time.perf_counter()
        summary = tenant_evaluate(
            evaluated_on=timezone.localdate(),
            dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk),
        )
        seconds = time.perf_counter() - started
    assert summary is not None
    assert summary.evaluated == partners, summary
    return seconds


def evaluate_with_workers(*, tenant: object, partners: int, workers: int, days_ago: int) -> float:
    """Seconds from publishing the nightly task to its run completed, with `workers` single-process workers."""
    from django.utils import timezone

    from loyalty.celery import app as celery_app
    from loyalty.tenancy.context import tenant_context
    from tiers.models import EvaluationRun
    from tiers.tasks import evaluate_tenant

    celery_app.control.purge()
    processes = [
        subprocess.Popen(  # noqa: S603 - our own venv's celery
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "loyalty",
                "--quiet",
                "worker",
                "--concurrency",
                "1",
                "--hostname",
                f"bench{index}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=sys.stderr,  # stdout carries the figures only
        )
        for index in range(workers)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(celery_app.control.ping(timeout=1)) < workers:
            if time.monotonic() > deadline or any(process.poll() is not None for process in processes):
                sys.exit("The Celery workers did not start.")
        with tenant_context(tenant):
            evaluated_on = timezone.localdate() - timedelta(days=days_ago)
        started = time.perf_counter()
        evaluate_tenant.delay(tenant_id=tenant.pk, evaluated_on=evaluated_on.isoformat())
        with tenant_context(tenant):
            while True:
                run = EvaluationRun.objects.filter(evaluated_on=evaluated_on).first()
                if run is not None and run.status != EvaluationRun.Status.RUNNING:
                    break
                if time.perf_counter() - started > 1800 or any(process.poll() is not None for process in processes):
                    sys.exit("The evaluation through Celery did not complete.")
                time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
    assert (run.status, run.done) == (EvaluationRun.Status.COMPLETED, partners), (run.status, run.done, run.errors)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,10000,20000", help="partner counts (default 2000,10000,20000)")
    parser.add_argument("--million", action="store_true", help="add 1,000,000 partners to the ladder (hours)")
    parser.add_argument("--activities-per-partner", type=int, default=10, help="activities each (default 10)")
    parser.add_argument("--workers-size", type=int, default=10_000, help="size of the Celery comparison (10,000)")
    arguments = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        sys.exit("bench/scaling.py needs REDIS_URL: the Celery workers take their tasks from Redis.")
    sizes = {int(size) for size in arguments.sizes.split(",")} | {arguments.workers_size}
    sizes = sorted(sizes | ({1_000_000} if arguments.million else set()))

    scratch_django("bench/scaling.py")

    per_partner = {}
    for size in sizes:
        as_owner("TRUNCATE tenancy_tenant, tenancy_user CASCADE")  # the previous size's program
        log(f"{size} partners × {arguments.activities_per_partner} activities")
        tenant, _activities = generate(partners=size, per_partner=arguments.activities_per_partner)
        seconds = evaluate_inline(tenant=tenant, partners=size)
        per_partner[size] = seconds / size
        figure(f"scaling.{size}.seconds", f"{seconds:.2f}")
        figure(f"scaling.{size}.partners_per_second", round(size / seconds))
        figure(f"scaling.{size}.microseconds_per_partner", round(seconds / size * 1e6))
        if size == arguments.workers_size:
            log(f"the nightly fan-out through Celery, 1 worker then 2, on {size} partners")
            one = evaluate_with_workers(tenant=tenant, partners=size, workers=1, days_ago=1)
            two = evaluate_with_workers(tenant=tenant, partners=size, workers=2, days_ago=2)
            figure("scaling.celery.partners", size)
            figure("scaling.celery.one_worker_seconds", f"{one:.2f}")
            figure("scaling.celery.two_workers_seconds", f"{two:.2f}")
            figure("scaling.celery.speedup", f"{one / two:.2f}")
    # Linear growth keeps the time per partner flat: the largest size's over the smallest's (1.0 = linear).
    figure("scaling.linearity", f"{per_partner[sizes[-1]] / per_partner[sizes[0]]:.2f}")


if __name__ == "__main__":
    main()
