"""Rate limits per API key: 429 with Retry-After past the rate, counted per key in the shared cache."""

import os
import subprocess
import sys

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from partners.models import Partner
from tests.api.conftest import api_client, make_key
from tests.conftest import World


def test_past_the_rate_a_key_gets_429_with_retry_after(acme: World, settings) -> None:
    settings.API_THROTTLE_RATE = "3/min"
    client = api_client(acme, make_key(acme)[1])
    assert [client.get("/api/v1/rewards/").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/v1/rewards/")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.json()["error"]["code"] == "throttled"


def test_each_key_has_its_own_budget(acme: World, settings) -> None:
    settings.API_THROTTLE_RATE = "2/min"
    first, second = api_client(acme, make_key(acme)[1]), api_client(acme, make_key(acme)[1])
    assert [first.get("/api/v1/rewards/").status_code for _ in range(3)] == [200, 200, 429]
    assert second.get("/api/v1/rewards/").status_code == 200


def test_a_throttled_write_writes_nothing(acme: World, settings) -> None:
    settings.API_THROTTLE_RATE = "1/min"
    client = api_client(acme, make_key(acme)[1])
    client.get("/api/v1/rewards/")
    response = client.put(
        "/api/v1/partners/NEW-1/", {"name": "N", "partner_type": "reseller"}, content_type="application/json"
    )
    assert response.status_code == 429
    assert not Partner.all_tenants.filter(external_id="NEW-1").exists()


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the shared count needs Redis (REDIS_URL)")
def test_counts_live_in_redis_where_every_web_process_sees_them(acme: World, settings) -> None:
    assert isinstance(caches["default"], RedisCache)
    settings.API_THROTTLE_RATE = "2/min"
    api_key, token = make_key(acme)
    client = api_client(acme, token)
    assert [client.get("/api/v1/rewards/").status_code for _ in range(2)] == [200, 200]
    # Another interpreter, as another gunicorn worker would be, reads the same two requests from Redis.
    seen = subprocess.run(  # noqa: S603 - our own interpreter and code
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.core.cache import cache; "
            f"print(len(cache.get('throttle:api:key:{api_key.pk}')))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "loyalty.settings"},
    )
    assert seen.stdout.strip() == "2"
    refused = client.get("/api/v1/rewards/")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert api_client(acme, make_key(acme)[1]).get("/api/v1/rewards/").status_code == 200
