"""Tenants by host and memberships, cached in Redis under one platform-wide generation (issue 24, item 3).

Every request resolves the host's tenant and the member's membership: two queries before any page's own work.
Both are cached in the project's cache (Redis) for `ENTRY_SECONDS`, with the *generation* they were read in: a
token that every write to a tenant, domain, membership or partner (and the program's onboarding settings, read
on every partner's dashboard, and the webhook endpoints, read on every event: webhooks/selectors.py) replaces
(`TenancyCachedModel`, `TenancyCachedQuerySet`), so the next read misses and goes to the database. One token
for the whole platform keeps invalidation trivially right (any such write invalidates everything) at the price
of hit rate after a write; these rows change rarely next to how often they are read.

- The generation is replaced when the write commits (once per transaction and family, however many rows it
  wrote): until then every other reader sees the committed rows, which the entries match. Inside a transaction
  that wrote one of these rows, nothing is read from or written to the cache: the rows are not committed yet,
  and may never be.
- Only a shared cache counts: with a per-process cache (LocMemCache, the embedded default) another process's
  write would not reach this one, so everything is read from the database.
- Fail-safe: when Redis is unreachable the cache misses (loyalty/cache.py) and every read goes to the database.
  A write whose bump is lost to an outage leaves entries at most `ENTRY_SECONDS` old.
- Keys carry the database's name (tests, benchmarks and deployments may share one Redis) and what they are about
  (the host, or the tenant and user ids); each entry holds the generation it was read in and counts only while
  that is the current one, so the generation and an entry come back in one round trip (`get_many`). Callers
  still check that what came back belongs to the tenant asked.
- Families: other rows read on every page (a member's unread notifications count, unread announcements, a
  partner's badges) are cached the same way under a generation of their own (`family`), so that their writes,
  far more frequent, do not empty the tenants and memberships (docs/tenancy.md, "Request cache").
- Security state that must be live is not cached: whether a member set up TOTP is read on demand
  (`Membership.has_totp`).
"""

import hashlib
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.apps import apps
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import DEFAULT_DB_ALIAS, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.signals import post_delete

ENTRY_SECONDS = 60

T = TypeVar("T")
_MISSING = object()
TENANCY = "tenancy"
# The generations read once for a request (`generation_pinned`), by family: a bump anywhere in the request drops
# its family's for the rest of the request.
_pinned: ContextVar[dict[str, str] | None] = ContextVar("tierline_tenancy_generation", default=None)
# Entries read ahead for a request (`prefetch`), by cache key (None: not in the cache), each used once by `cached`.
_fetched: ContextVar[dict[str, Any] | None] = ContextVar("tierline_tenancy_fetched", default=None)


def _is_shared() -> bool:
    return isinstance(caches["default"], RedisCache)


def _database_name(using: str = DEFAULT_DB_ALIAS) -> str:
    return str(connections[using].settings_dict["NAME"])


def _generation_key(using: str = DEFAULT_DB_ALIAS, family: str = TENANCY) -> str:
    return f"tenancy:{_database_name(using)}:generation" + ("" if family == TENANCY else f":{family}")


class _PendingBump:
    """A family's bump waiting for the commit of the transaction that wrote (`generation_bump`): registered with
    `transaction.on_commit`, and recorded (weakly) in `_pending` with the savepoints open when it was registered."""

    def __init__(self, using: str, family: str, savepoint_ids: Iterable[str | None]) -> None:
        self.using, self.family, self.savepoint_ids = using, family, frozenset(savepoint_ids)

    def __call__(self) -> None:
        _bump(self.using, self.family)


# Per connection, the bumps pending in its transaction. Django holds the only strong reference to each (its
# on-commit callbacks) and drops it when it runs the callback at the commit, or discards it with a rolled-back
# transaction or savepoint; the record, weak, forgets it then too, so it always agrees with what will run.
_pending: weakref.WeakKeyDictionary[BaseDatabaseWrapper, weakref.WeakSet[_PendingBump]] = weakref.WeakKeyDictionary()


def _pending_bumps(using: str) -> weakref.WeakSet[_PendingBump]:
    connection = connections[using]
    pending = _pending.get(connection)
    if pending is None:
        pending = _pending[connection] = weakref.WeakSet()
    return pending


def _written_in_transaction(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether the open transaction wrote a cached row of any family (its commit-time bump is pending)."""
    return connections[using].in_atomic_block and bool(_pending_bumps(using))


def generation(using: str = DEFAULT_DB_ALIAS, *, family: str = TENANCY) -> str | None:
    """The family's current generation, or None when the cache must not be used (see the module's docstring)."""
    if not _is_shared() or _written_in_transaction(using):
        return None
    pinned = _pinned.get()
    if pinned is not None and family in pinned:
        return pinned[family]
    key = _generation_key(using, family)
    value = cache.get(key)
    if value is None:
        cache.add(key, uuid.uuid4().hex, None)
        value = cache.get(key)  # still None: Redis is unreachable (loyalty/cache.py fails open)
    if pinned is not None and value is not None:
        pinned[family] = value
    return value


@contextmanager
def generation_pinned() -> Iterator[None]:
    """Read the generation at most once inside the block (a request), unless the block bumps it."""
    token, fetched = _pinned.set({}), _fetched.set({})
    try:
        yield
    finally:
        _pinned.reset(token)
        _fetched.reset(fetched)


def prefetch(
    entries: Iterable[tuple[str, str]] = (),
    *,
    families: Iterable[str] = (),
    keys: Iterable[str] = (),
    using: str = DEFAULT_DB_ALIAS,
) -> dict[str, Any]:
    """Read in one round trip what this request will ask of the cache: the `(name, family)` entries that `cached`
    will be asked for, their families' generations and those of `families` (pinned for the request), and other
    cache `keys` (returned, those found). Outside a request (no pinned generations), in a transaction that wrote a
    cached row or without a shared cache, only `keys` are read."""
    entries, keys = list(entries), list(keys)
    pinned, fetched = _pinned.get(), _fetched.get()
    usable = pinned is not None and fetched is not None and _is_shared() and not _written_in_transaction(using)
    entry_keys = [f"tenancy:{_database_name(using)}:{name}" for name, _family in entries] if usable else []
    wanted = {family for _name, family in entries} | set(families) if usable else set()
    generation_keys = {family: _generation_key(using, family) for family in wanted if family not in pinned}
    found = cache.get_many([*keys, *entry_keys, *generation_keys.values()]) if keys or entry_keys or wanted else {}
    if usable:
        for family, key in generation_keys.items():
            if key in found:  # absent (the first ever): `generation` makes it when asked
                pinned[family] = found[key]
        fetched.update({key: found.get(key) for key in entry_keys})
    return {key: found[key] for key in keys if key in found}


def cached(name: str, compute: Callable[[], T], *, using: str = DEFAULT_DB_ALIAS, family: str = TENANCY) -> T:
    """`compute()`, kept for `ENTRY_SECONDS` under `name` with its family's generation it was read in; None is kept
    too. `name` must say whose it is (the tenant, the user).

    An entry counts only while its generation is the current one. The first read of a family in a request fetches
    the generation and the entry together (one round trip); later reads use the pinned generation.
    """
    if not _is_shared() or _written_in_transaction(using):
        return compute()
    key = f"tenancy:{_database_name(using)}:{name}"
    pinned = _pinned.get()
    if pinned is not None and family in pinned:
        fetched = _fetched.get()
        current = pinned[family]
        stored = fetched.pop(key) if fetched is not None and key in fetched else cache.get(key)
    else:
        generation_key = _generation_key(using, family)
        found = cache.get_many([generation_key, key])
        current, stored = found.get(generation_key), found.get(key)
        if current is None:
            current = generation(using, family=family)  # the first ever (or Redis is unreachable: None)
            if current is None:
                return compute()
        elif pinned is not None:
            pinned[family] = current
    if stored is not None and stored[0] == current:
        return stored[1]
    value = compute()
    cache.set(key, (current, value), ENTRY_SECONDS)
    return value


def host_key(host: str) -> str:
    """A cache key part for a host name (hashed: a host may be 253 characters)."""
    return hashlib.blake2b(host.encode(), digest_size=16).hexdigest()


def _bump(using: str = DEFAULT_DB_ALIAS, family: str = TENANCY) -> None:
    cache.set(_generation_key(using, family), uuid.uuid4().hex, None)
    pinned = _pinned.get()
    if pinned is not None:
        pinned.pop(family, None)


def _bump_pending(using: str, family: str) -> bool:
    """Whether the family's bump is already pending in a savepoint that encloses this point: one that rolls back
    only with it, so with the write that asks again."""
    enclosing = set(connections[using].savepoint_ids)
    return any(bump.family == family and bump.savepoint_ids <= enclosing for bump in _pending_bumps(using))


def generation_bump(*, using: str = DEFAULT_DB_ALIAS, family: str = TENANCY) -> None:
    """Invalidate every cached entry of the family (by default tenants and memberships) when the write commits: at
    once in autocommit, else once at the commit of the open transaction, however many writes it made.

    Until then no bump is needed: other processes read the committed rows, which the entries still match, and this
    transaction reads nothing from the cache (the pending bump marks it as having written:
    _written_in_transaction). A rollback drops the bump with the writes.
    """
    if not _is_shared():
        return
    connection = connections[using]
    if connection.in_atomic_block and _bump_pending(using, family):
        return
    bump = _PendingBump(using, family, connection.savepoint_ids)
    transaction.on_commit(bump, using=using)  # at once in autocommit
    if connection.in_atomic_block:
        _pending_bumps(using).add(bump)


def cached_replace(name: str, value: Any, *, using: str = DEFAULT_DB_ALIAS, family: str = TENANCY) -> None:
    """Put `value` in place of the entry `cached` gave for `name` in this request, under the generation it was read
    in: after a write of fields that do not bump (`TenancyCachedModel.uncached_fields`), so that later requests see
    it. Only inside a request that read the family's generation and did not bump it since; an entry under a
    generation replaced meanwhile never counts."""
    pinned = _pinned.get()
    if pinned is None or family not in pinned or not _is_shared() or _written_in_transaction(using):
        return
    cache.set(f"tenancy:{_database_name(using)}:{name}", (pinned[family], value), ENTRY_SECONDS)


def saved_fields(save_kwargs: dict[str, Any]) -> frozenset[str] | None:
    """A save's `update_fields` (None: every field), read once and put back as a set: Django takes any iterable and
    reads it once, so a generator would be empty by the time the save asks whether to bump."""
    update_fields = save_kwargs.get("update_fields")
    if update_fields is None:
        return None
    save_kwargs["update_fields"] = update_fields = frozenset(update_fields)
    return update_fields


class TenancyCachedQuerySet(models.QuerySet):
    """Bulk writes of a cached model bump the generation (row-by-row writes do in `TenancyCachedModel`), unless they
    write only its `uncached_fields`."""

    def _bumped(self, fields: Iterable[str] | None = None) -> None:
        if fields is None or not set(fields) <= self.model.uncached_fields:
            generation_bump(using=self.db, family=self.model.cache_family)

    def update(self, **kwargs: Any) -> int:
        count = super().update(**kwargs)
        self._bumped(kwargs)
        return count

    update.alters_data = True

    def delete(self) -> tuple[int, dict[str, int]]:
        result = super().delete()
        self._bumped()
        return result

    delete.alters_data = True

    def bulk_create(self, *args: Any, **kwargs: Any) -> list:
        created = super().bulk_create(*args, **kwargs)
        self._bumped()
        return created

    def bulk_update(self, objs: Iterable[models.Model], fields: Iterable[str], *args: Any, **kwargs: Any) -> int:
        fields = list(fields)
        count = super().bulk_update(objs, fields, *args, **kwargs)
        self._bumped(fields)
        return count


TenancyCachedManager = models.Manager.from_queryset(TenancyCachedQuerySet)


class TenancyCachedModel(models.Model):
    """A model whose rows are cached by loyalty.tenancy.caching: saving or deleting one bumps its family's
    generation, unless the write names only `uncached_fields`."""

    cache_family = TENANCY
    # Fields no use of the family's entries depends on (an API key's last use): writing only these does not bump, and
    # entries may hold them out of date (`cached_replace` puts a write's value in place for the request's own).
    uncached_fields: frozenset[str] = frozenset()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = saved_fields(kwargs)
        super().save(*args, **kwargs)
        if update_fields is not None and update_fields <= self.uncached_fields:
            return
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        generation_bump(using=using, family=self.cache_family)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        result = super().delete(*args, **kwargs)
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        generation_bump(using=using, family=self.cache_family)
        return result


# The deletion collector's own ways of deleting a parent's children: they bump as `on_delete` says (every other
# `on_delete` writes nothing, or refuses).
_UNCHANGED_BY_DELETE = (models.CASCADE, models.PROTECT, models.RESTRICT, models.DO_NOTHING)


def deletes_connect() -> None:
    """Bump a cached model's family on the writes Django's deletion collector makes past the models and querysets
    above: rows deleted by a cascade (a partner's notifications and badge awards, a user's memberships; the collector
    deletes them in SQL, calling no `delete`) and rows whose key is set to NULL (or a default) when what they point
    at goes (an API key's author). Its only hooks are the deletion signals, so this is the house's one exception to
    "no signals" for the cache (as loyalty/tenancy/signals.py is for the framework's security events): one receiver
    per cached model, and one per model its rows point at with `SET_NULL`, `SET_DEFAULT` or `SET(...)`.

    The bump waits for the commit as any other (the collector deletes in one transaction: one bump per family). The
    price: the collector no longer deletes a cached model's rows "fast" (one DELETE without reading them); it reads
    them first, as it does for any model with a receiver, and so do bulk deletes (`TenancyCachedQuerySet.delete`).
    These rows are few per parent (a member's notifications, a partner's badges), and none is purged in bulk."""
    for model in apps.get_models():
        if not issubclass(model, TenancyCachedModel):
            continue
        family = model.cache_family
        post_delete.connect(_family_bumper(family), sender=model, weak=False, dispatch_uid=f"cache:{model._meta.label}")
        for field in model._meta.concrete_fields:
            if field.many_to_one and field.remote_field.on_delete not in _UNCHANGED_BY_DELETE:
                post_delete.connect(
                    _family_bumper(family),
                    sender=field.related_model,
                    weak=False,
                    dispatch_uid=f"cache:{model._meta.label}.{field.name}",
                )


def _family_bumper(family: str) -> Callable[..., None]:
    def bump(sender: type, using: str, **kwargs: object) -> None:
        generation_bump(using=using, family=family)

    return bump
