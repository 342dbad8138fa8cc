"""Helpers for tests that run real concurrency: threads racing on PostgreSQL, waiting for a worker, and real
Celery processes (workers, beats) started on the test database."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

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


def processes_database_url() -> str:
    """A DATABASE_URL naming pytest-django's test database, for processes that must see the test's rows."""
    database = connection.settings_dict
    password = f":{quote(database['PASSWORD'], safe='')}" if database["PASSWORD"] else ""
    return (
        f"postgres://{quote(database['USER'], safe='')}{password}@{database['HOST'] or 'localhost'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )


class CeleryProcess:
    """`celery -A loyalty <arguments>` as a real process on the test database, in a process group of its own so
    that `kill()` takes its pool children with it. Its output goes to `log_path`."""

    def __init__(self, arguments: list[str], log_path: Path, **environment: str) -> None:
        self.log_path = log_path
        env = {**os.environ, "DATABASE_URL": processes_database_url(), "PYTHONUNBUFFERED": "1", **environment}
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "-m", "celery", "-A", "loyalty", *arguments],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> list[int]:
        """The process ids of its children (a prefork worker's pool processes)."""
        return [int(pid) for pid in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]

    def kill(self) -> None:
        """SIGKILL the whole process group: no warm shutdown, no acknowledgement, no cleanup."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """A warm shutdown (SIGTERM), falling back to SIGKILL."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
