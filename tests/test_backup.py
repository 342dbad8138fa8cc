"""Backup and restore as docs/operations.md tells it: pg_dump (custom format), pg_restore into a fresh database,
then every tenant-owned table has the same rows per tenant on the copy and the ledger verifies there."""

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import dj_database_url
import psycopg2
import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from psycopg2 import sql

from loyalty.ledger.services import points_adjust
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant, TenantOwnedModel, User
from loyalty.tenancy.services import audit_record
from tests.conftest import World
from tests.rewards.factories import RewardFactory, give_points, redeem

pytestmark = [
    pytest.mark.django_db(transaction=True),  # pg_dump reads committed rows through its own connection
    pytest.mark.skipif(connection.vendor != "postgresql", reason="backups are pg_dump/pg_restore: PostgreSQL only"),
    pytest.mark.skipif(shutil.which("pg_dump") is None, reason="needs the PostgreSQL client tools"),
]


def _owner() -> dict:
    """The test database as its owner sees it: backups are taken and checked as the owner (docs/operations.md),
    since the application role's reads are filtered by row-level security."""
    database = dict(connection.settings_dict)
    if settings.DATABASE_OWNER_URL:
        owner = dj_database_url.parse(settings.DATABASE_OWNER_URL)
        database.update({key: owner[key] for key in ("USER", "PASSWORD", "HOST", "PORT")})
    return database


def _server_args(database: dict) -> list[str]:
    return [
        f"--host={database['HOST'] or 'localhost'}",
        f"--port={database['PORT'] or 5432}",
        f"--username={database['USER']}",
    ]


def _environment(database: dict) -> dict[str, str]:
    return {**os.environ, "PGPASSWORD": database["PASSWORD"] or ""}


def _connect(database: dict, name: str):  # noqa: ANN202 - a psycopg2 connection
    return psycopg2.connect(
        dbname=name,
        host=database["HOST"] or "localhost",
        port=database["PORT"] or 5432,
        user=database["USER"],
        password=database["PASSWORD"] or None,
    )


def _tenant_tables() -> list[str]:
    """Every concrete table whose rows carry a tenant (generated, so a new model cannot be forgotten)."""
    return sorted(
        {
            model._meta.db_table
            for model in apps.get_models()
            if issubclass(model, TenantOwnedModel) and not model._meta.proxy and model._meta.managed
        }
    )


def _rows_per_tenant(cursor, table: str) -> list[tuple[int, int]]:  # noqa: ANN001 - a psycopg2 cursor
    cursor.execute(
        sql.SQL("SELECT tenant_id, count(*) FROM {} GROUP BY tenant_id ORDER BY tenant_id").format(
            sql.Identifier(table)
        )
    )
    return cursor.fetchall()


BALANCES = """
    SELECT account.id, account.balance, coalesce(sum(entry.points), 0)
    FROM ledger_pointsaccount account LEFT JOIN ledger_ledgerentry entry ON entry.account_id = account.id
    GROUP BY account.id, account.balance ORDER BY account.id
"""


def _snapshot(cursor) -> dict[str, object]:  # noqa: ANN001 - a psycopg2 cursor
    snapshot: dict[str, object] = {table: _rows_per_tenant(cursor, table) for table in _tenant_tables()}
    for model in (Tenant, User):
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(model._meta.db_table)))
        snapshot[model._meta.db_table] = cursor.fetchone()[0]
    cursor.execute(BALANCES)
    snapshot["balances"] = cursor.fetchall()
    return snapshot


@pytest.fixture
def scratch_database() -> Iterator[str]:
    owner = _owner()
    name = f"{owner['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    server = _connect(owner, "postgres")
    server.autocommit = True
    try:
        with server.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield name
    finally:
        with server.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        server.close()


def _program_activity(world: World) -> None:
    with tenant_context(world.tenant):
        give_points(world.partner, 1_000, f"{world.tenant.slug}-earn")
        give_points(world.unmanaged_partner, 250, f"{world.tenant.slug}-earn-2")
        points_adjust(partner=world.partner, points=-40, reason="Correction", actor=world.manager, idempotency_key="a1")
        redeem(world.partner, world.partner_user, RewardFactory(points_cost=300), f"{world.tenant.slug}-redeem")
        audit_record(actor=world.owner, action="action", category="sign_in", summary="Signed in")


def test_a_custom_format_dump_restores_into_a_fresh_database_with_every_row(
    acme: World, globex: World, scratch_database: str, tmp_path: Path
) -> None:
    _program_activity(acme)
    _program_activity(globex)
    database = _owner()
    dump = tmp_path / "tierline.dump"

    subprocess.run(  # noqa: S603 - the PostgreSQL client tools, with our own arguments
        [shutil.which("pg_dump"), "--format=custom", f"--file={dump}", *_server_args(database), database["NAME"]],
        check=True,
        env=_environment(database),
    )
    subprocess.run(  # noqa: S603 - the PostgreSQL client tools, with our own arguments
        [
            shutil.which("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            f"--dbname={scratch_database}",
            *_server_args(database),
            dump,
        ],
        check=True,
        env=_environment(database),
    )

    original, copy = _connect(database, database["NAME"]), _connect(database, scratch_database)
    try:
        with original.cursor() as before, copy.cursor() as after:
            expected, restored = _snapshot(before), _snapshot(after)
    finally:
        original.close()
        copy.close()
    assert restored == expected
    assert {tenant for tenant, _count in expected["ledger_ledgerentry"]} == {acme.tenant.pk, globex.tenant.pk}
    assert all(balance == total for _account, balance, total in restored["balances"])
    assert len(restored["balances"]) == 4

    # The copy passes the same check operators run after a restore (docs/operations.md).
    host, port, user = database["HOST"] or "localhost", database["PORT"] or 5432, database["USER"]
    verified = subprocess.run(  # noqa: S603 - our own interpreter and command
        [sys.executable, "manage.py", "ledger_verify"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        env={**_environment(database), "DATABASE_URL": f"postgres://{user}@{host}:{port}/{scratch_database}"},
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip() == "ledger_verify: 2 tenant(s), 4 accounts, 8 entries, 0 breaches"
