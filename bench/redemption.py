"""Redemption benchmark: 50 concurrent clients redeeming through the real service, then the ledger checked.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tierline_bench_redeem REDIS_URL=redis://127.0.0.1:6379/5 \\
    DJANGO_SETTINGS_MODULE=loyalty.settings python bench/redemption.py --clients 50 --rate 50 --seconds 30

The database named in DATABASE_URL (it must contain "bench") is dropped, recreated and migrated; bench/program.py
builds one tenant with N scored partners, a member and points each, and a 20-reward catalog (some with little
stock, some limited per partner). Then `--clients` threads, each with its own database connection, released
together by a barrier, call `reward_redeem` with fresh idempotency keys at a fixed total rate: most requests from
many partners, a fifth from five hot partners (contention on their accounts) and a fifth for the limited-stock
rewards (contention on their rows); every tenth request replays the previous key, which must return the same
redemption. Latency is measured from each request's scheduled start, so a client that falls behind counts its
queueing (`p50_ms`, `p99_ms`); the `service_` figures time the call alone. Afterwards: ledger_verify, balances
against the entries, stock against the redemptions.
Prints one `name value` line per figure; see bench/README.md.
"""

import argparse
import random
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.evaluation import figure, log, scratch_django  # noqa: E402
from bench.program import program_build  # noqa: E402

HOT_PARTNERS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=1_000, help="partners, one member each (default 1,000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (threads; default 50)")
    parser.add_argument("--rate", type=float, default=50, help="redemptions/s asked in total (default 50)")
    parser.add_argument("--seconds", type=float, default=30, help="how long the clients keep asking (default 30)")
    arguments = parser.parse_args()

    started = time.perf_counter()
    scratch_django("bench/redemption.py")
    from django.core.exceptions import ValidationError
    from django.db import connection
    from django.db.models import Sum

    from loyalty.celery import app as celery_app
    from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount
    from loyalty.ledger.selectors import ledger_verify
    from loyalty.tenancy.context import tenant_context
    from loyalty.tenancy.models import User
    from partners.models import Partner
    from rewards.models import Redemption, Reward
    from rewards.services import reward_redeem

    program = program_build(partners=arguments.partners, activities_per_partner=5, entries_per_partner=20)
    tenant = program.tenant
    with tenant_context(tenant):
        rewards = list(Reward.objects.order_by("pk"))
        stock_before = {reward.pk: reward.stock for reward in rewards}
        balance_before = dict(PointsAccount.objects.values_list("partner_id", "balance"))
    # Rewards any partner may take (no tier needed), so that most requests redeem rather than being refused.
    open_to_all = [reward for reward in rewards if reward.minimum_tier_rank is None]
    stocked = [reward for reward in open_to_all if reward.stock is not None]
    figure("setup.seconds", f"{time.perf_counter() - started:.1f}")

    per_client = max(1, round(arguments.rate * arguments.seconds / arguments.clients))
    interval = arguments.clients / arguments.rate  # seconds between two requests of one client
    barrier = threading.Barrier(arguments.clients + 1)
    latencies: list[float] = []  # from each request's scheduled start: queueing included
    service_times: list[float] = []  # from the call itself
    outcomes: Counter[str] = Counter()
    replays_differing = 0
    errors: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        nonlocal replays_differing
        chooser = random.Random(number)  # noqa: S311 - a workload, not a secret
        mine: list[float] = []
        served: list[float] = []
        seen: Counter[str] = Counter()
        previous: tuple | None = None  # (key, partner, user, reward, redemption id) of the last redemption
        try:
            with tenant_context(tenant):
                # Objects read up front, as a view has them from the request before calling the service.
                partners = {partner.pk: partner for partner in Partner.objects.all()}
                users = {user.pk: user for user in User.objects.filter(memberships__tenant=tenant)}
                barrier.wait()
                began = time.perf_counter() + chooser.random() * interval  # clients spread over one interval
                for index in range(per_client):
                    scheduled = began + index * interval
                    time.sleep(max(0.0, scheduled - time.perf_counter()))
                    replaying = previous is not None and index % 10 == 9
                    if replaying:
                        key, partner, user, reward, first_pk = previous  # a client retrying after a lost response
                    else:
                        pick = chooser.random()
                        user_id, partner_id = (
                            program.members[chooser.randrange(HOT_PARTNERS)]
                            if pick < 0.2
                            else chooser.choice(program.members)
                        )
                        partner, user = partners[partner_id], users[user_id]
                        reward = chooser.choice(stocked if 0.2 <= pick < 0.4 else open_to_all)
                        key = f"bench-{number}-{index}"
                    previous = None
                    called = time.perf_counter()
                    try:
                        redemption = reward_redeem(
                            partner=partner,
                            requested_by=user,
                            reward=reward,
                            idempotency_key=key,
                            shipping_address="1 Bench Road, Springfield",  # kept for merchandise only
                        )
                    except ValidationError:
                        outcome = "refused"  # a business refusal: points, stock, tier or limit
                    else:
                        outcome = "replayed" if replaying else "redeemed"
                        if replaying:
                            replays_differing += redemption.pk != first_pk
                        else:
                            previous = (key, partner, user, reward, redemption.pk)
                    mine.append(time.perf_counter() - scheduled)
                    served.append(time.perf_counter() - called)
                    seen[outcome] += 1
        except Exception as error:  # noqa: BLE001 - every unexpected failure is counted and shown
            with lock:
                errors.append(f"client {number}: {error!r}")
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)
                service_times.extend(served)
                outcomes.update(seen)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(arguments.clients)]
    for thread in threads:
        thread.start()
    log(f"{arguments.clients} clients × {per_client} redemptions at {arguments.rate:g}/s in total")
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
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

    latencies.sort()
    service_times.sort()
    done = sum(outcomes.values())
    figure("redemption.clients", arguments.clients)
    figure("redemption.target_per_second", f"{arguments.rate:g}")
    figure("redemption.requests", done)
    figure("redemption.redeemed", outcomes["redeemed"])
    figure("redemption.refused", outcomes["refused"])
    figure("redemption.replayed", outcomes["replayed"])
    figure("redemption.per_second", f"{done / seconds:.1f}")
    figure("redemption.p50_ms", f"{statistics.median(latencies) * 1000:.1f}")
    figure("redemption.p99_ms", f"{latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f}")
    figure("redemption.max_ms", f"{latencies[-1] * 1000:.1f}")
    figure("redemption.service_p50_ms", f"{statistics.median(service_times) * 1000:.1f}")
    figure("redemption.service_p99_ms", f"{service_times[int(len(service_times) * 0.99) - 1] * 1000:.1f}")
    figure("redemption.errors", len(errors) + (arguments.clients * per_client - done))
    figure("redemption.double_spends", replays_differing + (redemptions != debited) + balances_off)
    figure("redemption.stock_mismatches", stock_off)
    figure("redemption.negative_balances", negative)
    figure("ledger_verify.breaches", len(breaches))


if __name__ == "__main__":
    main()
