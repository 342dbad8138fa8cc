"""Load benchmark: gunicorn on loopback serving the partner portal to N signed-in members, driven by locust.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tierline_bench_load \\
    DJANGO_SETTINGS_MODULE=loyalty.settings python bench/load.py --partners 1000 --rate 100 --seconds 45

The database named in DATABASE_URL (it must contain "bench") is dropped, recreated and migrated; bench/program.py
builds one tenant with N scored partners, a member, points and a 20-reward catalog each, and a session per member.
Then gunicorn (production settings: no debug, no HTTPS redirect) serves bench.localhost on a free loopback port
and locust (headless, one process) sends a fixed total rate of requests to the dashboard (half), the reward
catalog and the statement, each virtual user signed in as a different member. Prints one `name value` line per
figure; see bench/README.md.
"""

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.evaluation import figure, log, scratch_django  # noqa: E402
from bench.program import program_build, sessions_create  # noqa: E402

HOST = "bench.localhost"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_start(*, port: int, workers: int) -> subprocess.Popen:
    """gunicorn as the Dockerfile runs it, on loopback; returns once it answers."""
    # Only pages are requested: static files come from the finders, without a collected STATIC_ROOT.
    environment = os.environ | {"TIERLINE_STATIC_MANIFEST": "0", "PYTHONWARNINGS": "ignore:No directory at"}
    server = subprocess.Popen(  # noqa: S603 - our own venv's gunicorn
        [
            str(BIN / "gunicorn"),
            "loyalty.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--no-control-socket",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=environment,
    )
    request = urllib.request.Request(f"http://127.0.0.1:{port}/accounts/login/", headers={"Host": HOST})  # noqa: S310
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            # One request per worker, so that each has imported everything before the measure.
            for _worker in range(workers):
                with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - loopback
                    assert reply.status == 200
            return server
        except OSError:  # refused while starting, or timed out on a busy machine
            if server.poll() is not None:
                sys.exit("gunicorn exited before serving a page.")
            time.sleep(0.5)
    server.terminate()
    sys.exit("gunicorn did not answer within 120 s.")


def locust_run(*, port: int, sessions_file: Path, users: int, rate: float, seconds: int, prefix: Path) -> None:
    """locust headless: `users` users at `rate` requests/s in total; stats reset once every user has started."""
    spawn_rate = max(users / 10, 1)
    subprocess.run(  # noqa: S603 - our own venv's locust
        [
            str(BIN / "locust"),
            "--headless",
            "--locustfile",
            str(ROOT / "bench" / "locustfile.py"),
            "--host",
            f"http://127.0.0.1:{port}",
            "--users",
            str(users),
            "--spawn-rate",
            str(spawn_rate),
            "--run-time",
            f"{int(seconds + users / spawn_rate)}s",
            "--reset-stats",
            "--only-summary",
            "--csv",
            str(prefix),
            "--loglevel",
            "WARNING",
        ],
        env=os.environ | {"TIERLINE_LOAD_SESSIONS": str(sessions_file), "TIERLINE_LOAD_USER_RATE": str(rate / users)},
        stdout=sys.stderr,
        check=False,  # locust exits 1 when any request failed; the failures are a figure, not a crash
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=1_000, help="partners, one member each (default 1,000)")
    parser.add_argument("--users", type=int, default=0, help="locust users (default: one per partner)")
    parser.add_argument("--rate", type=float, default=100, help="requests/s in total (default 100)")
    parser.add_argument("--seconds", type=int, default=45, help="measured seconds after the ramp-up (default 45)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4, as the Dockerfile)")
    arguments = parser.parse_args()
    users = arguments.users or arguments.partners

    started = time.perf_counter()
    scratch_django("bench/load.py")
    from django.conf import settings

    program = program_build(partners=arguments.partners, activities_per_partner=20, entries_per_partner=12)
    with tempfile.TemporaryDirectory(prefix="tierline-load-") as scratch:
        sessions_file = Path(scratch) / "sessions.json"
        cookies = sessions_create(user_ids=[user_id for user_id, _partner in program.members])
        sessions_file.write_text(
            json.dumps({"host": HOST, "cookie_name": settings.SESSION_COOKIE_NAME, "cookies": cookies}),
            encoding="utf-8",
        )
        figure("setup.seconds", f"{time.perf_counter() - started:.1f}")
        port = free_port()
        log(f"gunicorn with {arguments.workers} workers on 127.0.0.1:{port}")
        server = gunicorn_start(port=port, workers=arguments.workers)
        try:  # gunicorn is stopped whatever happens
            log(f"locust: {users} users, {arguments.rate:g} requests/s for {arguments.seconds} s after the ramp-up")
            prefix = Path(scratch) / "load"
            locust_run(
                port=port,
                sessions_file=sessions_file,
                users=users,
                rate=arguments.rate,
                seconds=arguments.seconds,
                prefix=prefix,
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
        with open(f"{prefix}_stats.csv", encoding="utf-8") as handle:
            rows = {row["Name"]: row for row in csv.DictReader(handle)}
    total = rows["Aggregated"]
    figure("load.partners", arguments.partners)
    figure("load.users", users)
    figure("load.workers", arguments.workers)
    figure("load.target_requests_per_second", f"{arguments.rate:g}")
    figure("load.requests", total["Request Count"])
    figure("load.requests_per_second", f"{float(total['Requests/s']):.1f}")
    for name in ("50%", "95%", "99%"):
        figure(f"load.p{name[:-1]}_ms", total[name])
    figure("load.errors", total["Failure Count"])
    for page in ("dashboard", "rewards", "statement"):
        if page in rows:
            figure(f"load.{page}.p50_ms", rows[page]["50%"])
            figure(f"load.{page}.p95_ms", rows[page]["95%"])


if __name__ == "__main__":
    main()
