"""Work split over a few threads of one process, each with its own database connection (a CSV import's chunks, an
evaluation's chunks run in place): while one thread waits on PostgreSQL (psycopg2 lets go of the interpreter),
another runs Python."""

import contextvars
import threading
from collections.abc import Callable


def streams_run(stream: Callable[[], None], *, count: int, interrupted: Callable[[BaseException], None]) -> None:
    """Run `stream` in `count` threads, each in a copy of this context (the tenant and so the row-level security
    setting, its scope, time zone and language), and wait for them all. Should this thread be interrupted while it
    waits (a time limit), `interrupted` is told first (so no thread takes new work), then the threads are waited
    for and the interruption raised. Each `stream` closes its own connection when it ends."""
    threads = [threading.Thread(target=contextvars.copy_context().run, args=(stream,)) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException as interruption:
        interrupted(interruption)
        for thread in threads:
            thread.join()
        raise
