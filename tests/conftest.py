"""Fixture worlds: two tenants (acme, globex), each with every role, and an outsider with no membership."""

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection
from django.test import Client
from hypothesis import settings as hypothesis_settings

from loyalty.celery import app as celery_app
from loyalty.tenancy.context import platform_context
from loyalty.tenancy.models import Role, Tenant, User
from loyalty.tenancy.rls import connected_as
from partners.models import Partner, PartnerType
from tests.factories import MembershipFactory, PartnerFactory, PartnerTypeFactory, TenantFactory, UserFactory

# CI draws the property tests' examples from a fixed seed (HYPOTHESIS_PROFILE=ci, set by .ci/run): a red run is
# then a change's doing, never the luck of the draw. Runs elsewhere draw afresh each time and keep finding new cases
# (the criterion-gap rounding of 3b0f507 was found that way); a case found is replayed from .hypothesis/ until fixed.
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session", autouse=True)
def _cache_cleared_once() -> None:
    """Empty the cache once, before the first test. Redis outlives a run, and a new test database numbers its rows
    from 1 again: an earlier run's entries (fragments and ladders keyed by ids and versions) would be read as this
    run's."""
    from django.core.cache import caches

    for alias in settings.CACHES:
        caches[alias].clear()


@dataclass
class World:
    """One tenant's cast: staff of every role, a partner with its admin and user, and a partner nobody manages."""

    tenant: Tenant
    owner: User
    manager: User
    account_manager: User
    partner_admin: User
    partner_user: User
    finance: User
    partner_type: PartnerType
    partner: Partner
    unmanaged_partner: Partner

    @property
    def host(self) -> str:
        return f"{self.tenant.slug}.localhost"

    def user_for(self, role: Role) -> User:
        return {
            Role.OWNER: self.owner,
            Role.PROGRAM_MANAGER: self.manager,
            Role.ACCOUNT_MANAGER: self.account_manager,
            Role.PARTNER_ADMIN: self.partner_admin,
            Role.PARTNER_USER: self.partner_user,
            Role.FINANCE: self.finance,
        }[role]


def build_world(slug: str) -> World:
    tenant = TenantFactory(slug=slug, name=f"{slug.title()} Program")
    account_manager = UserFactory(email=f"am@{slug}.test")
    partner_type = PartnerTypeFactory(tenant=tenant, code="reseller", name="Reseller")
    partner = PartnerFactory(
        tenant=tenant, name=f"{slug.title()} Partner One", partner_type=partner_type, account_manager=account_manager
    )
    unmanaged_partner = PartnerFactory(tenant=tenant, name=f"{slug.title()} Partner Two", partner_type=partner_type)
    return World(
        tenant=tenant,
        owner=MembershipFactory(tenant=tenant, user__email=f"owner@{slug}.test", role=Role.OWNER).user,
        manager=MembershipFactory(tenant=tenant, user__email=f"pm@{slug}.test", role=Role.PROGRAM_MANAGER).user,
        account_manager=MembershipFactory(tenant=tenant, user=account_manager, role=Role.ACCOUNT_MANAGER).user,
        partner_admin=MembershipFactory(
            tenant=tenant, user__email=f"admin@partner.{slug}.test", role=Role.PARTNER_ADMIN, partner=partner
        ).user,
        partner_user=MembershipFactory(
            tenant=tenant, user__email=f"user@partner.{slug}.test", role=Role.PARTNER_USER, partner=partner
        ).user,
        finance=MembershipFactory(tenant=tenant, user__email=f"finance@{slug}.test", role=Role.FINANCE).user,
        partner_type=partner_type,
        partner=partner,
        unmanaged_partner=unmanaged_partner,
    )


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings: None) -> Iterator[None]:
    """The test database is created, migrated and dropped by the owner role (DATABASE_OWNER_URL), as in production."""
    with connected_as(settings.DATABASE_OWNER_URL):
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker) -> Iterator[None]:
    """Then the tests connect as the application role (DATABASE_URL), so row-level security is active throughout.

    Test-only, in the test database: the application role may also TRUNCATE, which `flush` uses after
    transactional tests, and call `test_as_owner(statement)` (tests/support.py `execute_as_table_owner`), for the
    tests that tamper with the database the way its owner could, inside their own transaction.
    """
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            role = connection.ops.quote_name(settings.DATABASE_APP_ROLE)
            cursor.execute(f"GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO {role}")
            cursor.execute(
                "CREATE FUNCTION test_as_owner(statement text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER"
                " SET search_path = public AS $$ BEGIN EXECUTE statement; END $$"
            )
            cursor.execute("REVOKE ALL ON FUNCTION test_as_owner(text) FROM PUBLIC")
            cursor.execute(f"GRANT EXECUTE ON FUNCTION test_as_owner(text) TO {role}")
    with connected_as(os.environ.get("DATABASE_URL", "") if settings.DATABASE_OWNER_URL else ""):
        yield
    if settings.DATABASE_TRANSACTION_POOLING:
        # PgBouncer keeps its server connections to the test database open: end them, so that it can be dropped.
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def _platform_mode_for_test_code() -> Iterator[None]:
    """Test code reads across tenants (`all_tenants`) to assert; on PostgreSQL that needs the platform flag.

    Requests do not inherit it (the middleware clears it), nor do threads and worker processes (a ContextVar).
    Production platform paths are proved without it in tests/tenancy/test_rls.py.
    """
    with platform_context():
        yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """Hashing is deliberately slow; tests only need it to round-trip."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _private_media_root(settings, tmp_path) -> None:
    """Uploaded files go to a fresh folder per test."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _tasks_in_process():
    """Tasks run in the test's process unless a test starts a real worker (see tests/tenancy/test_tasks.py)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def worker(transactional_db: None) -> Iterator[None]:
    """A real Celery worker in a thread, on the configured broker (Redis when REDIS_URL is set, else in-memory)."""
    celery_app.conf.task_always_eager = False  # _tasks_in_process restores it
    celery_app.control.purge()
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
        yield


@pytest.fixture
def acme(db: None) -> World:
    return build_world("acme")


@pytest.fixture
def globex(db: None) -> World:
    return build_world("globex")


@pytest.fixture
def outsider(db: None) -> User:
    """A signed-up person who belongs to no program."""
    return UserFactory(email="outsider@example.com")


@pytest.fixture
def client_for():
    """A test client on `world`'s host, signed in as `user` when given."""

    def make(world: World, user: User | None = None) -> Client:
        client = Client(HTTP_HOST=world.host)
        if user is not None:
            client.force_login(user)
        return client

    return make
