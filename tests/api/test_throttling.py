"""Rate limits per API key: 429 with Retry-After past the rate, counted per key in the shared cache."""

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
