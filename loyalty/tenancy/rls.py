"""PostgreSQL row-level security: the policies on tenant-owned tables and the setting each connection carries.

Every tenant-owned table (and each many-to-many table hanging off one) gets `ENABLE` + `FORCE ROW LEVEL
SECURITY` and one policy, installed from the models after every `migrate`. The policy lets a row through
when its tenant is the one in `tierline.tenant_id`, or when `tierline.platform` is `on` (deliberate
cross-tenant jobs). An execute wrapper keeps those two settings equal to the active context before every
statement, so a query with no context sees no tenant rows at all. SQLite has no row-level security: there,
none of this runs.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dj_database_url
from django.apps import apps
from django.conf import settings
from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg2.extensions import TRANSACTION_STATUS_IDLE, TRANSACTION_STATUS_INERROR

from loyalty.tenancy.context import current_platform_flag, current_tenant_or_none

# Each setting is read in a scalar subquery, which PostgreSQL evaluates once per statement (an InitPlan) rather
# than once per row: a 5M-row scan costs what it costs without row-level security (bench/README.md). The name
# carries the condition's version: `migrate` drops a policy of an older version and creates this one.
POLICY_PREFIX = "tierline_tenant_isolation"
POLICY_NAME = f"{POLICY_PREFIX}_v2"
TENANT_CONDITION = (
    "tenant_id = (SELECT NULLIF(current_setting('tierline.tenant_id', true), '')::bigint)"
    " OR (SELECT current_setting('tierline.platform', true) = 'on')"
)
_SET_CONTEXT_SQL = "SELECT set_config('tierline.tenant_id', %s, %s), set_config('tierline.platform', %s, %s)"
# Statements that read or write rows, and so need the settings in force. The others (DDL, SET, VACUUM, CREATE
# DATABASE…, CALL of a procedure that commits) go unchanged, with no tenant: several refuse to run in a multi-statement
# query's transaction.
_READS_OR_WRITES_ROWS = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|MERGE|VALUES|TABLE|EXPLAIN|DO)\b", re.I)

# What the two settings hold: (tenant id or '', 'on' or '').
Setting = tuple[str, str]
_UNKNOWN: Setting = ("?", "?")  # never equal to a real setting, so the next statement re-applies


def protected_tables() -> dict[str, str]:
    """Every table row-level security protects, each with its policy's condition.

    Concrete tenant-owned models filter on their own `tenant_id`; an auto-created many-to-many table of one
    sees a link only when its tenant-owned row is visible (that table's policy applies inside the EXISTS).
    """
    tables: dict[str, str] = {}
    for model in concrete_tenant_models():
        tables[model._meta.db_table] = TENANT_CONDITION
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            if through._meta.auto_created:
                source = through._meta.get_field(field.m2m_field_name())
                tables[through._meta.db_table] = (
                    f'EXISTS (SELECT 1 FROM "{model._meta.db_table}" AS owner'  # noqa: S608 - names from models
                    f' WHERE owner.id = "{through._meta.db_table}"."{source.column}")'
                )
    return tables


def policies_install(*, using: str = "default", **kwargs: Any) -> None:
    """`post_migrate`: protect every table from `protected_tables()` and grant the application role its rights.

    Idempotent and cheap when nothing is missing (one catalogue query), so `flush` in tests, which sends
    `post_migrate` as the application role, does no DDL.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    tables = protected_tables()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity,
                   ARRAY(SELECT p.polname FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname LIKE %s)
            FROM pg_class c WHERE c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace
            """,
            [f"{POLICY_PREFIX}%", list(tables)],
        )
        state = {name: (is_forced, policies) for name, is_forced, policies in cursor.fetchall()}
        for table, condition in tables.items():
            is_forced, policies = state.get(table, (False, []))
            quoted = connection.ops.quote_name(table)
            if not is_forced:
                cursor.execute(f"ALTER TABLE {quoted} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
            for stale in set(policies) - {POLICY_NAME}:
                cursor.execute(f"DROP POLICY {connection.ops.quote_name(stale)} ON {quoted}")
            if POLICY_NAME not in policies:
                cursor.execute(f"CREATE POLICY {POLICY_NAME} ON {quoted} USING ({condition}) WITH CHECK ({condition})")
        cursor.execute("SELECT current_user")
        (current_user,) = cursor.fetchone()
        app_role = settings.DATABASE_APP_ROLE
        if app_role and app_role != current_user:
            role = connection.ops.quote_name(app_role)
            cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
            cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")


def _wanted_setting() -> Setting:
    tenant = current_tenant_or_none()
    if tenant is not None:
        return (str(tenant.pk), "")
    return ("", "on" if current_platform_flag() else "")


def _local_setting_sql(setting: Setting) -> str:
    """The statement that puts `setting` in force until the end of the transaction, to run before another.

    Literals rather than parameters, so that the statement it precedes keeps its own parameter style: a tenant
    id is digits and the flag is `on` or nothing, which the assertion checks.
    """
    tenant, platform = setting
    assert tenant.isdigit() or not tenant, tenant  # noqa: S101 - a tenant's primary key
    assert platform in {"on", ""}, platform  # noqa: S101
    return (
        f"SELECT set_config('tierline.tenant_id', '{tenant}', true),"
        f" set_config('tierline.platform', '{platform}', true); "
    )


class ContextSetter:
    """Execute wrapper: make the connection's settings equal the active context for each statement that needs it.

    The settings are transaction-local, so nothing outlives a transaction on a server connection: the same code
    is right on a direct connection, a pooled one (`CONN_MAX_AGE`) and behind PgBouncer in transaction pooling
    mode, where one client's consecutive transactions may run on different server connections and a server
    connection serves many clients.

    - Inside a transaction, the first statement that needs the setting is preceded by a `set_config(…, true)`;
      the tracker remembers it until PostgreSQL drops it: at commit or rollback (the driver then reports no open
      transaction) or at a rollback to an earlier savepoint (which passes through this wrapper).
    - In autocommit each statement is its own transaction, so the setting travels in front of the statement in
      the same query (`SELECT set_config(…, true); <statement>`; PostgreSQL runs a multi-statement query as one
      transaction and psycopg2 returns the last statement's result): no extra round trip.
    - A server-side cursor in autocommit (`WITH HOLD`, materialised when its DECLARE commits) gets a session value
      that is cleared right after. Transaction pooling disables server-side cursors (loyalty/settings.py).
    """

    def __init__(self) -> None:
        self.local: Setting | None = None

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        connection: BaseDatabaseWrapper = context["connection"]
        raw = connection.connection
        status = raw.get_transaction_status()
        if status == TRANSACTION_STATUS_IDLE:
            self.local = None
        wanted = _wanted_setting()
        # In a failed transaction only a rollback runs (and reads nothing): setting anything would fail it.
        if status != TRANSACTION_STATUS_INERROR and self.local != wanted and _READS_OR_WRITES_ROWS.match(sql):
            if not connection.get_autocommit():
                with raw.cursor() as cursor:
                    cursor.execute(_SET_CONTEXT_SQL, [wanted[0], True, wanted[1], True])
                self.local = wanted
            elif getattr(context["cursor"].cursor, "name", None):
                return _execute_with_session_setting(execute, sql, params, many, context, wanted)
            else:
                sql = _local_setting_sql(wanted) + sql
        try:
            return execute(sql, params, many, context)
        finally:
            if sql.startswith("ROLLBACK TO SAVEPOINT"):
                self.local = _UNKNOWN


def _execute_with_session_setting(
    execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any], wanted: Setting
) -> Any:
    raw = context["connection"].connection
    with raw.cursor() as cursor:
        cursor.execute(_SET_CONTEXT_SQL, [wanted[0], False, wanted[1], False])
    try:
        return execute(sql, params, many, context)
    finally:
        with raw.cursor() as cursor:
            cursor.execute(_SET_CONTEXT_SQL, ["", False, "", False])


def context_setter_install(*, sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """`connection_created`: every new PostgreSQL connection keeps its settings in step with the context."""
    if connection.vendor == "postgresql":
        # The wrapper list outlives a reconnection: replace the previous connection's tracker.
        wrappers = [wrapper for wrapper in connection.execute_wrappers if not isinstance(wrapper, ContextSetter)]
        connection.execute_wrappers[:] = [ContextSetter(), *wrappers]


@contextmanager
def connected_as(database_url: str, using: str = "default") -> Iterator[None]:
    """Connect `using` to the same database as the role of `database_url` for the duration of the block.

    Its user, password, host and port replace the connection's (the database name stays, so this works on the
    test database too). An empty URL leaves the connection as it is.
    """
    if not database_url:
        yield
        return
    connection = connections[using]
    role = dj_database_url.parse(database_url)
    keys = ["USER", "PASSWORD", "HOST", "PORT"]
    saved = {key: connection.settings_dict.get(key) for key in keys}
    connection.close()
    connection.settings_dict.update({key: role.get(key) for key in keys})
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def concrete_tenant_models() -> list[type[models.Model]]:
    """Every concrete tenant-owned model, for the tests that prove each table is protected."""
    from loyalty.tenancy.models import TenantOwnedModel

    return [
        model
        for model in apps.get_models()
        if issubclass(model, TenantOwnedModel) and not model._meta.proxy and model._meta.managed
    ]
