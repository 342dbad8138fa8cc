"""Row-level security on PostgreSQL: every tenant-owned table refuses reads and writes without its tenant.

The per-table test is generated from the models (`protected_tables()`), and it speaks raw SQL, so what it
proves is the database's policy, not django-scopes. The connection is the application role (tests/conftest.py).
"""

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.utils import timezone

from api.models import IdempotencyRecord
from api.services import idempotency_records_purge
from funds.models import FundEntry
from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.context import platform_context, tenant_context
from loyalty.tenancy.models import Tenant, TenantOwnedModel
from loyalty.tenancy.rls import POLICY_NAME, concrete_tenant_models, protected_tables
from partners.models import Partner
from tests.conftest import World
from tests.factories import TenantFactory, UserFactory
from webhooks.models import WebhookDelivery
from webhooks.selectors import deliveries_due

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row-level security is PostgreSQL's")

# table -> (the model whose rows it holds, or the tenant-owned model a many-to-many table hangs off; that field)
TABLES: dict[str, tuple[type[TenantOwnedModel], models.ManyToManyField | None]] = {}
for _model in concrete_tenant_models():
    TABLES[_model._meta.db_table] = (_model, None)
    for _field in _model._meta.local_many_to_many:
        if _field.remote_field.through._meta.auto_created:
            TABLES[_field.remote_field.through._meta.db_table] = (_model, _field)


@pytest.fixture(autouse=True)
def _no_platform_flag() -> Iterator[None]:
    """These tests set every context themselves."""
    with platform_context(is_active=False):
        yield


@pytest.fixture
def rolled_back(db: None) -> Iterator[None]:
    """The raw rows below point at no real rows (see `_value`): roll them back before Django checks constraints."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


_foreign_ids = itertools.count(1)
FUND_ENTRY_SHAPE = {"kind": "top_up", "committed_delta": Decimal(0)}


def _value(field: models.Field, tenant: Tenant) -> Any:
    """A value the column accepts. Foreign keys need no real row: Django creates them DEFERRABLE INITIALLY
    DEFERRED, and the test's transaction is rolled back before they are checked."""
    if field.name == "tenant":
        return tenant.pk
    if field.null:
        return None
    if field.is_relation:
        return next(_foreign_ids)  # distinct, for one-to-one columns
    if field.model is FundEntry and field.name in FUND_ENTRY_SHAPE:
        return FUND_ENTRY_SHAPE[field.name]  # a top-up: credits available, leaves committed alone
    if field.choices:
        # The last choice (owner, …) asks least of the other columns; an adjustment may take any sign.
        return "adjust" if field.model is LedgerEntry else field.choices[-1][0]
    text = f"rls-{uuid.uuid4().hex}"
    return {
        "BooleanField": False,
        "DateField": timezone.now().date(),
        "DateTimeField": timezone.now(),
        "DecimalField": Decimal(1),
        "DurationField": timedelta(0),
        "JSONField": "{}",
        "UUIDField": uuid.uuid4(),
        "FileField": "",
        "ImageField": "",
    }.get(field.get_internal_type(), 1 if isinstance(field, models.IntegerField) else text[: field.max_length])


def _insert(model: type[models.Model], tenant: Tenant) -> int:
    """Insert a row of `model` for `tenant` in raw SQL, in the active context; return its id."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    values = [_value(field, tenant) for field in fields]
    table = connection.ops.quote_name(model._meta.db_table)
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id", values)  # noqa: S608
        return cursor.fetchone()[0]


def _link(field: models.ManyToManyField, owner_id: int) -> int:
    """Insert a row of a many-to-many table hanging off the tenant-owned row `owner_id`; return its id."""
    through = field.remote_field.through
    source = through._meta.get_field(field.m2m_field_name()).column
    target = through._meta.get_field(field.m2m_reverse_field_name()).column
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{through._meta.db_table}" ("{source}", "{target}") VALUES (%s, 1) RETURNING id',  # noqa: S608
            [owner_id],
        )
        return cursor.fetchone()[0]


def _row_for(table: str, tenant: Tenant) -> tuple[int, int]:
    """A row of `table` belonging to `tenant`, written in `tenant`'s context: (its id, its tenant-owned row's id)."""
    model, field = TABLES[table]
    with tenant_context(tenant):
        owner_id = _insert(model, tenant)
        return (owner_id if field is None else _link(field, owner_id)), owner_id


def _write_for(table: str, tenant: Tenant, owner_id: int) -> None:
    """Write a row of `table` for `tenant` in the active context (a link to `owner_id`, for a link table)."""
    model, field = TABLES[table]
    if field is None:
        _insert(model, tenant)
    else:
        _link(field, owner_id)


def _visible_ids(table: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id FROM "{table}"')  # noqa: S608 - the table name comes from the models
        return {row[0] for row in cursor.fetchall()}


def _refused(statement: Any) -> bool:
    """Whether `statement()` is refused by a row-level security policy (in a savepoint, so the test can go on)."""
    try:
        with transaction.atomic():
            statement()
    except DatabaseError as error:
        return "row-level security" in str(error)
    return False


def _affected(sql: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def test_every_tenant_owned_table_is_covered(db: None) -> None:
    """A table with a tenant column that is not protected is a new table someone forgot (Domain is global on
    purpose: it resolves the host before any tenant is known)."""
    with connection.cursor() as cursor:
        cursor.execute(
            # The catalogue, not information_schema, which hides tables the role has no rights on.
            "SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " WHERE a.attname = 'tenant_id' AND c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
        )
        with_tenant_column = {row[0] for row in cursor.fetchall()}
    # Platform tables that name a tenant without belonging to one: custom domains (read before any tenant is known)
    # and the sign-in hand-offs issued on the platform host.
    assert with_tenant_column - set(TABLES) == {"tenancy_domain", "tenancy_signinhandoff"}
    assert set(TABLES) == set(protected_tables())


@pytest.mark.parametrize("table", sorted(TABLES))
def test_table_is_forced_with_the_policy(table: str, db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relrowsecurity, c.relforcerowsecurity, array_agg(p.polname::text)
            FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid WHERE c.relname = %s GROUP BY c.oid
            """,
            [table],
        )
        assert cursor.fetchone() == (True, True, [POLICY_NAME])


@pytest.mark.parametrize("table", sorted(TABLES))
def test_rls_blocks_reads_and_writes_without_the_rows_tenant(table: str, rolled_back: None) -> None:
    acme, globex = TenantFactory(slug="acme"), TenantFactory(slug="globex")
    (acme_row, acme_owner), (globex_row, globex_owner) = _row_for(table, acme), _row_for(table, globex)

    # No tenant: nothing is visible and nothing can be written.
    assert _visible_ids(table) == set()
    assert _refused(lambda: _write_for(table, acme, acme_owner))

    with tenant_context(acme):
        assert _visible_ids(table) == {acme_row}
        # Another tenant's row cannot be written, changed or deleted.
        assert _refused(lambda: _write_for(table, globex, globex_owner))
        assert _affected(f'UPDATE "{table}" SET id = id WHERE id = %s', [globex_row]) == 0  # noqa: S608
        assert _affected(f'DELETE FROM "{table}" WHERE id = %s', [globex_row]) == 0  # noqa: S608

    with tenant_context(globex):
        assert _visible_ids(table) == {globex_row}  # still there, untouched
    with platform_context():
        assert _visible_ids(table) == {acme_row, globex_row}


def test_application_role_neither_owns_the_tables_nor_bypasses_rls(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT r.rolsuper, r.rolbypassrls, pg_get_userbyid(c.relowner) = current_user
            FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.relname = 'partners_partner'
            """
        )
        assert cursor.fetchone() == (False, False, False), "set DATABASE_URL to the application role (docs/tenancy.md)"


def test_nothing_set_reads_zero_rows(acme: World) -> None:
    assert Partner.all_tenants.count() == 0
    with tenant_context(acme.tenant):
        assert Partner.all_tenants.count() == 2


def test_a_pooled_connection_carries_no_tenant_into_the_next_context(acme: World, globex: World) -> None:
    with tenant_context(acme.tenant):
        assert Partner.all_tenants.count() == 2
    assert Partner.all_tenants.count() == 0
    with tenant_context(globex.tenant):
        assert set(Partner.all_tenants.values_list("tenant__slug", flat=True)) == {"globex"}
    assert Partner.all_tenants.count() == 0


def _session_setting() -> tuple[str, str]:
    """The settings in force on this connection's session now, read past the wrapper (which would set them)."""
    with connection.connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(current_setting('tierline.tenant_id', true), ''),"
            " coalesce(current_setting('tierline.platform', true), '')"
        )
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_an_autocommit_statement_leaves_no_setting_on_the_session(acme: World, globex: World) -> None:
    """The setting travels with each statement, transaction-local, so a pooler may hand the session to anyone."""
    with tenant_context(acme.tenant):
        assert set(Partner.all_tenants.values_list("tenant__slug", flat=True)) == {"acme"}
        assert _session_setting() == ("", "")
        # A server-side cursor (WITH HOLD in autocommit) gets a session value only while it is declared.
        assert {partner.tenant_id for partner in Partner.all_tenants.iterator(chunk_size=1)} == {acme.tenant.pk}
        assert _session_setting() == ("", "")
    with platform_context():
        assert Partner.all_tenants.count() == 4
        assert _session_setting() == ("", "")


@pytest.mark.django_db(transaction=True)
def test_a_transaction_sets_its_tenant_until_it_ends(acme: World, globex: World) -> None:
    with tenant_context(globex.tenant):
        with transaction.atomic():
            assert Partner.all_tenants.count() == 2
            assert _session_setting() == (str(globex.tenant.pk), "")  # in force, transaction-local
        assert _session_setting() == ("", "")  # gone with the commit
        assert set(Partner.all_tenants.values_list("tenant__slug", flat=True)) == {"globex"}


def test_a_rolled_back_savepoint_does_not_leave_another_tenant_in_force(acme: World, globex: World) -> None:
    with tenant_context(globex.tenant), transaction.atomic():
        assert Partner.all_tenants.count() == 2  # globex, transaction-local
        with tenant_context(acme.tenant), transaction.atomic():
            assert set(Partner.all_tenants.values_list("tenant__slug", flat=True)) == {"acme"}
            transaction.set_rollback(True)  # roll back the savepoint in which acme was set
        # PostgreSQL restored globex with the savepoint; the wrapper must know not to trust its memory.
        with tenant_context(acme.tenant):
            assert set(Partner.all_tenants.values_list("tenant__slug", flat=True)) == {"acme"}
        assert set(Partner.all_tenants.values_list("tenant__slug", flat=True)) == {"globex"}


def test_a_failed_statement_rolls_back_after_its_context_ended(acme: World, globex: World) -> None:
    with tenant_context(globex.tenant), transaction.atomic():
        # The tenant context ends before the savepoint is rolled back, in a transaction that has failed.
        with pytest.raises(IntegrityError), transaction.atomic(), tenant_context(acme.tenant):
            Partner.objects.create(external_id=acme.partner.external_id, name="Twin", partner_type=acme.partner_type)
        assert set(Partner.all_tenants.values_list("tenant__slug", flat=True)) == {"globex"}


@pytest.mark.django_db(transaction=True)
def test_a_new_thread_starts_with_no_tenant(acme: World) -> None:
    counts: list[int] = []

    def count() -> None:
        try:
            counts.append(Partner.all_tenants.count())
        finally:
            connection.close()

    with tenant_context(acme.tenant):
        thread = threading.Thread(target=count)
        thread.start()
        thread.join()
    assert counts == [0]


def test_platform_jobs_see_every_tenant_without_an_inherited_flag(
    acme: World, globex: World, rolled_back: None
) -> None:
    """The production cross-tenant reads enter the platform context themselves."""
    long_ago = timezone.now() - timedelta(days=365)
    deliveries = [_row_for(WebhookDelivery._meta.db_table, world.tenant)[0] for world in (acme, globex)]
    records = [_row_for(IdempotencyRecord._meta.db_table, world.tenant)[0] for world in (acme, globex)]
    with platform_context():
        WebhookDelivery.all_tenants.filter(pk__in=deliveries).update(
            status=WebhookDelivery.Status.PENDING, next_attempt_at=long_ago
        )
        IdempotencyRecord.all_tenants.filter(pk__in=records).update(created_at=long_ago)
    assert sorted(deliveries_due()) == [(acme.tenant.pk, deliveries[0]), (globex.tenant.pk, deliveries[1])]
    assert idempotency_records_purge() == 2


def test_platform_admin_deletes_a_user_with_memberships_in_two_tenants(acme: World, globex: World, client) -> None:
    superuser = UserFactory(email="root@platform.test", is_superuser=True, is_staff=True)
    person = acme.partner_user
    with tenant_context(globex.tenant):
        globex.partner.memberships.create(user=person, role="partner_user")
    client.force_login(superuser)
    response = client.post(f"/admin/tenancy/user/{person.pk}/delete/", {"post": "yes"}, HTTP_HOST="localhost")
    assert response.status_code == 302
    with platform_context():
        assert not person.memberships.model.all_tenants.filter(user_id=person.pk).exists()
