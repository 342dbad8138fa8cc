"""Latency of the program analytics page at scale: every figure, as a program manager requests it.

    DATABASE_URL=postgres://tierline_app@127.0.0.1:5432/tierline_bench_analytics \\
    DATABASE_OWNER_URL=postgres://postgres@127.0.0.1:5432/tierline_bench_analytics \\
    DJANGO_SETTINGS_MODULE=loyalty.settings python bench/analytics.py --partners 100000 --activities-per-partner 50

The scratch database (its name must contain "bench") is dropped, recreated and migrated; the tenant and its
activities are bench/evaluation.py's (approved activities over 15 months, the demo's tier model), the partners'
join dates spread over the last 30 months, evaluated once so that every partner holds a tier. The analytics
rollup is then built in full (timed), and a month-close night is timed too (one newly closed month rebuilt);
`--no-rollup` drops it instead, so the page reads every activity live. Then the page is requested as the browser
does it (Django test client, in-process: middleware, view, template, all eight figures): `--requests` times with
the default filters (the last 365 days), as many with a region and a tier, as many for a past quarter cut
mid-month, and one CSV. Prints one `name value` line per figure: median and p95 in milliseconds per page.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from evaluation import as_owner, figure, generate, log, scratch_django  # noqa: E402 - after sys.path


def percentile(timings: list[float], share: float) -> float:
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--activities-per-partner", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--reuse", action="store_true", help="Keep the tenant a previous run generated.")
    parser.add_argument("--no-rollup", action="store_true", help="Measure the live reads: no analytics rollup.")
    arguments = parser.parse_args()
    os.environ["TIERLINE_STATIC_MANIFEST"] = "0"  # no collectstatic for a scratch run
    os.environ["TIERLINE_MFA_REQUIRED"] = "0"  # the manager signs in without a second factor here
    if arguments.reuse:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")
        os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-insecure-key")
        os.environ["DJANGO_DEBUG"] = "0"
        os.environ["TIERLINE_HTTPS"] = "0"
        os.environ.setdefault("CELERY_BROKER_URL", "memory://")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)  # the tables a newer version added
    else:
        scratch_django("bench/analytics.py")
    from dateutil.relativedelta import relativedelta
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from analytics.models import PartnerMonth, RollupState
    from analytics.services import rollup_refresh
    from loyalty.tenancy.context import tenant_context
    from loyalty.tenancy.models import Membership, Role, Tenant, User
    from tiers.models import PartnerTier
    from tiers.services import evaluation_chunk, tenant_evaluate

    reused = Tenant.objects.filter(slug="bench").first() if arguments.reuse else None
    if reused is not None:
        tenant, activities = reused, arguments.partners * arguments.activities_per_partner
    else:
        log(f"generating {arguments.partners} partners × {arguments.activities_per_partner} activities")
        tenant, activities = generate(partners=arguments.partners, per_partner=arguments.activities_per_partner)
    figure("setup.partners", arguments.partners)
    figure("setup.activities", activities)
    with tenant_context(tenant), connection.cursor() as cursor:
        # Join dates over 30 months, so that retention and time to first upgrade have cohorts.
        cursor.execute(
            "UPDATE partners_partner SET joined_at = current_date - (id %% 900)::int WHERE tenant_id = %s", [tenant.pk]
        )
    as_owner("VACUUM ANALYZE partners_partner")
    with tenant_context(tenant):
        started = time.perf_counter()
        if not PartnerTier.objects.exists():  # a reused tenant was evaluated already
            tenant_evaluate(
                evaluated_on=timezone.localdate(),
                dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk),
            )
        log(f"evaluated in {time.perf_counter() - started:.1f} s")
        manager = User.objects.filter(email="pm@bench.test").first() or User.objects.create_user(
            "pm@bench.test", "bench-password-123"
        )
        Membership.objects.get_or_create(user=manager, defaults={"role": Role.PROGRAM_MANAGER})
    with tenant_context(tenant):
        if arguments.no_rollup:
            RollupState.objects.all().delete()
            PartnerMonth.objects.all().delete()
        else:
            state = rollup_refresh(full=True)
            figure("rollup.full_seconds", f"{state.duration.total_seconds():.1f}")
            figure("rollup.rows", state.rows_written)
            # A month-close night: the month just closed is rebuilt (and any month a review touched since).
            RollupState.objects.update(covered_until=state.covered_until - relativedelta(months=1))
            state = rollup_refresh()
            figure("rollup.month_close_seconds", f"{state.duration.total_seconds():.1f}")
            figure("rollup.month_close_months", state.months_rebuilt)
    as_owner(
        "VACUUM ANALYZE tiers_partnertier",
        "VACUUM ANALYZE tiers_tierchange",
        "VACUUM ANALYZE analytics_partnermonth",
        "VACUUM ANALYZE partners_activity",
    )
    client = Client(HTTP_HOST="bench.localhost")
    client.force_login(manager)

    def get(url: str) -> float:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (url, response.status_code)
        return elapsed

    get("/program/analytics/")  # warm the caches once, as a running server is
    today = timezone.localdate()
    quarter_end = today.replace(day=1) - relativedelta(months=2, days=-14)  # mid-month, in a closed month
    quarter_start = quarter_end - relativedelta(months=3)
    pages = {
        "analytics.default": "/program/analytics/",
        "analytics.filtered": "/program/analytics/?region=EMEA&tier=Gold",
        "analytics.past_quarter": f"/program/analytics/?start={quarter_start}&end={quarter_end}",
    }
    for name, url in pages.items():
        timings = [get(url) for _ in range(arguments.requests)]
        figure(f"{name}.median_ms", f"{statistics.median(timings):.0f}")
        figure(f"{name}.p95_ms", f"{percentile(timings, 0.95):.0f}")
    figure("analytics.csv_sales_by_tier_ms", f"{get('/program/analytics/sales_by_tier.csv'):.0f}")


if __name__ == "__main__":
    main()
