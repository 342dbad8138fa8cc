"""The replica router's decisions (loyalty/replica.py), without a database: they run in every suite."""

import pytest
from django.db import DEFAULT_DB_ALIAS
from django.http import HttpResponse
from django.test import RequestFactory

from loyalty.replica import (
    PIN_COOKIE,
    REPLICA,
    PrimaryPinMiddleware,
    ReplicaRouter,
    is_pinned_to_primary,
    reads_from_replica,
    replica_reads,
)
from partners.models import Partner

router = ReplicaRouter()


@pytest.fixture
def with_replica(settings, monkeypatch) -> None:
    """As if a replica were configured (never connected to here: the router only names it)."""
    monkeypatch.setattr("loyalty.replica.replica_configured", lambda: True)
    monkeypatch.setattr("loyalty.replica.replica_reachable", lambda: True)
    settings.DATABASE_REPLICA_PIN_SECONDS = 10


def test_reads_go_to_the_primary_outside_a_replica_block(with_replica: None) -> None:
    assert router.db_for_read(Partner) == DEFAULT_DB_ALIAS


def test_reads_in_a_replica_block_go_to_the_replica_and_writes_to_the_primary(with_replica: None) -> None:
    with replica_reads():
        assert router.db_for_read(Partner) == REPLICA
        assert router.db_for_write(Partner) == DEFAULT_DB_ALIAS
    assert router.db_for_read(Partner) == DEFAULT_DB_ALIAS


def test_a_block_that_wrote_reads_its_own_writes_from_the_primary(with_replica: None) -> None:
    with replica_reads():
        router.db_for_write(Partner)
        assert router.db_for_read(Partner) == DEFAULT_DB_ALIAS
    with replica_reads():  # a new block starts on the replica again
        assert router.db_for_read(Partner) == REPLICA


def test_reads_stay_on_the_primary_without_a_replica(monkeypatch) -> None:
    monkeypatch.setattr("loyalty.replica.replica_configured", lambda: False)
    with replica_reads():
        assert router.db_for_read(Partner) == DEFAULT_DB_ALIAS


def test_reads_stay_on_the_primary_when_the_block_is_not_allowed(with_replica: None) -> None:
    with replica_reads(is_allowed=False):
        assert router.db_for_read(Partner) == DEFAULT_DB_ALIAS


def test_only_the_primary_is_migrated_and_relations_cross_aliases(with_replica: None) -> None:
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "partners")
    assert not router.allow_migrate(REPLICA, "partners")
    assert router.allow_relation(object(), object())


def _seen_by(request) -> str:
    seen = []

    @reads_from_replica
    def view(request):
        seen.append(router.db_for_read(Partner))
        return "response"

    view(request)
    return seen[0]


def test_a_marked_view_reads_from_the_replica_on_get_and_from_the_primary_otherwise(with_replica: None) -> None:
    factory = RequestFactory()
    assert _seen_by(factory.get("/program/")) == REPLICA
    assert _seen_by(factory.head("/program/")) == REPLICA
    assert _seen_by(factory.post("/program/")) == DEFAULT_DB_ALIAS


def test_an_unsafe_request_pins_its_browser_to_the_primary_for_the_window(with_replica: None) -> None:
    factory = RequestFactory()
    middleware = PrimaryPinMiddleware(lambda request: HttpResponse())
    assert PIN_COOKIE not in middleware(factory.get("/")).cookies
    cookie = middleware(factory.post("/")).cookies[PIN_COOKIE]
    assert cookie["max-age"] == 10
    assert cookie["httponly"]
    pinned = factory.get("/program/")
    pinned.COOKIES[PIN_COOKIE] = cookie.value
    assert is_pinned_to_primary(pinned)
    assert _seen_by(pinned) == DEFAULT_DB_ALIAS


@pytest.mark.parametrize("value", ["0", "not a number", "1e400x", ""])
def test_an_expired_or_garbled_pin_reads_from_the_replica(with_replica: None, value: str) -> None:
    request = RequestFactory().get("/program/")
    request.COOKIES[PIN_COOKIE] = value
    assert not is_pinned_to_primary(request)
    assert _seen_by(request) == REPLICA


def test_a_marked_view_reads_from_the_primary_while_the_replica_is_unreachable(with_replica: None, monkeypatch) -> None:
    monkeypatch.setattr("loyalty.replica.replica_reachable", lambda: False)
    assert _seen_by(RequestFactory().get("/program/")) == DEFAULT_DB_ALIAS
