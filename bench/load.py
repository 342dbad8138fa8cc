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
import resource
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


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) of a running process and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0.0) for pid in tree)


def backends_cpu_seconds(database: str) -> dict[int, float]:
    """CPU time of each PostgreSQL backend connected to `database` (the server runs on this machine)."""
    import psycopg2
    from django.conf import settings

    connection = psycopg2.connect(settings.DATABASE_OWNER_URL or os.environ["DATABASE_URL"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database])
        pids = [pid for (pid,) in cursor.fetchall()]
    connection.close()
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def locust_run(
    *, port: int, sessions_file: Path, users: int, rate: float, seconds: int, prefix: Path, processes: int
) -> None:
    """locust headless in `processes` forked processes: `users` users at `rate` requests/s in total; stats reset
    once every user has started."""
    spawn_rate = max(users / 10, 1)
    subprocess.run(  # noqa: S603 - our own venv's locust
        [
            str(BIN / "locust"),
            "--headless",
            "--processes",
            str(processes),
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


def members_of_earlier_run() -> list[int]:
    """Django on the database an earlier run built (kept as it is), and the ids of its partner members."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-insecure-key")
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ["TIERLINE_HTTPS"] = "0"
    import django

    django.setup()
    from django_scopes import scopes_disabled

    from loyalty.tenancy.models import PARTNER_ROLES, Membership

    with scopes_disabled():
        members = Membership.objects.filter(tenant__slug=HOST.split(".")[0], role__in=PARTNER_ROLES)
        return sorted(members.values_list("user_id", flat=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=1_000, help="partners, one member each (default 1,000)")
    parser.add_argument("--users", type=int, default=0, help="locust users (default: one per partner)")
    parser.add_argument("--rate", type=float, default=100, help="requests/s in total (default 100)")
    parser.add_argument("--seconds", type=int, default=45, help="measured seconds after the ramp-up (default 45)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4, as the Dockerfile)")
    parser.add_argument("--generators", type=int, default=2, help="locust processes generating the load (default 2)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the program of an earlier run (no rebuild; new sessions)"
    )
    arguments = parser.parse_args()
    users = arguments.users or arguments.partners

    started = time.perf_counter()
    if arguments.reuse:
        member_ids = members_of_earlier_run()
    else:
        scratch_django("bench/load.py")
        program = program_build(partners=arguments.partners, activities_per_partner=20, entries_per_partner=12)
        member_ids = [user_id for user_id, _partner in program.members]
    from django.conf import settings

    with tempfile.TemporaryDirectory(prefix="tierline-load-") as scratch:
        sessions_file = Path(scratch) / "sessions.json"
        cookies = sessions_create(user_ids=member_ids)
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
            database = settings.DATABASES["default"]["NAME"]
            server_before, backends_before = tree_cpu_seconds(server.pid), backends_cpu_seconds(database)
            generator_before = resource.getrusage(resource.RUSAGE_CHILDREN)  # locust, once it has been reaped
            locust_run(
                port=port,
                sessions_file=sessions_file,
                users=users,
                rate=arguments.rate,
                seconds=arguments.seconds,
                prefix=prefix,
                processes=arguments.generators,
            )
            generator_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            server_cpu = tree_cpu_seconds(server.pid) - server_before
            backends_after = backends_cpu_seconds(database)
            postgres_cpu = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends_after.items())
            generator_cpu = (generator_after.ru_utime + generator_after.ru_stime) - (
                generator_before.ru_utime + generator_before.ru_stime
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
    # Who used the CPU over the run (ramp-up included): the server (gunicorn and its PostgreSQL backends) or the
    # load generator (locust's processes). The generator's share is what the server could not use.
    figure("load.generator_processes", arguments.generators)
    figure("load.server_cpu_seconds", f"{server_cpu:.1f}")
    figure("load.postgres_cpu_seconds", f"{postgres_cpu:.1f}")
    figure("load.generator_cpu_seconds", f"{generator_cpu:.1f}")
    figure("load.generator_cpu_share", f"{generator_cpu / max(server_cpu + postgres_cpu + generator_cpu, 1e-9):.2f}")
    for page in ("dashboard", "rewards", "statement"):
        if page in rows:
            figure(f"load.{page}.p50_ms", rows[page]["50%"])
            figure(f"load.{page}.p95_ms", rows[page]["95%"])


if __name__ == "__main__":
    main()
