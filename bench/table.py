"""The issue-24 table from the figures `make bench` wrote: one row per budgeted figure, its value and whether it holds.

    python bench/table.py var/bench

Reads every `<name>.txt` of the directory (the `name value` lines each benchmark prints) and prints a Markdown table,
plus the machine's load average when the table was made (figures from a busy machine are not capacity).
A figure whose benchmark did not run (the 1 M evaluation is opt-in: `make bench-1m`) shows as "—".
"""

import os
import sys
from collections.abc import Callable
from pathlib import Path

# (label, file, figures shown, the budget in words, the check on the figures read)
Check = Callable[[dict[str, float]], bool]
ROWS: list[tuple[str, str, list[str], str, Check]] = [
    (
        "evaluation 100k × 50 (app role, RLS): seconds, ratio to floor",
        "evaluation_100k",
        ["evaluation.seconds", "evaluation.ratio_to_floor"],
        "≤ 60 s, ≤ 3×",
        lambda f: f["evaluation.seconds"] <= 60 and f["evaluation.ratio_to_floor"] <= 3,
    ),
    (
        "evaluation 10k × 20 (app role, RLS): seconds, ratio to floor",
        "evaluation_10k",
        ["evaluation.seconds", "evaluation.ratio_to_floor"],
        "≤ 5×",
        lambda f: f["evaluation.ratio_to_floor"] <= 5,
    ),
    (
        "evaluation 1 M × 20 (app role, RLS; `make bench-1m`): seconds, ratio",
        "evaluation_1m",
        ["evaluation.seconds", "evaluation.ratio_to_floor"],
        "≤ 120 s, ≤ 5×",
        lambda f: f["evaluation.seconds"] <= 120 and f["evaluation.ratio_to_floor"] <= 5,
    ),
    (
        "bulk API ingestion, activities/s",
        "api_ingest",
        ["api.activities_per_second"],
        "≥ 3,000",
        lambda f: f["api.activities_per_second"] >= 3000,
    ),
    (
        "CSV import with points, rows/s",
        "ingest",
        ["csv.import_rows_per_second"],
        "≥ 10,000",
        lambda f: f["csv.import_rows_per_second"] >= 10000,
    ),
    (
        "dashboard ÷ trivial templated view (cached; uncached; CPU)",
        "portal",
        [
            "portal.dashboard.ratio_to_trivial",
            "portal.dashboard_uncached.ratio_to_trivial",
            "portal.dashboard.cpu_ratio_to_trivial",
        ],
        "≤ 2.5",
        lambda f: f["portal.dashboard.ratio_to_trivial"] <= 2.5,
    ),
    (
        "load: asked/s, served/s, p95 ms, errors, generator CPU share",
        "load",
        [
            "load.target_requests_per_second",
            "load.requests_per_second",
            "load.p95_ms",
            "load.errors",
            "load.generator_cpu_share",
        ],
        "100/s held, p95 ≤ 150 ms",
        lambda f: (
            f["load.requests_per_second"] >= 0.97 * f["load.target_requests_per_second"]
            and f["load.p95_ms"] <= 150
            and f["load.errors"] == 0
        ),
    ),
    (
        "redemption: clients, p50 ms, p99 ms, double spends",
        "redemption",
        ["redemption.clients", "redemption.p50_ms", "redemption.p99_ms", "redemption.double_spends"],
        "p99 ≤ 100 ms, 0 double spends",
        lambda f: f["redemption.p99_ms"] <= 100 and f["redemption.double_spends"] == 0,
    ),
    (
        "2 Celery workers vs 1 (speed-up)",
        "scaling",
        ["scaling.celery.speedup"],
        "≥ 1.7",
        lambda f: f["scaling.celery.speedup"] >= 1.7,
    ),
]


def figures_read(path: Path) -> dict[str, float]:
    """The numeric `name value` lines of one benchmark's output (log lines start with '#')."""
    figures = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _space, value = line.partition(" ")
            try:
                figures[name] = float(value.replace(",", ""))
            except ValueError:
                continue
    return figures


def shown(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) and abs(value) >= 100 else f"{value:g}"


def main() -> None:
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else "var/bench")
    print("\n| figure | value | budget | met |\n| --- | --- | --- | --- |")
    for label, name, names, budget, check in ROWS:
        figures = figures_read(directory / f"{name}.txt")
        if not all(figure in figures for figure in names):
            print(f"| {label} | — | {budget} | not run |")
            continue
        values = " / ".join(shown(figures[figure]) for figure in names)
        print(f"| {label} | {values} | {budget} | {'yes' if check(figures) else '**no**'} |")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nLoad average when the table was made: {load} ({os.cpu_count()} cores).")


if __name__ == "__main__":
    main()
