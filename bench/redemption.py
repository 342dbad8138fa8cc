"""Redemption benchmark: client processes redeeming over HTTP against gunicorn, then the ledger checked.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tierline_bench_redeem REDIS_URL=redis://127.0.0.1:6379/5 \\
    DJANGO_SETTINGS_MODULE=loyalty.settings python bench/redemption.py --clients 50 --rate 50 --seconds 30

The database named in DATABASE_URL (it must contain "bench") is dropped, recreated and migrated; bench/program.py
builds one tenant with N scored partners, a member and points each, and a 20-reward catalog (some with little
stock, some limited per partner). gunicorn then serves the API as the Dockerfile runs it (production settings, sync
workers, plain http on loopback; throttles counted in Redis when REDIS_URL is set), and `--clients` separate
processes (multiprocessing, standard library only: no Django, no shared interpreter) each hold one keep-alive
connection and an API key of their own, released together by a barrier, and `POST /api/v1/redemptions/` with fresh
Idempotency-Keys at a fixed total rate: most requests from many partners, a fifth from five hot partners (contention
on their accounts) and a fifth for the limited-stock rewards (contention on their rows); every tenth request replays
the previous key, which must return the same redemption. Latency is measured from each request's scheduled start,
so a client that falls behind counts its queueing (`p50_ms`, `p99_ms`); the `service_` figures time the HTTP
exchange alone. While the clients run, the parent samples pg_stat_activity every 20 ms: what the server's backends
wait on. Afterwards: ledger_verify, balances against the entries, stock against the redemptions.
REDEMPTION_TRACE=path writes every answered request's (scheduled start, latency, service time, kind: "hot",
"stocked", "any" or "replay", HTTP status, Idempotency-Key) as JSON; with GUNICORN_CMD_ARGS="--access-logfile …
--access-logformat '%({idempotency-key}i)s %(p)s %(D)s'" the server's own time and worker match each row.
Prints one `name value` line per figure; see bench/README.md.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOT_PARTNERS = 5
HOST = "bench.localhost"


def client(number: int, plan: dict, barrier: object, results: object) -> None:
    """One client process: its own connection and key, `plan["requests"]` redemptions at its share of the rate."""
    chooser = random.Random(number)  # noqa: S311 - a workload, not a secret
    connection = http.client.HTTPConnection("127.0.0.1", plan["port"], timeout=60)
    headers = {"Host": HOST, "Authorization": f"Bearer {plan['tokens'][number]}", "Content-Type": "application/json"}
    interval = plan["interval"]
    latencies, services, outcomes, replays_differing, errors, starts = [], [], Counter(), 0, [], []
    kinds = []  # (what was asked, HTTP status, Idempotency-Key) of each answered request, for REDEMPTION_TRACE
    previous = None  # (key, body, redemption id) of this client's last redemption
    barrier.wait()
    began = time.perf_counter() + chooser.random() * interval  # clients spread over one interval
    for index in range(plan["requests"]):
        scheduled = began + index * interval
        time.sleep(max(0.0, scheduled - time.perf_counter()))
        replaying = previous is not None and index % 10 == 9
        if replaying:
            key, body, first_id = previous  # a client retrying after a lost response
            kind = "replay"
        else:
            pick = chooser.random()
            kind = "hot" if pick < 0.2 else "stocked" if pick < 0.4 else "any"
            partner = (
                plan["partners"][chooser.randrange(HOT_PARTNERS)] if pick < 0.2 else chooser.choice(plan["partners"])
            )
            reward = chooser.choice(plan["stocked"] if 0.2 <= pick < 0.4 else plan["open_to_all"])
            key = f"bench-{number}-{index}"
            body = json.dumps({"partner": partner, "reward": reward, "shipping_address": "1 Bench Road, Springfield"})
        previous = None
        called = time.perf_counter()
        try:
            connection.request("POST", "/api/v1/redemptions/", body=body, headers=headers | {"Idempotency-Key": key})
            reply = connection.getresponse()
            payload = reply.read()
        except (OSError, http.client.HTTPException) as error:
            errors.append(f"client {number}: {error!r}")
            connection.close()  # reconnects at the next request
            continue
        done = time.perf_counter()
        latencies.append(done - scheduled)
        services.append(done - called)
        starts.append(scheduled)
        kinds.append((kind, reply.status, key))
        if reply.status == 201:
            redemption_id = json.loads(payload)["id"]
            outcomes["replayed" if replaying else "redeemed"] += 1
            if replaying:
                replays_differing += redemption_id != first_id
            else:
                previous = (key, body, redemption_id)
        elif reply.status in {400, 409}:  # a business refusal: points, stock, tier or limit
            outcomes["refused"] += 1
        else:
            errors.append(f"client {number}: HTTP {reply.status} {payload[:200]!r}")
    connection.close()
    results.put((latencies, services, dict(outcomes), replays_differing, errors, starts, kinds))


class WaitSampler(threading.Thread):
    """Samples what the bench database's busy backends wait on (pg_stat_activity) every `period` seconds."""

    def __init__(self, *, url: str, database: str, period: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.url, self.database, self.period = url, database, period
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        import psycopg2

        connection = psycopg2.connect(self.url)
        connection.autocommit = True
        with connection.cursor() as cursor:
            while not self.stopping.wait(self.period):
                cursor.execute(
                    "SELECT state, coalesce(wait_event_type, 'CPU'), coalesce(wait_event, 'running')"
                    " FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend' AND state <> 'idle'",
                    [self.database],
                )
                self.samples += 1
                for state, kind, event in cursor.fetchall():
                    self.counts[f"{state}:{kind}:{event}"] += 1
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=1_000, help="partners, one member each (default 1,000)")
    parser.add_argument("--clients", type=int, default=50, help="client processes (default 50)")
    parser.add_argument("--rate", type=float, default=50, help="redemptions/s asked in total (default 50)")
    parser.add_argument("--seconds", type=float, default=30, help="how long the clients keep asking (default 30)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4, as the Dockerfile)")
    arguments = parser.parse_args()

    from bench.evaluation import figure, log, scratch_database, scratch_django
    from bench.load import backends_cpu_seconds, free_port, gunicorn_start, tree_cpu_seconds
    from bench.program import program_build

    started = time.perf_counter()
    scratch_django("bench/redemption.py")
    from django.conf import settings
    from django.db import connection
    from django.db.models import Sum

    from api.services import api_key_create
    from loyalty.celery import app as celery_app
    from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount
    from loyalty.ledger.selectors import ledger_verify
    from loyalty.tenancy.context import tenant_context
    from loyalty.tenancy.models import User
    from partners.models import Partner
    from rewards.models import Redemption, Reward

    program = program_build(partners=arguments.partners, activities_per_partner=5, entries_per_partner=20)
    tenant = program.tenant
    with tenant_context(tenant):
        rewards = list(Reward.objects.order_by("pk"))
        stock_before = {reward.pk: reward.stock for reward in rewards}
        balance_before = dict(PointsAccount.objects.values_list("partner_id", "balance"))
        external_ids = dict(Partner.objects.values_list("pk", "external_id"))
        manager = User.objects.get(email="manager@bench.test")  # bench/evaluation.py's program manager
        # One key per client, as separate integrations would hold (each is throttled on its own).
        tokens = [
            api_key_create(name=f"Bench client {number}", scopes=["redemptions:write"], created_by=manager).token
            for number in range(arguments.clients)
        ]
    # Rewards any partner may take (no tier needed), so that most requests redeem rather than being refused.
    open_to_all = [reward for reward in rewards if reward.minimum_tier_rank is None]
    per_client = max(1, round(arguments.rate * arguments.seconds / arguments.clients))
    plan = {
        "tokens": tokens,
        "interval": arguments.clients / arguments.rate,  # seconds between two requests of one client
        "requests": per_client,
        "partners": [external_ids[partner_id] for _user, partner_id in program.members],
        "open_to_all": [reward.sku for reward in open_to_all],
        "stocked": [reward.sku for reward in open_to_all if reward.stock is not None],
    }
    connection.close()  # the server and the clients have their own
    figure("setup.seconds", f"{time.perf_counter() - started:.1f}")

    port = free_port()
    log(f"gunicorn with {arguments.workers} workers on 127.0.0.1:{port}")
    server = gunicorn_start(port=port, workers=arguments.workers)
    plan["port"] = port
    name, _maintenance = scratch_database(os.environ["DATABASE_URL"])
    sampler = WaitSampler(url=settings.DATABASE_OWNER_URL or os.environ["DATABASE_URL"], database=name)
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters: nothing of this process's state
    barrier = spawn.Barrier(arguments.clients + 1)
    results = spawn.Queue()
    processes = [
        spawn.Process(target=client, args=(number, plan, barrier, results)) for number in range(arguments.clients)
    ]
    try:  # gunicorn and the clients are stopped whatever happens
        for process in processes:
            process.start()
        log(f"{arguments.clients} client processes × {per_client} redemptions at {arguments.rate:g}/s in total")
        server_before, backends_before = tree_cpu_seconds(server.pid), backends_cpu_seconds(name)
        clients_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        barrier.wait(timeout=120)
        began = time.perf_counter()
        sampler.start()
        collected = [results.get(timeout=arguments.seconds * 10 + 120) for _process in processes]
        seconds = time.perf_counter() - began
        sampler.stopping.set()
        # CPU over the run: gunicorn's workers, the PostgreSQL backends of the bench database (the server runs on
        # this machine; connections persist, so each backend lives through the run) and the client processes.
        server_cpu = tree_cpu_seconds(server.pid) - server_before
        backends_after = backends_cpu_seconds(name)
        postgres_cpu = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends_after.items())
        for process in processes:
            process.join(timeout=30)
        clients_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # reaped by join
        clients_cpu = (clients_after.ru_utime + clients_after.ru_stime) - (
            clients_before.ru_utime + clients_before.ru_stime
        )
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        server.terminate()
        server.wait(timeout=30)
    sampler.join(timeout=5)

    trace = os.environ.get("REDEMPTION_TRACE")
    if trace:  # (scheduled start, latency, service time, kind, status, key) of every answered request, for the tail
        rows = [
            (start, latency, service, *kind)
            for result in collected
            for start, latency, service, kind in zip(result[5], result[0], result[1], result[6], strict=True)
        ]
        Path(trace).write_text(json.dumps(sorted(rows)))
    latencies = sorted(value for result in collected for value in result[0])
    service_times = sorted(value for result in collected for value in result[1])
    outcomes: Counter[str] = Counter()
    for result in collected:
        outcomes.update(result[2])
    replays_differing = sum(result[3] for result in collected)
    errors = [error for result in collected for error in result[4]]
    for error in errors[:5]:
        log(error)

    with tenant_context(tenant):
        breaches = ledger_verify().breaches
        negative = PointsAccount.objects.filter(balance__lt=0).count()
        debits = dict(
            LedgerEntry.objects.filter(kind=EntryKind.REDEEM)
            .values("account__partner_id")
            .annotate(total=Sum("points"))
            .values_list("account__partner_id", "total")
        )
        balance_after = dict(PointsAccount.objects.values_list("partner_id", "balance"))
        balances_off = sum(
            balance_after[partner] != balance_before[partner] + debits.get(partner, 0) for partner in balance_after
        )
        taken = dict(
            Redemption.objects.values("reward_id").annotate(total=Sum("quantity")).values_list("reward_id", "total")
        )
        stock_after = dict(Reward.objects.values_list("pk", "stock"))
        stock_off = sum(
            stock_after[pk] != before - taken.get(pk, 0) or stock_after[pk] < 0
            for pk, before in stock_before.items()
            if before is not None
        )
        redemptions = Redemption.objects.count()
        debited = LedgerEntry.objects.filter(kind=EntryKind.REDEEM).count()
    celery_app.control.purge()  # notifications and webhooks queued by the redemptions, never run here

    done = sum(outcomes.values())
    figure("redemption.clients", arguments.clients)
    figure("redemption.workers", arguments.workers)
    figure("redemption.target_per_second", f"{arguments.rate:g}")
    figure("redemption.requests", done)
    figure("redemption.redeemed", outcomes["redeemed"])
    figure("redemption.refused", outcomes["refused"])
    figure("redemption.replayed", outcomes["replayed"])
    figure("redemption.per_second", f"{done / seconds:.1f}")
    if latencies:
        figure("redemption.p50_ms", f"{statistics.median(latencies) * 1000:.1f}")
        figure("redemption.p99_ms", f"{latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000:.1f}")
        figure("redemption.max_ms", f"{latencies[-1] * 1000:.1f}")
        figure("redemption.service_p50_ms", f"{statistics.median(service_times) * 1000:.1f}")
        figure("redemption.service_p99_ms", f"{service_times[max(0, int(len(service_times) * 0.99) - 1)] * 1000:.1f}")
    # CPU per answered request: what bounds the requests per second two cores can serve.
    figure("redemption.server_cpu_ms_per_request", f"{server_cpu * 1000 / max(done, 1):.1f}")
    figure("redemption.postgres_cpu_ms_per_request", f"{postgres_cpu * 1000 / max(done, 1):.1f}")
    figure("redemption.clients_cpu_ms_per_request", f"{clients_cpu * 1000 / max(done, 1):.1f}")
    figure("redemption.errors", arguments.clients * per_client - done)  # failed, refused otherwise, or never sent
    figure("redemption.double_spends", replays_differing + (redemptions != debited) + balances_off)
    figure("redemption.stock_mismatches", stock_off)
    figure("redemption.negative_balances", negative)
    figure("ledger_verify.breaches", len(breaches))
    # What the busy backends waited on, as a share of (sample × backend): "active:CPU:running" is work, "Lock:…"
    # a row lock queue, "Client:ClientRead" a transaction waiting for the application's next statement.
    busy = sum(sampler.counts.values())
    figure("redemption.wait_samples", sampler.samples)
    figure("redemption.busy_backends_mean", f"{busy / max(sampler.samples, 1):.2f}")
    for event, count in sampler.counts.most_common(6):
        figure(f"redemption.wait.{event}", f"{count / max(busy, 1):.3f}")


if __name__ == "__main__":
    main()
