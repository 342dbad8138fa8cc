"""The beat scheduler: django-celery-beat's DatabaseScheduler, ticking only in the process that holds a lock.

Start as many beats as you like (a second one by mistake, or a hot standby on purpose): each holds or waits for a
session-level PostgreSQL advisory lock on a connection of its own, and only the holder sends anything. The lock
goes with the connection, so a beat that dies (even by SIGKILL) frees it at once and a standby takes over at its
next poll, after re-reading the schedule (and the last run times the old leader wrote) from the database.
"""

import contextlib
import logging
import os
from typing import Any

import dj_database_url
from django.conf import settings
from django.db import connection
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

# pg_try_advisory_lock's key: any bigint the application uses for nothing else.
LOCK_KEY = 7_315_052_201
# How often a standby tries to take the lock (seconds); --max-interval lowers it.
STANDBY_POLL_SECONDS = 5.0


def _direct_connection_params() -> dict[str, Any]:
    """The lock's connection: a session of its own, so never through a transaction pooler (DATABASE_DIRECT_URL's
    role, host and port when set, on the same database), where another client could share the lock's session."""
    params = connection.get_connection_params()
    if settings.DATABASE_DIRECT_URL:
        direct = dj_database_url.parse(settings.DATABASE_DIRECT_URL)
        for key in ("user", "password", "host", "port"):
            params.pop(key, None)
            if direct.get(key.upper()):
                params[key] = direct[key.upper()]
    return params


class LockedDatabaseScheduler(DatabaseScheduler):
    """A DatabaseScheduler that sends tasks only while it holds the beat lock; otherwise a hot standby."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock_connection: Any = None
        self._announced_standby = False
        super().__init__(*args, **kwargs)

    @property
    def is_leader(self) -> bool:
        """Whether this process holds the lock now; SQLite (one machine, the demo) has no lock and always leads."""
        if connection.vendor != "postgresql":
            return True
        if self._lock_connection is not None and not self._lock_alive():
            logger.error("Beat lock lost with its database connection; this beat stops sending until it has it again.")
            self._lock_release()
        if self._lock_connection is None and self._lock_acquire():
            logger.warning("Beat lock acquired (process %s): this beat sends the scheduled tasks.", os.getpid())
            self._announced_standby = False
            self._schedule_reload()
        return self._lock_connection is not None

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.is_leader:
            if not self._announced_standby:
                logger.warning("Beat lock held by another beat: this one (process %s) waits as standby.", os.getpid())
                self._announced_standby = True
            return min(self.max_interval, STANDBY_POLL_SECONDS)
        interval = super().tick(*args, **kwargs)
        if self._dirty:
            # Write the run just sent now, not minutes later: a standby taking over reads it and sends nothing twice.
            self._do_sync()
        return interval

    def reserve(self, entry: Any) -> Any:
        """Keep the sent entry's new last run time in the schedule, as celery's own Scheduler.reserve does.

        DatabaseScheduler.reserve leaves the old entry in the schedule. When the schedule changed while the heap was
        being filled (another beat starting writes its entries), the next tick refills the heap from that old entry,
        still due, and sends the task a second time."""
        new_entry = super().reserve(entry)
        self._schedule[new_entry.name] = new_entry
        return new_entry

    def close(self) -> None:
        super().close()
        self._lock_release()

    def _lock_acquire(self) -> bool:
        try:
            lock_connection = connection.get_new_connection(_direct_connection_params())
            lock_connection.autocommit = True
            with lock_connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
                (acquired,) = cursor.fetchone()
        except Exception:
            logger.exception("Beat lock: the database is unreachable; retrying.")
            return False
        if not acquired:
            lock_connection.close()
            return False
        self._lock_connection = lock_connection
        return True

    def _lock_alive(self) -> bool:
        try:
            with self._lock_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception:
            return False
        return True

    def _lock_release(self) -> None:
        if self._lock_connection is not None:
            # A session-level advisory lock ends with its session; a connection already gone took it along.
            with contextlib.suppress(Exception):
                self._lock_connection.close()
            self._lock_connection = None

    def _schedule_reload(self) -> None:
        """Forget what was read before leading: the next tick re-reads every entry and its last run time."""
        self._dirty.clear()
        self._initial_read = True
        self._heap = None
