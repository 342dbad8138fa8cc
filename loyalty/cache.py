"""The Redis cache, failing open: while Redis is unreachable, reads miss and writes are dropped instead of raising.

What the cache holds is disposable (API throttle counts, allauth's login rate limits): losing it for the length of
an outage means rate limits stop counting, which is the usual trade for keeping the portal and API up. Sessions
live in the database. One warning is logged when Redis goes away and one line when it is back; in between, each
process retries Redis at most every few seconds (loyalty/outages.py).
"""

import logging
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from loyalty.outages import Outage

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)

outage = Outage(
    service="Redis cache",
    while_down="failing open, so throttles and rate limits are not counted until it is back",
    when_back="throttles and rate limits count again",
    logger=logging.getLogger(__name__),
)


def _failing_open(name: str, fallback: Callable[..., Any]) -> Callable[..., Any]:
    """RedisCache's method `name`, answering `fallback(*arguments)` instead of raising while Redis is down."""
    parent = getattr(RedisCache, name)

    def method(self: RedisCache, *args: Any, **kwargs: Any) -> Any:
        if outage.skip():
            return fallback(*args, **kwargs)
        try:
            result = parent(self, *args, **kwargs)
        except UNREACHABLE as error:
            outage.began(error)
            return fallback(*args, **kwargs)
        outage.ended()
        return result

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"RedisCache.{name}, or {fallback.__doc__} while Redis is unreachable."
    return method


def _missing(key: str, default: Any = None, version: int | None = None) -> Any:
    """the default (a miss)"""
    return default


def _nothing_stored(*args: Any, **kwargs: Any) -> None:
    """nothing (dropped)"""


def _allowed(*args: Any, **kwargs: Any) -> bool:
    """True (as if stored: an add() used as a limit lets the request through)"""
    return True


def _not_found(*args: Any, **kwargs: Any) -> bool:
    """False"""
    return False


def _none_found(*args: Any, **kwargs: Any) -> dict:
    """{} (all miss)"""
    return {}


def _all_failed(data: dict, *args: Any, **kwargs: Any) -> list:
    """every key (none stored)"""
    return list(data)


def _first_count(key: str, delta: int = 1, version: int | None = None) -> int:
    """delta (a counter starting again)"""
    return delta


class OneClientPerPool(RedisCacheClient):
    """Django's Redis client factory, building one `redis.Redis` per connection pool instead of one per call.

    Django's `get_client` builds a new client object for every cache operation (~0.1 ms of Python each, a few per
    page). A client holds no connection of its own (it borrows one from the pool for each command) and is safe to
    share between threads, so one per pool is enough.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: str | None = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class FailOpenRedisCache(RedisCache):
    """Django's RedisCache whose reads miss and writes are dropped while Redis is unreachable."""

    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = OneClientPerPool

    get = _failing_open("get", _missing)
    get_many = _failing_open("get_many", _none_found)
    has_key = _failing_open("has_key", _not_found)
    set = _failing_open("set", _nothing_stored)
    set_many = _failing_open("set_many", _all_failed)
    add = _failing_open("add", _allowed)
    touch = _failing_open("touch", _not_found)
    incr = _failing_open("incr", _first_count)
    delete = _failing_open("delete", _not_found)
    delete_many = _failing_open("delete_many", _nothing_stored)
