"""The access matrix, generated from the API's URLconf: every endpoint and method, whoever calls it.

A new endpoint joins every check below by being routed; an endpoint without scopes for a method fails the first.
"""

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.urls import URLPattern
from django.utils import timezone

from api import urls as api_urls
from api.models import ApiKey
from api.services import api_key_revoke
from deals.models import DealRegistration
from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ExchangeRate, Partner
from rewards.models import Redemption, Reward
from tests.api.conftest import ALL_SCOPES, Objects, api_client, make_key
from tests.conftest import World
from tests.factories import MembershipFactory
from tests.rewards.factories import rewards_snapshot
from tiers.models import TierModel

# Open to anyone on a tenant host: the schema, its docs, and the JSON 404 for unknown paths.
PUBLIC = {"schema/", "docs/", "^(?P<path>.*)$"}
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Endpoint:
    route: str
    view: type
    method: str

    def __str__(self) -> str:
        return f"{self.method.upper()} /api/v1/{self.route}"

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.view.required_scopes.get(self.method.upper(), ()))

    @property
    def has_object(self) -> bool:
        return "<" in self.route or "(?P<" in self.route

    def url(self, objects: Objects) -> str:
        """The endpoint's URL aimed at `objects`' tenant's object of the view's model."""
        target = {
            Partner: objects.world.partner,
            Activity: objects.activity,
            LedgerEntry: objects.entry,
            Reward: objects.reward,
            Redemption: objects.redemption,
            TierModel: objects.tier_model,
            DealRegistration: objects.deal,
            ExchangeRate: objects.rate,
        }
        path = self.route.lstrip("^").rstrip("$")
        if self.has_object:
            obj = target[self.view.model]
            path = path.replace("<int:pk>", str(obj.pk))
            if "(?P<external_id>" in path:
                path = re.sub(r"\(\?P<external_id>[^)]*\)", obj.external_id, path)
        assert "<" not in path, f"{self}: fill its path parameter in Endpoint.url"
        return f"/api/v1/{path}"


def _endpoints() -> list[Endpoint]:
    endpoints = []
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        if route in PUBLIC:
            continue
        view = pattern.callback.view_class
        endpoints += [Endpoint(route, view, method) for method in METHODS if hasattr(view, method)]
    return endpoints


ENDPOINTS = _endpoints()


def call(client, endpoint: Endpoint, url: str, body: dict | None = None, **headers):
    return getattr(client, endpoint.method)(url, body or {}, content_type="application/json", **headers)


def body_for(endpoint: Endpoint, objects: Objects) -> dict:
    """A well-formed body naming `objects`' own partner and reward, so refusals come from access, not form."""
    world = objects.world
    return {
        "partner": world.partner.external_id,
        "reward": objects.reward.sku,
        "points": 10,
        "reason": "Matrix",
        "decision": "approve",
        "name": "Matrix",
        "partner_type": world.partner_type.code,
        # A deal registration, and its win or loss
        "external_id": "matrix-deal",
        "customer": {"name": "Matrix Customer"},
        "amount": "10.00",
        "currency": world.tenant.currency,
        "expected_close": (timezone.localdate() + timedelta(days=30)).isoformat(),
        "invoice_number": "M-1",
        "invoice_date": timezone.localdate().isoformat(),
        "rates": [{"currency": "GBP", "day": timezone.localdate().isoformat(), "rate": "1.25"}],
        "activities": [
            {
                "partner": world.partner.external_id,
                "external_id": "matrix-1",
                "kind": "sale",
                "occurred_at": timezone.now().isoformat(),
                "amount": "10.00",
                "currency": world.tenant.currency,
            }
        ],
    }


def everything(world: World) -> dict:
    with tenant_context(world.tenant):
        return {
            **rewards_snapshot(),
            "partners": list(Partner.objects.order_by("pk").values()),
            "activities": list(Activity.objects.order_by("pk").values_list("pk", "status")),
            "deals": list(DealRegistration.objects.order_by("pk").values_list("pk", "status", "updated_at")),
            "rates": list(ExchangeRate.objects.order_by("pk").values_list("pk", "currency", "day", "rate")),
        }


def test_the_matrix_sees_every_endpoint() -> None:
    assert {str(endpoint) for endpoint in ENDPOINTS} >= {
        "GET /api/v1/partners/",
        "PUT /api/v1/^partners/(?P<external_id>[^/]+)/$",
        "POST /api/v1/activities/",
        "POST /api/v1/ledger/adjustments/",
        "POST /api/v1/redemptions/<int:pk>/cancel/",
        "GET /api/v1/tier-models/<int:pk>/",
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_every_endpoint_names_its_scopes(endpoint: Endpoint) -> None:
    assert endpoint.scopes, f"{endpoint} needs required_scopes for {endpoint.method.upper()}"
    assert set(endpoint.scopes) <= set(ALL_SCOPES)


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.has_object], ids=str)
def test_another_tenants_key_on_its_own_host_gets_404_for_our_objects(
    endpoint: Endpoint, acme_objects: Objects, globex_objects: Objects
) -> None:
    globex = globex_objects.world
    before = everything(acme_objects.world)
    client = api_client(globex, make_key(globex)[1])
    url = endpoint.url(acme_objects)
    response = call(client, endpoint, url, body_for(endpoint, globex_objects), HTTP_IDEMPOTENCY_KEY="matrix")
    if endpoint.view.__name__ == "PartnerDetail" and endpoint.method == "put":
        # An upsert names a CRM id: globex gets its own partner with that id; acme's is untouched.
        assert response.status_code == 201
        assert response.json()["id"] != acme_objects.world.partner.pk
    else:
        assert response.status_code == 404, response.content
        assert response.json()["error"]["type"] == "not_found"
    assert everything(acme_objects.world) == before


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if not e.has_object], ids=str)
def test_another_tenants_key_lists_and_writes_only_its_own(
    endpoint: Endpoint, acme_objects: Objects, globex_objects: Objects
) -> None:
    globex = globex_objects.world
    before = everything(acme_objects.world)
    client = api_client(globex, make_key(globex)[1])
    url = endpoint.url(acme_objects)
    if endpoint.method == "get":
        response = client.get(url)
        assert response.status_code == 200
        listed = {row["id"] for row in response.json()["results"]}
        acme_ids = set(
            endpoint.view.model.all_tenants.filter(tenant=acme_objects.world.tenant).values_list("pk", flat=True)
        )
        assert listed
        assert not listed & acme_ids
    elif getattr(endpoint.view, "model", None) is ExchangeRate:
        # Rates name no partner: globex's key enters globex's own rate; acme's are untouched (checked below).
        response = call(client, endpoint, url, body_for(endpoint, acme_objects), HTTP_IDEMPOTENCY_KEY="matrix")
        assert response.status_code == 200, response.content
        with tenant_context(globex.tenant):
            assert ExchangeRate.objects.filter(pk=response.json()["results"][0]["rate"]["id"]).exists()
    else:
        # Aimed at acme's partner and reward by their external ids: not found in globex.
        response = call(client, endpoint, url, body_for(endpoint, acme_objects), HTTP_IDEMPOTENCY_KEY="matrix")
        # Refused as an unknown partner: a 400 for the whole request, or the row's error in a bulk answer.
        assert response.status_code in {200, 400}
        body = response.json()
        errors = body["error"]["fields"] if response.status_code == 400 else body["results"][0]["errors"]
        assert set(errors) <= {"partner", "reward"}
        assert acme_objects.world.partner.external_id in errors["partner"][0]
    assert everything(acme_objects.world) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_another_tenants_key_on_our_host_is_401(endpoint: Endpoint, acme_objects: Objects, globex: World) -> None:
    before = everything(acme_objects.world)
    client = api_client(acme_objects.world, make_key(globex)[1])
    response = call(client, endpoint, endpoint.url(acme_objects), body_for(endpoint, acme_objects))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid API key."
    assert everything(acme_objects.world) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_a_key_missing_the_scope_is_403_naming_it(endpoint: Endpoint, acme_objects: Objects) -> None:
    world = acme_objects.world
    before = everything(world)
    token = make_key(world, scopes=[scope for scope in ALL_SCOPES if scope not in endpoint.scopes])[1]
    response = call(api_client(world, token), endpoint, endpoint.url(acme_objects), body_for(endpoint, acme_objects))
    assert response.status_code == 403
    assert response.json()["error"] == {
        "type": "permission_error",
        "code": "permission_denied",
        "message": f"This API key lacks the scope {', '.join(endpoint.scopes)} needed to "
        f"{endpoint.method.upper()} here.",
    }
    assert everything(world) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_revoked_and_expired_keys_are_401(endpoint: Endpoint, state: str, acme_objects: Objects) -> None:
    world = acme_objects.world
    api_key, token = make_key(world)
    if state == "revoked":
        with tenant_context(world.tenant):
            api_key_revoke(api_key=api_key)
    else:
        ApiKey.all_tenants.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    before = everything(world)
    response = call(api_client(world, token), endpoint, endpoint.url(acme_objects), body_for(endpoint, acme_objects))
    assert response.status_code == 401
    assert everything(world) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_anonymous_callers_are_401(endpoint: Endpoint, acme_objects: Objects) -> None:
    response = call(api_client(acme_objects.world), endpoint, endpoint.url(acme_objects))
    assert response.status_code == 401


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_portal_sessions_read_only_their_own_partner(endpoint: Endpoint, acme_objects: Objects, client_for) -> None:
    world = acme_objects.world
    before = everything(world)
    mine = client_for(world, world.partner_user)
    other = client_for(
        world, MembershipFactory(tenant=world.tenant, role="partner_user", partner=world.unmanaged_partner).user
    )
    url = endpoint.url(acme_objects)
    readable = endpoint.method == "get" and endpoint.view.session_readable
    assert call(mine, endpoint, url).status_code == (200 if readable else 403)
    expected_for_other = 403
    if readable:
        partner_scoped = endpoint.view.partner_field is not None and endpoint.has_object
        expected_for_other = 404 if partner_scoped else 200
    assert call(other, endpoint, url).status_code == expected_for_other
    assert everything(world) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_outsiders_and_staff_sessions_are_403(endpoint: Endpoint, acme_objects: Objects, client_for, outsider) -> None:
    world = acme_objects.world
    url = endpoint.url(acme_objects)
    for user in (outsider, world.manager, world.account_manager):
        assert call(client_for(world, user), endpoint, url).status_code == 403
