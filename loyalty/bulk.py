"""Bulk inserts for the hot write paths (ingestion, bulk posting) without `bulk_create`'s per-value Python cost."""

import io
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec
from django.db import connection, models

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


# COPY staging (PostgreSQL): rows are streamed into a temporary table, then moved by `INSERT … SELECT`.
# COPY FROM refuses tables under row-level security, so it never writes a tenant table itself; the staging table
# is temporary (unlogged, private to the session) and dropped at commit, so it survives no transaction — which
# keeps it correct behind a transaction-pooling PgBouncer too.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


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
    str: lambda value: value.translate(_COPY_ESCAPES),
    int: int.__str__,
    type(None): lambda _value: "\\N",
    datetime: datetime.isoformat,
    date: date.isoformat,
    Decimal: Decimal.__str__,
}


def _copy_text(value: Any) -> str:
    """One value in COPY's text format (None is \\N; text escapes backslash, tab and line breaks)."""
    return _COPY_FORMATS.get(type(value), _copy_other)(value)


def stage_rows(*, name: str, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> int:
    """Create the temporary table `name` (columns: (name, SQL type)) for the rest of the transaction and COPY the
    rows into it, in one round trip of text; returns the number of rows. PostgreSQL only, inside a transaction.

    A second call in the same transaction replaces the table. Text holds no NUL: callers stage validated values.
    """
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        raise RuntimeError("COPY staging needs PostgreSQL and an open transaction.")
    table = connection.ops.quote_name(name)
    definition = ", ".join(f"{connection.ops.quote_name(column)} {sql_type}" for column, sql_type in columns)
    lines = ["\t".join(map(_copy_text, row)) for row in rows]
    buffer = io.StringIO("\n".join(lines) + "\n" if lines else "")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}; CREATE TEMP TABLE {table} ({definition}) ON COMMIT DROP")
        names = ", ".join(connection.ops.quote_name(column) for column, _type in columns)
        cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN", buffer)  # psycopg2's COPY (the raw cursor's)
    return len(lines)


def field_sql_type(model: type[models.Model], name: str) -> str:
    """The column type of a model field (by attribute name), for staging tables shaped like the model."""
    field = next(field for field in model._meta.concrete_fields if field.attname == name)
    return field.db_type(connection) if not field.remote_field else field.target_field.rel_db_type(connection)
