"""Helpers for tests that run real concurrency: threads racing on PostgreSQL, and waiting for a worker."""

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.db import connection

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant


def execute_as_table_owner(sql: str) -> None:
    """Run `sql` as the role that owns the tables, in the test's transaction (PostgreSQL; see tests/conftest.py)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT test_as_owner(%s)", [sql])


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> bool:
    """Poll until `condition()` holds (True) or the time is up (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


THREAD_TIMEOUT = 120
# The server allows 100 connections, shared with the test runner's own and with other sessions; above this many
# threads at once, the extra ones would fail to connect instead of racing.
MAX_CONNECTIONS = 30


def run_concurrently(tenant: Tenant, count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in `count` threads released together by a barrier, at most MAX_CONNECTIONS on the database
    at a time; each result is the return value or the exception raised."""
    barrier = threading.Barrier(count, timeout=THREAD_TIMEOUT)
    gate = threading.BoundedSemaphore(MAX_CONNECTIONS)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            with tenant_context(tenant):
                barrier.wait()
                with gate:
                    try:
                        results[index] = work(index)
                    finally:
                        connection.close()
        except Exception as error:  # noqa: BLE001 - the test asserts on every outcome
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (deadlock?)"
    return results


def outcomes(results: list[Any]) -> Counter:
    return Counter(type(result).__name__ for result in results)
