"""Bulk inserts for the hot write paths (ingestion, bulk posting) without `bulk_create`'s per-value Python cost."""

import hashlib
import io
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec
from django.db import connection, models
from django.db.models import Expression, F
from django.db.models.lookups import In

_json_encode = msgspec.json.Encoder().encode


def _converter(field: models.Field) -> Callable[[Any], Any]:
    """How a model attribute becomes a value psycopg2 adapts itself (most types need nothing)."""
    if isinstance(field, models.JSONField) and field.encoder is None:
        return lambda value: None if value is None else _json_encode(value).decode()
    if isinstance(field, models.JSONField):
        return lambda value: None if value is None else json.dumps(value, cls=field.encoder)
    if isinstance(field, models.FileField):
        # A FieldFile, or the field's default (a name) when columns_insert fills the column.
        return lambda value: "" if value is None else (getattr(value, "name", value) or "")
    return lambda value: value


def rows_insert(objects: Sequence[models.Model]) -> None:
    """Insert new model instances and set their primary keys, in order: `bulk_create` for hot paths.

    Like `bulk_create` it bypasses `save()`: callers set `tenant` themselves. No `pre_save` runs (no auto_now
    fields on the models it serves).
    """
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects)
        return
    fields = _insert_fields(model)
    ids = columns_insert(
        model, {field.attname: [getattr(instance, field.attname) for instance in objects] for field in fields}
    )
    for instance, pk in zip(objects, ids, strict=True):
        instance.pk = pk
        instance._state.adding = False
        instance._state.db = connection.alias


def columns_insert(model: type[models.Model], columns: dict[str, list]) -> list[int]:
    """Insert rows given column by column (attribute name → values; the other fields take their defaults) and
    return their primary keys in order, without building model instances on PostgreSQL.

    There: one `INSERT … SELECT * FROM unnest(%s::type[], …) RETURNING id`. Django's `bulk_create` spends
    ~5 µs of Python per value and ~20 µs per instance, several times the database's own work for a 1,000-activity
    batch (bench/ingest.py). Elsewhere, instances and `bulk_create`.
    """
    size = _with_defaults(model, columns)
    if size == 0:
        return []
    if connection.vendor != "postgresql":
        objects = [model(**{name: values[index] for name, values in columns.items()}) for index in range(size)]
        model._default_manager.bulk_create(objects)
        return [instance.pk for instance in objects]
    return [row[0] for row in _unnest_insert(model, columns, "")]


def columns_insert_new(model: type[models.Model], columns: dict[str, list], *, key: str) -> dict[Any, int]:
    """Insert rows given column by column, skipping those a unique constraint refuses, and return the inserted
    rows' `key` attribute → primary key: written twice, the same rows add nothing, with no read first.

    One `INSERT … ON CONFLICT DO NOTHING RETURNING` on PostgreSQL (from unnest) and on SQLite (from VALUES).
    """
    size = _with_defaults(model, columns)
    if size == 0:
        return {}
    key_column = model._meta.get_field(key).column
    returning = f" ON CONFLICT DO NOTHING RETURNING {key_column}, {model._meta.pk.column}"
    if connection.vendor == "postgresql":
        return dict(_unnest_insert(model, columns, returning))
    fields = _insert_fields(model)
    rows = [
        [field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)]
        for values in zip(*(columns[field.attname] for field in fields), strict=True)
    ]
    placeholders = "(" + ", ".join("%s" for _ in fields) + ")"
    batch = max(1, 30_000 // len(fields))  # SQLite binds at most 32,766 variables per statement
    inserted = {}
    with connection.cursor() as cursor:
        for start in range(0, size, batch):
            part = rows[start : start + batch]
            values = ", ".join(placeholders for _ in part)
            cursor.execute(
                # The columns come from the model; every value is a parameter.
                f"INSERT INTO {_table_and_columns(model, fields)} VALUES {values}{returning}",  # noqa: S608
                [value for row in part for value in row],
            )
            inserted.update(cursor.fetchall())
    return inserted


def _with_defaults(model: type[models.Model], columns: dict[str, list]) -> int:
    """Fill the columns not given with their defaults; the number of rows."""
    size = len(next(iter(columns.values()), []))
    for field in _insert_fields(model):
        if field.attname not in columns:
            default = field.get_default()
            columns[field.attname] = [default() if callable(default) else default for _ in range(size)]
    return size


def _table_and_columns(model: type[models.Model], fields: list[models.Field]) -> str:
    names = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    return f"{connection.ops.quote_name(model._meta.db_table)} ({names})"


def _unnest_insert(model: type[models.Model], columns: dict[str, list], suffix: str) -> list[tuple]:
    """PostgreSQL: one `INSERT … SELECT * FROM unnest(%s::type[], …)` with `suffix`, returning its rows."""
    fields = _insert_fields(model)
    arrays = [list(map(_converter(field), columns[field.attname])) for field in fields]
    casts = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    with connection.cursor() as cursor:
        # The columns and types come from the model; every value is a parameter.
        cursor.execute(
            f"INSERT INTO {_table_and_columns(model, fields)} SELECT * FROM unnest({casts})"  # noqa: S608
            + (suffix or f" RETURNING {model._meta.pk.column}"),
            arrays,
        )
        return cursor.fetchall()


def _insert_fields(model: type[models.Model]) -> list[models.Field]:
    return [field for field in model._meta.concrete_fields if field is not model._meta.pk]


class AnyOf(Expression):
    """`field IN (values)` for a large set of values: on PostgreSQL `field = ANY(%s)` with the values as one array
    parameter, which psycopg2 adapts in C (Django prepares, binds and plans an IN list value by value: ~20 ms of
    Python for a thousand partner ids). Elsewhere the ordinary IN lookup.

        Partner.objects.filter(AnyOf("external_id", refs))

    The values go to the driver as they are (ids, text: what psycopg2 adapts itself), not through the field's
    preparation. The array's element type is the field's without its length (`varchar(64)` compares as
    `varchar`): a cast to the column's length would cut a longer value to a prefix that might match.
    """

    conditional = True
    output_field = models.BooleanField()

    def __init__(self, field: str | Expression, values: Iterable[Any]) -> None:
        super().__init__()
        self.lhs = F(field) if isinstance(field, str) else field
        self.values = list(values)

    def get_source_expressions(self) -> list[Expression]:
        return [self.lhs]

    def set_source_expressions(self, expressions: list[Expression]) -> None:
        (self.lhs,) = expressions

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple]:
        # Not PostgreSQL: Django's own IN (an empty set matches nothing, as there).
        return compiler.compile(In(self.lhs, self.values))

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, tuple]:
        lhs_sql, lhs_params = compiler.compile(self.lhs)
        field = self.lhs.output_field
        element_type = (
            field.target_field.rel_db_type(connection) if field.remote_field else field.db_type(connection)
        ).split("(")[0]
        return f"{lhs_sql} = ANY(%s::{element_type}[])", (*lhs_params, self.values)


# COPY staging (PostgreSQL): rows are streamed into a temporary table, then moved by `INSERT … SELECT`.
# COPY FROM refuses tables under row-level security, so it never writes a tenant table itself. The staging table is
# temporary (unlogged, private to the session), kept for the session and emptied at every commit (`ON COMMIT DELETE
# ROWS`): creating and dropping it in each batch cost PostgreSQL a dozen catalog rows per batch. It is (re)declared
# with `IF NOT EXISTS` in every transaction that stages, so behind a transaction-pooling PgBouncer, whichever server
# session a transaction lands on has it; its name carries a digest of its columns, so a session that still holds the
# table of an older definition (a deploy) never mistakes it for the new one.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_NULL = "\\N"


def copy_escape(text: str) -> str:
    """Text in COPY's text format: backslash, tab and line breaks escaped (callers never stage a NUL)."""
    return text.translate(_COPY_ESCAPES)


def _copy_other(value: Any) -> str:
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, dict | list):
        return _json_encode(value).decode().translate(_COPY_ESCAPES)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# By exact type, the common cases first: a lookup per value instead of a chain of isinstance checks.
_COPY_FORMATS: dict[type, Callable[[Any], str]] = {
    str: copy_escape,
    int: int.__str__,
    type(None): lambda _value: COPY_NULL,
    datetime: datetime.isoformat,
    date: date.isoformat,
    Decimal: Decimal.__str__,
}


def copy_text(value: Any) -> str:
    """One value in COPY's text format (None is \\N; text escapes backslash, tab and line breaks)."""
    return _COPY_FORMATS.get(type(value), _copy_other)(value)


def staging_table(name: str, columns: Sequence[tuple[str, str]]) -> str:
    """The session's staging table for these columns: `name` and a digest of the columns' names and types."""
    digest = hashlib.blake2b(repr(tuple(columns)).encode(), digest_size=4).hexdigest()
    return f"{name}_{digest}"


def stage_rows(*, name: str, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> tuple[str, int]:
    """COPY the rows into the staging table `name` for these columns (name, SQL type), emptied first, in one
    round trip of text; returns the table's name (see `staging_table`) and the number of rows. PostgreSQL only,
    inside a transaction: the rows are gone at commit.

    A second call in the same transaction replaces the rows. Text holds no NUL: callers stage validated values.
    """
    lines = ["\t".join(map(copy_text, row)) for row in rows]
    return stage_lines(name=name, columns=columns, lines=lines), len(lines)


def stage_lines(*, name: str, columns: Sequence[tuple[str, str]], lines: Sequence[str]) -> str:
    """`stage_rows` for lines the caller wrote in COPY's text format itself (values joined by tabs, each escaped
    with `copy_escape` or `copy_text`, NULL as `COPY_NULL`): a hot path that knows its columns' types formats a
    row in one expression. Returns the table's name."""
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        raise RuntimeError("COPY staging needs PostgreSQL and an open transaction.")
    table = staging_table(name, columns)
    definition = ", ".join(f"{connection.ops.quote_name(column)} {sql_type}" for column, sql_type in columns)
    names = ", ".join(connection.ops.quote_name(column) for column, _type in columns)
    with connection.cursor() as cursor:
        # IF NOT EXISTS notes a NOTICE when the table exists; DELETE empties what an earlier call of this
        # transaction staged (nothing, after a commit).
        cursor.execute(
            # Names and types come from the caller's constants; nothing is a value.
            f"CREATE TEMP TABLE IF NOT EXISTS {table} ({definition}) ON COMMIT DELETE ROWS; DELETE FROM pg_temp.{table}"  # noqa: S608
        )
        if lines:
            # psycopg2's COPY (the raw cursor's), from the text in one piece.
            cursor.copy_expert(f"COPY pg_temp.{table} ({names}) FROM STDIN", io.StringIO("\n".join(lines) + "\n"))
    return table


def field_sql_type(model: type[models.Model], name: str) -> str:
    """The column type of a model field (by attribute name), for staging tables shaped like the model."""
    field = next(field for field in model._meta.concrete_fields if field.attname == name)
    return field.db_type(connection) if not field.remote_field else field.target_field.rel_db_type(connection)
