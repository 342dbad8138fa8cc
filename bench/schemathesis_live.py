"""Schemathesis against a live server: gunicorn on PostgreSQL, every check, NUL and any Unicode in generated text.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tierline_bench_fuzz \\
    DJANGO_SETTINGS_MODULE=loyalty.settings python bench/schemathesis_live.py [--examples 15] [--seed 1]

The database named in DATABASE_URL (it must contain "bench") is dropped, recreated and migrated, and the demo seed
fills it (two programs with partners, activities, rewards and redemptions). A key with every scope is made for
Acme's program manager; gunicorn (production settings: no debug) serves acme.localhost on a free loopback port, and
Schemathesis's CLI (`st run`) fetches the served schema and runs its examples, coverage and fuzzing phases with
every check (Schemathesis 4's default; the config below turns off, per operation, only what the in-process test
does), `--generation-allow-x00 true` and `--generation-codec utf-8` (issue 17, "Show"). Prints one
`name value` line per figure: server errors (every 5xx seen) and the failures of each check; exits 1 when any
response was a server error. Takes about two minutes on the 2-core development machine.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.evaluation import figure, log, scratch_django  # noqa: E402

HOST = "acme.localhost"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_start(*, port: int, workers: int, log_file: Path) -> subprocess.Popen:
    """gunicorn as docker-compose.yml runs it, on loopback, its stderr to `log_file`; returns once /healthz answers."""
    environment = os.environ | {
        "TIERLINE_STATIC_MANIFEST": "0",
        "PYTHONWARNINGS": "ignore:No directory at",
        "TIERLINE_API_RATE": "100000/min",  # the fuzzer is one key: its requests are not what is measured
    }
    server = subprocess.Popen(  # noqa: S603 - our own venv's gunicorn
        [
            str(BIN / "gunicorn"),
            "loyalty.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--no-control-socket",
            # The request limits docker-compose.yml gives gunicorn (its default request line, 4,094 bytes, answers
            # long generated queries with an HTML 414 before Django sees them).
            "--limit-request-line=8190",
            "--limit-request-fields=100",
            "--limit-request-field_size=8190",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=environment,
        stderr=log_file.open("w", encoding="utf-8"),  # Django logs each server error's traceback there
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:  # noqa: S310
                if reply.status == 200:
                    return server
        except OSError:
            if server.poll() is not None:
                sys.exit("gunicorn exited before answering.")
            time.sleep(0.5)
    server.terminate()
    sys.exit("gunicorn did not answer within 120 s.")


def key_create() -> str:
    """A key of Acme with every scope, authored by its program manager (writes are recorded under a person)."""
    from api.models import SCOPES
    from api.services import api_key_create
    from loyalty.tenancy.context import tenant_context
    from loyalty.tenancy.models import Membership, Role, Tenant

    tenant = Tenant.objects.get(slug="acme")
    with tenant_context(tenant):
        manager = Membership.objects.filter(role=Role.PROGRAM_MANAGER).select_related("user").first().user
        return api_key_create(name="Schemathesis", scopes=sorted(SCOPES), created_by=manager).token


def schema_fetch(*, port: int, target: Path) -> None:
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"http://127.0.0.1:{port}/api/v1/schema/?format=json", headers={"Host": HOST}
    )
    with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310 - loopback
        target.write_bytes(reply.read())


# What no schema can say, as the in-process test (tests/api/test_schema.py) excludes it: writes name stored things and
# obey rules (a balance that covers a debit, a redemption that may still move), so a schema-valid body may be refused
# with 400; bulk activities judge rows one by one (a bad row is an error inside a 200, not a refused request).
CONFIG = """
[[operations]]
include-method = ["POST", "PUT"]
checks.positive_data_acceptance.enabled = false

[[operations]]
include-path = "/api/v1/activities/"
include-method = "POST"
checks.negative_data_rejection.enabled = false
"""


def schemathesis_run(*, port: int, schema: Path, token: str, examples: int, seed: int, reports: Path) -> int:
    config = reports / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    command = [
        str(BIN / "st"),
        "--config-file",
        str(config),
        "run",
        str(schema),
        "--url",
        f"http://127.0.0.1:{port}",
        "--header",
        f"Host: {HOST}",
        "--header",
        f"Authorization: Bearer {token}",
        "--phases",
        "examples,coverage,fuzzing",
        "--generation-allow-x00",
        "true",
        "--generation-codec",
        "utf-8",
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
        "--report",
        "ndjson,json",
        "--report-ndjson-path",
        str(reports / "events.ndjson"),
        "--report-json-path",
        str(reports / "run.json"),
        "--no-color",
    ]
    log(" ".join(command).replace(token, "tl_…"))
    # Run in the scratch folder: Schemathesis keeps its cache and found failures in ./.schemathesis/.
    return subprocess.run(command, check=False, stdout=sys.stderr, cwd=reports).returncode  # noqa: S603


def report_read(reports: Path) -> tuple[dict[str, int], Counter, int]:
    """(failures per kind, responses per status class, requests) from Schemathesis's JSON and NDJSON reports."""
    run = json.loads((reports / "run.json").read_text(encoding="utf-8"))
    failures = {f"{group['code']} {group['title']}": group["count"] for group in run["failures"]}
    statuses: Counter = Counter()
    requests = 0
    for line in (reports / "events.ndjson").read_text(encoding="utf-8").splitlines():
        body = json.loads(line).get("ScenarioFinished")
        if not body:
            continue
        for interaction in (body.get("recorder") or {}).get("interactions", {}).values():
            response = interaction.get("response") or {}
            requests += 1
            statuses[f"{str(response.get('status_code', 0))[0]}xx"] += 1
    return failures, statuses, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=15, help="examples per operation and phase (default 15)")
    parser.add_argument("--seed", type=int, default=1, help="Schemathesis's seed (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    arguments = parser.parse_args()

    started = time.perf_counter()
    scratch_django("bench/schemathesis_live.py")
    from django.core.management import call_command

    call_command("seed_demo", "--no-banner", stdout=StringIO())
    token = key_create()
    figure("setup.seconds", f"{time.perf_counter() - started:.1f}")
    with tempfile.TemporaryDirectory(prefix="tierline-fuzz-") as scratch:
        folder = Path(scratch)
        port = free_port()
        server = gunicorn_start(port=port, workers=arguments.workers, log_file=folder / "gunicorn.log")
        try:
            schema_fetch(port=port, target=folder / "schema.json")
            fuzz_started = time.perf_counter()
            schemathesis_run(
                port=port,
                schema=folder / "schema.json",
                token=token,
                examples=arguments.examples,
                seed=arguments.seed,
                reports=folder,
            )
            figure("fuzz.seconds", f"{time.perf_counter() - fuzz_started:.1f}")
        finally:
            server.terminate()
            server.wait(timeout=30)
        failures, statuses, requests = report_read(folder)
        tracebacks = (folder / "gunicorn.log").read_text(encoding="utf-8").count("Traceback")
    figure("requests", requests)
    for status_class in sorted(statuses):
        figure(f"responses.{status_class}", statuses[status_class])
    figure("server_errors", statuses["5xx"])
    figure("server_tracebacks_logged", tracebacks)
    for kind in sorted(failures):
        figure(f"failures.{kind.replace(' ', '_')}", failures[kind])
    figure("failures.total", sum(failures.values()))
    sys.exit(1 if statuses["5xx"] or tracebacks else 0)


if __name__ == "__main__":
    main()
