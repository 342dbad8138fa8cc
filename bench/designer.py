"""Latency of the program designer's live what-if: one change of a draft, re-simulated over every partner.

    DATABASE_URL=postgres://tierline_app@127.0.0.1:5432/tierline_bench_designer \\
    DATABASE_OWNER_URL=postgres://postgres@127.0.0.1:5432/tierline_bench_designer \\
    DJANGO_SETTINGS_MODULE=loyalty.settings python bench/designer.py --partners 10000 [--changes 40]

The scratch database (its name must contain "bench") is dropped, recreated and migrated; the tenant and its
activities are bench/evaluation.py's (the demo's tier model, two pathways, a gate), evaluated once so that every
partner holds a tier. A program manager starts a draft from the model in force and the page is requested as the
browser does it (Django test client, in-process: middleware, view, template): first the draft page (the
population's metric values are read here), then `--changes` threshold changes (Gold's minimum score swept across
its range) and as many criterion changes (a target), each an htmx preview. Prints one `name value` line per
figure: the first load, and the median and p95 per change, in milliseconds.
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

from evaluation import figure, generate, log, scratch_django  # noqa: E402 - after sys.path


def form_data(draft) -> dict[str, str]:  # noqa: ANN001 - a TierModel
    """The designer's form for the saved draft, as the page posts it (tiers lowest first)."""
    from tiers.models import Criterion

    tiers = list(draft.tiers.order_by("rank").prefetch_related("benefits"))
    criteria = list(Criterion.objects.filter(pathway__model=draft).order_by("pathway_id", "pk"))
    data = {"tiers": str(len(tiers)), "criteria": str(len(criteria)), "action": "preview"}
    for index, tier in enumerate(tiers):
        prefix = f"tier-{index}"
        benefits = list(tier.benefits.all())
        data |= {
            f"{prefix}-tier_id": str(tier.pk),
            f"{prefix}-name": tier.name,
            f"{prefix}-minimum_score": str(tier.minimum_score),
            f"{prefix}-point_multiplier": str(tier.point_multiplier),
            f"{prefix}-colour": tier.colour,
            f"{prefix}-benefits": str(len(benefits)),
        }
        for position, benefit in enumerate(benefits):
            data |= {
                f"{prefix}-benefit-{position}-kind": benefit.kind,
                f"{prefix}-benefit-{position}-value": "" if benefit.value is None else str(benefit.value),
                f"{prefix}-benefit-{position}-currency": benefit.currency,
                f"{prefix}-benefit-{position}-text": benefit.text,
            }
    for index, criterion in enumerate(criteria):
        data |= {
            f"criterion-{index}-criterion_id": str(criterion.pk),
            f"criterion-{index}-weight": str(criterion.weight),
            f"criterion-{index}-target": str(criterion.target),
            f"criterion-{index}-cap": str(criterion.cap),
        }
    return data


def percentile(timings: list[float], share: float) -> float:
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--activities-per-partner", type=int, default=20)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--profile", action="store_true", help="print where one threshold change spends its time")
    arguments = parser.parse_args()
    os.environ["TIERLINE_STATIC_MANIFEST"] = "0"  # no collectstatic for a scratch run
    os.environ["TIERLINE_MFA_REQUIRED"] = "0"  # the manager signs in without a second factor here
    scratch_django("bench/designer.py")
    from django.test import Client
    from django.utils import timezone

    from loyalty.tenancy.context import tenant_context
    from loyalty.tenancy.models import Membership, Role, User
    from tiers.models import TierModel
    from tiers.services import evaluation_chunk, tenant_evaluate

    log(f"generating {arguments.partners} partners × {arguments.activities_per_partner} activities")
    tenant, activities = generate(partners=arguments.partners, per_partner=arguments.activities_per_partner)
    with tenant_context(tenant):
        started = time.perf_counter()
        tenant_evaluate(
            evaluated_on=timezone.localdate(),
            dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk),
        )
        log(f"evaluated in {time.perf_counter() - started:.1f} s")
        manager = User.objects.create_user("pm@bench.test", "bench-password-123")
        Membership.objects.create(user=manager, role=Role.PROGRAM_MANAGER)
    client = Client(HTTP_HOST="bench.localhost")
    client.force_login(manager)
    response = client.post("/program/designer/start/")
    url = response["Location"]
    assert response.status_code == 302, response.status_code
    assert url.startswith("/program/designer/"), url
    with tenant_context(tenant):
        draft = TierModel.objects.get(status=TierModel.Status.DRAFT)
        data = form_data(draft)
        gold = next(index for index, tier in enumerate(draft.tiers.order_by("rank")) if tier.name == "Gold")
    started = time.perf_counter()
    response = client.get(url)
    first_load = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.status_code
    low = float(data[f"tier-{gold - 1}-minimum_score"]) + 1
    high = float(data[f"tier-{gold + 1}-minimum_score"]) - 1

    def change(changes: dict[str, str]) -> float:
        started = time.perf_counter()
        response = client.post(url, data | changes, HTTP_HX_REQUEST="true")
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.status_code
        assert b'id="what-if"' in response.content
        return elapsed

    steps = max(1, arguments.changes - 1)
    thresholds = [
        change({f"tier-{gold}-minimum_score": f"{low + (high - low) * step / steps:.2f}"})
        for step in range(arguments.changes)
    ]
    target = float(data["criterion-0-target"])
    criteria = [
        change({"criterion-0-target": f"{target * (0.6 + 0.8 * step / steps):.2f}"})
        for step in range(arguments.changes)
    ]
    if arguments.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        change({f"tier-{gold}-minimum_score": f"{(low + high) / 2:.2f}"})
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    figure("designer.partners", arguments.partners)
    figure("designer.activities", activities)
    figure("designer.first_load_ms", f"{first_load:.0f}")
    figure("designer.threshold_change.median_ms", f"{statistics.median(thresholds):.0f}")
    figure("designer.threshold_change.p95_ms", f"{percentile(thresholds, 0.95):.0f}")
    figure("designer.criterion_change.median_ms", f"{statistics.median(criteria):.0f}")
    figure("designer.criterion_change.p95_ms", f"{percentile(criteria, 0.95):.0f}")


if __name__ == "__main__":
    main()
