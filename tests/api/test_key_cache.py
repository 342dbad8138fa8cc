"""API keys read through the request cache (family "api_keys"): a key in use costs no query, and every write to a
key (revoked, scopes cut, deleted, its author deleted) counts at the next request.

Transactional tests: inside the test's own transaction every write's bump would stay pending (and the cache unused).
"""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api import authentication
from api.models import ApiKey
from api.services import api_key_revoke, api_key_touch
from loyalty.tenancy import caching
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Membership, Role
from tests.api.conftest import api_client, make_key
from tests.conftest import World

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the request cache is Redis's: set REDIS_URL"),
]

INVALID = {"error": {"type": "authentication_error", "code": "authentication_failed", "message": "Invalid API key."}}


def _key_reads(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if 'FROM "api_apikey"' in query["sql"]]


def test_a_key_in_use_is_read_from_the_request_cache(acme: World) -> None:
    _api_key, token = make_key(acme)
    client = api_client(acme, token)
    assert client.get("/api/v1/rewards/").status_code == 200  # read, then kept with the last_used_at it wrote
    assert client.get("/api/v1/rewards/").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/v1/rewards/").status_code == 200
    assert _key_reads(captured) == []


def test_a_key_revoked_while_cached_is_refused_at_once(acme: World) -> None:
    api_key, token = make_key(acme)
    client = api_client(acme, token)
    for _cached in range(3):  # the first reads the key and writes last_used_at; then from the cache
        assert client.get("/api/v1/rewards/").status_code == 200
    with tenant_context(acme.tenant):
        api_key_revoke(api_key=api_key)
    response = client.get("/api/v1/rewards/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API key was revoked."


def test_a_key_deleted_or_its_scopes_cut_while_cached_counts_at_once(acme: World) -> None:
    api_key, token = make_key(acme)
    client = api_client(acme, token)
    for _cached in range(3):
        assert client.get("/api/v1/rewards/").status_code == 200
    ApiKey.all_tenants.filter(pk=api_key.pk).update(scopes=["partners:read"])
    assert client.get("/api/v1/rewards/").status_code == 403
    ApiKey.all_tenants.filter(pk=api_key.pk).delete()
    assert client.get("/api/v1/partners/").json() == INVALID


def test_a_cached_key_whose_author_is_deleted_acts_as_nobody(acme: World, outsider) -> None:
    with tenant_context(acme.tenant):
        Membership.objects.create(user=outsider, role=Role.PROGRAM_MANAGER)
    api_key, token = make_key(acme, created_by=outsider)
    client = api_client(acme, token)
    for _cached in range(3):
        assert client.get("/api/v1/rewards/").status_code == 200
    outsider.delete()  # the key's author becomes NULL (a cascade's UPDATE, not the key's own write)
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/v1/rewards/").status_code == 200
    assert _key_reads(captured)  # read again from the database
    assert ApiKey.all_tenants.get(pk=api_key.pk).created_by_id is None


def test_a_cached_key_does_not_open_another_tenants_host(acme: World, globex: World) -> None:
    _api_key, token = make_key(acme)
    for _cached in range(3):
        assert api_client(acme, token).get("/api/v1/rewards/").status_code == 200
    on_globex = api_client(globex, token).get("/api/v1/rewards/")
    assert on_globex.status_code == 401
    assert on_globex.json() == INVALID


def test_a_touch_keeps_the_keys_generation_and_a_revocation_replaces_it(acme: World) -> None:
    """Many keys in use must not empty each other's entries: `last_used_at` is not what authentication reads."""
    api_key, _token = make_key(acme)
    before = caching.generation(family=ApiKey.cache_family)
    with tenant_context(acme.tenant):
        assert api_key_touch(api_key=api_key, now=timezone.now())
        assert ApiKey.objects.get(pk=api_key.pk).last_used_at == api_key.last_used_at
        api_key.save(update_fields=["last_used_at"])
        assert caching.generation(family=ApiKey.cache_family) == before
        api_key_revoke(api_key=api_key)
    assert caching.generation(family=ApiKey.cache_family) not in {None, before}


def test_a_key_touched_a_minute_later_stays_cached_with_its_new_time(
    acme: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_key, token = make_key(acme)
    client = api_client(acme, token)
    assert client.get("/api/v1/rewards/").status_code == 200  # read, touched, cached
    later = timezone.now() + timedelta(minutes=2)
    monkeypatch.setattr(authentication, "timezone", SimpleNamespace(now=lambda: later))
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/v1/rewards/").status_code == 200
    assert len(_key_writes(captured)) == 1
    assert _key_reads(captured) == []
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/v1/rewards/").status_code == 200
    assert (_key_writes(captured), _key_reads(captured)) == ([], [])  # the touch's time is in the cached key
    assert ApiKey.all_tenants.get(pk=api_key.pk).last_used_at == later


def _key_writes(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if 'UPDATE "api_apikey"' in query["sql"]]
