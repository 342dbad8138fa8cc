"""The scale-out parts' figures (docs/scaling.md): replica lag, and what PgBouncer and the per-statement
row-level security setting cost. Needs the services of `.ci/scaleout-services` (primary 5432, replica 5433,
PgBouncer 6432); it makes and drops its own scratch database. Prints one `name value` line per figure.

    .venv/bin/python bench/scaleout.py [--samples 200]
"""

import argparse
import statistics
import time
from collections.abc import Callable

import psycopg2

DATABASE = "tierline_bench_scaleout"
PRIMARY = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REPLICA = {"host": "127.0.0.1", "port": 5433, "user": "postgres"}
POOLER = {"host": "127.0.0.1", "port": 6432, "user": "postgres"}
SETTING = "SELECT set_config('tierline.tenant_id', '1', true), set_config('tierline.platform', '', true); "


def connect(server: dict, database: str = DATABASE) -> psycopg2.extensions.connection:
    connection = psycopg2.connect(dbname=database, **server)
    connection.autocommit = True
    return connection


def timed(action: Callable[[], object], samples: int) -> list[float]:
    """Each sample's duration in milliseconds."""
    durations = []
    for _ in range(samples):
        start = time.perf_counter()
        action()
        durations.append((time.perf_counter() - start) * 1000)
    return durations


def report(name: str, durations: list[float]) -> None:
    ordered = sorted(durations)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    print(f"{name}_median_ms {statistics.median(ordered):.3f}")
    print(f"{name}_p95_ms {p95:.3f}")


def connection_cost(samples: int) -> None:
    """A new client connection, one query, closed: what a process without CONN_MAX_AGE pays per request."""
    for name, server in [("connect_direct", PRIMARY), ("connect_pgbouncer", POOLER)]:

        def once(server: dict = server) -> None:
            connection = connect(server)
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            connection.close()

        report(name, timed(once, samples))


def statement_cost(samples: int) -> None:
    """One statement on an open connection, with and without the row-level security setting in front of it."""
    for name, server in [("statement_direct", PRIMARY), ("statement_pgbouncer", POOLER)]:
        connection = connect(server)
        cursor = connection.cursor()
        for suffix, sql in [("", "SELECT 1"), ("_with_setting", SETTING + "SELECT 1")]:

            def once(sql: str = sql, cursor: psycopg2.extensions.cursor = cursor) -> None:
                cursor.execute(sql)
                cursor.fetchone()

            report(name + suffix, timed(once, samples * 10))
        connection.close()


def replica_lag(samples: int) -> None:
    """From a commit on the primary to the row being visible on the replica (polled every 0.2 ms)."""
    primary, replica = connect(PRIMARY), connect(REPLICA)
    with primary.cursor() as cursor:
        cursor.execute("CREATE TABLE probe (id int PRIMARY KEY)")
    with replica.cursor() as cursor:
        for _ in range(6000):
            cursor.execute("SELECT to_regclass('probe')")
            if cursor.fetchone()[0]:
                break
            time.sleep(0.005)
    lags = []
    with primary.cursor() as writer, replica.cursor() as reader:
        for probe in range(samples):
            writer.execute("INSERT INTO probe VALUES (%s)", [probe])
            start = time.perf_counter()
            while True:
                reader.execute("SELECT 1 FROM probe WHERE id = %s", [probe])
                if reader.fetchone():
                    break
                time.sleep(0.0002)
            lags.append((time.perf_counter() - start) * 1000)
    report("replica_visible_after_commit", lags)
    primary.close()
    replica.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    arguments = parser.parse_args()
    admin = connect(PRIMARY, "postgres")
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {DATABASE}")
    try:
        # The replica has the new database once it has replayed its creation.
        for _ in range(600):
            try:
                connect(REPLICA).close()
                break
            except psycopg2.OperationalError:
                time.sleep(0.05)
        connection_cost(arguments.samples)
        statement_cost(arguments.samples)
        replica_lag(arguments.samples)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.close()


if __name__ == "__main__":
    main()
