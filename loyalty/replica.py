"""Reads from the streaming replica (`DATABASE_REPLICA_URL`) for the pages that tolerate a moment's lag.

Only code inside `replica_reads()` (views marked `@reads_from_replica`: the analytics, the program dashboard, the
account managers' worklist) reads from the replica; everything else, and every write, uses the primary. Without
a replica configured, none of this changes anything. Read-your-writes: any unsafe request (POST, PUT, PATCH,
DELETE) pins its browser to the primary for `DATABASE_REPLICA_PIN_SECONDS` (a cookie), so a user's own pages
show what they just did even while the replica is behind; a block that writes, or runs in a transaction on the
primary, reads from the primary for the rest of it. Row-level security applies on the replica connection as on
every connection (loyalty/tenancy/rls.py installs its wrapper on each alias).
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

REPLICA = "replica"
PIN_COOKIE = "tierline_primary_until"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


@dataclass
class _ReplicaReads:
    """A block whose reads may go to the replica, until it writes."""

    has_written: bool = False


_replica_reads: ContextVar[_ReplicaReads | None] = ContextVar("tierline_replica_reads", default=None)


def replica_configured() -> bool:
    """Whether a replica alias exists (DATABASE_REPLICA_URL)."""
    return REPLICA in settings.DATABASES


@contextmanager
def replica_reads(*, is_allowed: bool = True) -> Iterator[None]:
    """Within the block, reads go to the replica when one is configured and `is_allowed`."""
    token = _replica_reads.set(_ReplicaReads() if is_allowed and replica_configured() else None)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def replica_reachable() -> bool:
    """Whether the replica connection is open or opens now; a replica that is down leaves reads on the primary."""
    try:
        connections[REPLICA].ensure_connection()
    except DatabaseError:
        logger.warning("The read replica is unreachable: reading from the primary.", exc_info=True)
        return False
    return True


def is_pinned_to_primary(request: HttpRequest) -> bool:
    """Whether this browser made an unsafe request within the pin window (see `PrimaryPinMiddleware`)."""
    try:
        return float(request.COOKIES.get(PIN_COOKIE, "0")) > time.time()
    except ValueError:
        return False


def reads_from_replica(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view whose GETs read from the replica, unless its browser is pinned to the primary or the replica is down."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        is_allowed = (
            request.method in {"GET", "HEAD"}
            and replica_configured()
            and not is_pinned_to_primary(request)
            # In a transaction on the primary (ATOMIC_REQUESTS, a test's) reads stay there: no need to ask.
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block
            and replica_reachable()
        )
        with replica_reads(is_allowed=is_allowed):
            return view(request, *args, **kwargs)

    return wrapped


class PrimaryPinMiddleware:
    """After an unsafe request, pin the browser to the primary for the pin window (read-your-writes).

    The cookie holds the moment the pin ends; tampering with it only changes where its own browser reads from.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method not in SAFE_METHODS and replica_configured():
            seconds = settings.DATABASE_REPLICA_PIN_SECONDS
            response.set_cookie(
                PIN_COOKIE,
                f"{time.time() + seconds:.3f}",
                max_age=seconds,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response


class ReplicaRouter:
    """Database router: the replica for reads inside `replica_reads()`, the primary for everything else."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        state = _replica_reads.get()
        if state is None or state.has_written or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model: type, **hints: Any) -> str:
        state = _replica_reads.get()
        if state is not None:
            state.has_written = True  # what follows in the block reads its own writes
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # both aliases hold the same rows

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
