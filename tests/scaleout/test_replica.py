"""The streaming replica (DATABASE_REPLICA_URL; `make test-scaleout` in CI, docs/scaling.md): the marked pages read
from it, a browser that wrote reads its own writes from the primary, and row-level security holds there too.

The test database reaches the replica by streaming (the replica alias mirrors the primary's test database), so
these tests commit (`transaction=True`) and wait for the replica to replay up to the primary's position.
"""

import time
from collections.abc import Iterator

import psycopg2
import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import CaptureQueriesContext

from loyalty.replica import REPLICA, replica_reads
from loyalty.tenancy.context import platform_context, tenant_context
from loyalty.tenancy.rls import ContextSetter
from partners.models import Partner
from tests.conftest import World

pytestmark = [
    pytest.mark.skipif(REPLICA not in settings.DATABASES, reason="needs DATABASE_REPLICA_URL (make test-scaleout)"),
    pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA]),
]


def replica_caught_up(seconds: float = 180) -> None:
    """Wait until the replica has replayed everything the primary has written so far. It replays the whole
    cluster's WAL, other databases' too: a bench writing 5 M rows beside a CI run put it minutes behind."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        (target,) = cursor.fetchone()
    deadline = time.monotonic() + seconds
    while True:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
            if cursor.fetchone()[0]:
                return
        assert time.monotonic() < deadline, f"the replica did not replay up to {target} within {seconds} s"
        time.sleep(0.05)


def _replica_admin() -> "psycopg2.extensions.connection":
    """A superuser connection to the replica (the role of DATABASE_OWNER_URL), for pausing and resuming replay."""
    owner = settings.DATABASE_OWNER_URL
    replica = settings.DATABASES[REPLICA]
    role = psycopg2.extensions.parse_dsn(owner.replace("postgres://", "postgresql://", 1)) if owner else {}
    admin = psycopg2.connect(
        dbname="postgres",
        user=role.get("user", "postgres"),
        password=role.get("password", ""),
        host=replica["HOST"],
        port=replica["PORT"],
    )
    admin.autocommit = True
    return admin


def _pause_between_transactions(cursor, database: str, attempts: int = 100) -> None:
    """Pause replay where it holds no table lock of the test database.

    A standby's startup process holds the AccessExclusiveLock of a transaction it replays (the previous test's
    flush TRUNCATEs every table) until it replays the commit. Paused in between, every read of those tables on the
    replica waits for ever: CI's run of stop 28 hung there for an hour. So: catch up, pause, and if replay stopped
    inside such a transaction, resume and try again."""
    for _ in range(attempts):
        replica_caught_up()
        cursor.execute("SELECT pg_wal_replay_pause()")
        while True:
            cursor.execute("SELECT pg_get_wal_replay_pause_state()")
            if cursor.fetchone()[0] == "paused":
                break
            time.sleep(0.01)
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_locks JOIN pg_database ON pg_database.oid = pg_locks.database"
            " WHERE pg_locks.locktype = 'relation' AND pg_locks.mode = 'AccessExclusiveLock'"
            " AND pg_database.datname = %s)",
            [database],
        )
        if not cursor.fetchone()[0]:
            return
        cursor.execute("SELECT pg_wal_replay_resume()")
    pytest.fail(f"replay of the replica kept stopping inside a transaction that locks {database}'s tables")


@pytest.fixture
def replay_paused() -> Iterator[None]:
    """The replica stops replaying (as the superuser of DATABASE_OWNER_URL): what the primary commits now is not
    on the replica until the end of the test, however long the test takes."""
    admin = _replica_admin()
    try:
        with admin.cursor() as cursor:
            _pause_between_transactions(cursor, connections[REPLICA].settings_dict["NAME"])
        yield
    finally:
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_wal_replay_resume()")
        admin.close()


def test_the_replica_connection_is_a_standby_and_the_default_one_the_primary(db: None) -> None:
    for alias, is_standby in [(DEFAULT_DB_ALIAS, False), (REPLICA, True)]:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            assert cursor.fetchone() == (is_standby,)


def test_a_marked_page_is_served_by_the_replica(acme: World, client_for) -> None:
    replica_caught_up()
    client = client_for(acme, acme.account_manager)
    with (
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_primary,
    ):
        response = client.get("/portfolio/")
    assert response.status_code == 200
    assert acme.partner.name in response.content.decode()
    assert on_replica.captured_queries  # the worklist's reads
    assert on_primary.captured_queries  # the session, the host's tenant and the membership (middleware)
    # An unmarked page reads nothing from the replica.
    with CaptureQueriesContext(connections[REPLICA]) as unmarked:
        assert client.get(f"/portfolio/{acme.partner.pk}/").status_code == 200
    assert not unmarked.captured_queries


@pytest.mark.parametrize(
    ("path", "role"), [("/program/", "manager"), ("/program/analytics/", "manager"), ("/portfolio/", "account_manager")]
)
def test_each_marked_page_reads_from_the_replica_until_its_browser_writes(
    acme: World, client_for, path: str, role: str
) -> None:
    replica_caught_up()
    client = client_for(acme, getattr(acme, role))
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        assert client.get(path).status_code == 200
    assert on_replica.captured_queries
    assert client.post(f"/portfolio/{acme.partner.pk}/notes/", {"body": "Renewal due."}).status_code == 302
    with CaptureQueriesContext(connections[REPLICA]) as pinned:
        assert client.get(path).status_code == 200
    assert not pinned.captured_queries


def test_read_your_writes_against_a_paused_replica(acme: World, client_for, replay_paused: None) -> None:
    """The replica is frozen; the primary moves on: marked pages show the old state until this browser POSTs."""
    with tenant_context(acme.tenant):
        Partner.objects.filter(pk=acme.partner.pk).update(name="Renamed Partner")
    client = client_for(acme, acme.account_manager)
    stale = client.get("/portfolio/").content.decode()
    assert acme.partner.name in stale  # read from the replica, which has not seen the rename
    assert "Renamed Partner" not in stale
    # The account manager writes a note (any unsafe request pins the browser)…
    response = client.post(f"/portfolio/{acme.partner.pk}/notes/", {"body": "Called about the renewal."})
    assert response.status_code == 302
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        fresh = client.get("/portfolio/").content.decode()
    assert "Renamed Partner" in fresh  # …and reads from the primary now
    assert not on_replica.captured_queries
    # Another browser of the same user, which wrote nothing, still reads the frozen replica.
    assert "Renamed Partner" not in client_for(acme, acme.account_manager).get("/portfolio/").content.decode()


def test_a_marked_page_reads_from_the_primary_while_the_replica_is_down(acme: World, client_for) -> None:
    replica = connections[REPLICA]
    saved_port = replica.settings_dict["PORT"]
    replica.close()
    replica.settings_dict["PORT"] = 1  # nothing listens there: connection refused
    try:
        response = client_for(acme, acme.account_manager).get("/portfolio/")
        assert response.status_code == 200
        assert acme.partner.name in response.content.decode()
    finally:
        replica.close()
        replica.settings_dict["PORT"] = saved_port


def test_every_connection_alias_carries_the_row_level_security_wrapper(db: None) -> None:
    for alias in (DEFAULT_DB_ALIAS, REPLICA):
        connections[alias].ensure_connection()
        assert [type(wrapper) for wrapper in connections[alias].execute_wrappers].count(ContextSetter) == 1, alias


def test_tenant_isolation_holds_on_the_replica_connection(acme: World, globex: World) -> None:
    replica_caught_up()
    replica = Partner.all_tenants.using(REPLICA)
    with platform_context(is_active=False):
        assert replica.count() == 0  # no context: no tenant rows, even in raw SQL
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM partners_partner")
            assert cursor.fetchone() == (0,)
        with tenant_context(acme.tenant):
            assert set(replica.values_list("tenant__slug", flat=True)) == {"acme"}
            with replica_reads():  # the router's way in, as the marked pages do
                assert set(Partner.all_tenants.values_list("name", flat=True)) == {
                    acme.partner.name,
                    acme.unmanaged_partner.name,
                }
        with tenant_context(globex.tenant):
            assert set(replica.values_list("tenant__slug", flat=True)) == {"globex"}
        assert replica.count() == 0
    with platform_context():
        assert replica.count() == 4
