"""PgBouncer in transaction pooling mode (DATABASE_TRANSACTION_POOLING; `make test-scaleout` in CI): one server
connection serves many clients in turn, and no tenant setting crosses from one client to the next.

The rest of the row-level security and tenancy tests (tests/tenancy) run through the pooler in the same session.
"""

import psycopg2
import pytest
from django.conf import settings
from django.db import connection, transaction

from loyalty.bulk import stage_rows, staging_table
from loyalty.tenancy.context import platform_context, tenant_context
from partners.models import Partner
from tests.conftest import World

pytestmark = [
    pytest.mark.skipif(
        not settings.DATABASE_TRANSACTION_POOLING, reason="needs PgBouncer (make test-scaleout sets it up)"
    ),
    pytest.mark.django_db(transaction=True),
]

SEEN_BY_ANOTHER_CLIENT = """
    SELECT pg_backend_pid(), coalesce(current_setting('tierline.tenant_id', true), ''),
           coalesce(current_setting('tierline.platform', true), ''), (SELECT count(*) FROM partners_partner)
"""


def another_client() -> psycopg2.extensions.connection:
    """A second client of the pooler as the application role, without Django and so without the wrapper."""
    client = psycopg2.connect(**connection.get_connection_params())
    client.autocommit = True
    return client


def test_the_next_client_on_a_server_connection_sees_no_tenant_of_the_previous_one(acme: World, globex: World) -> None:
    with platform_context(is_active=False):
        with tenant_context(acme.tenant), connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid(), count(*) FROM partners_partner")  # autocommit
            server_pid, count = cursor.fetchone()
        assert count == 2
        other = another_client()
        try:
            with other.cursor() as cursor:
                cursor.execute(SEEN_BY_ANOTHER_CLIENT)
                seen = cursor.fetchone()
        finally:
            other.close()
    # PgBouncer hands the most recently released server connection to the next client: the same PostgreSQL
    # session served both (impossible without transaction pooling), and acme's setting ended with its statement.
    assert seen == (server_pid, "", "", 0)


def test_a_transaction_keeps_its_tenant_on_its_server_connection_until_it_ends(acme: World, globex: World) -> None:
    with platform_context(is_active=False), tenant_context(globex.tenant), transaction.atomic():
        assert set(Partner.all_tenants.values_list("tenant__slug", flat=True)) == {"globex"}
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (server_pid,) = cursor.fetchone()
        other = another_client()
        try:
            with other.cursor() as cursor:
                cursor.execute(SEEN_BY_ANOTHER_CLIENT)
                seen = cursor.fetchone()
        finally:
            other.close()
        assert seen[0] != server_pid  # the open transaction holds its server connection
        assert seen[1:] == ("", "", 0)
        assert Partner.all_tenants.count() == 2  # still globex's, later in the same transaction


def test_iterating_a_query_works_without_server_side_cursors(acme: World, globex: World) -> None:
    assert connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"]
    with platform_context(is_active=False), tenant_context(acme.tenant):
        assert {partner.tenant_id for partner in Partner.all_tenants.iterator(chunk_size=1)} == {acme.tenant.pk}


def test_copy_staging_works_on_whichever_server_connection_a_transaction_gets(acme: World) -> None:
    """COPY staging tables (loyalty.bulk) are temporary, so they belong to a server session, which transaction
    pooling hands to any client: each transaction that stages declares the table itself, and its rows end with it."""
    columns = (("n", "integer"),)
    table = staging_table("pool_stage", columns)
    other = another_client()
    try:
        with other.cursor() as cursor:  # another client stages on the pool's server session, and commits
            cursor.execute("BEGIN")
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} (n integer) ON COMMIT DELETE ROWS")
            cursor.execute(f"INSERT INTO pg_temp.{table} VALUES (99)")  # noqa: S608 - the test's own table
            cursor.execute("COMMIT")
    finally:
        other.close()
    for n in range(3):
        with transaction.atomic():
            assert stage_rows(name="pool_stage", columns=columns, rows=[(n,)]) == (table, 1)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT n FROM pg_temp.{table}")  # noqa: S608 - the test's own table
                assert cursor.fetchall() == [(n,)]
