"""The OpenAPI schema and its docs page, and Schemathesis over the whole schema in process (WSGI): no server
error, every response as documented, bad input refused."""

import json
import re
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from api.idempotency import HEADER_PATTERN
from loyalty.wsgi import application
from tests.api.conftest import Objects, api_client
from tests.conftest import World


def test_the_schema_is_served_to_anyone_on_a_tenant_host(acme: World) -> None:
    response = api_client(acme).get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Tierline API"
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer tl_<prefix>_<secret>`: a key of this program, with the scopes each "
        "operation names.",
    }
    adjust = schema["paths"]["/api/v1/ledger/adjustments/"]["post"]
    assert {"201", "400", "401", "403", "404", "409", "422", "429"} <= set(adjust["responses"])
    assert adjust["responses"]["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    header = next(parameter for parameter in adjust["parameters"] if parameter["name"] == "Idempotency-Key")
    assert (header["in"], header["required"]) == ("header", True)


def test_the_docs_page_uses_local_files_only(acme: World) -> None:
    response = api_client(acme).get("/api/v1/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert "<script>" not in page  # the initialiser is a separate file, for a future CSP
    initialiser = api_client(acme).get("/api/v1/docs/?script=")
    assert initialiser.status_code == 200
    assert "SwaggerUIBundle" in initialiser.content.decode()


IDEMPOTENCY_KEY = re.compile(HEADER_PATTERN)


def _served_schema() -> dict:
    """The schema /api/v1/schema/ serves (it is the same on every tenant host), generated without a request.

    Loaded at import so Schemathesis parametrizes plainly: its lazy, fixture-loaded schemas break on pytest 9.
    """
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(raw))


schema = schemathesis.openapi.from_dict(_served_schema())
schema.app = application
# NUL characters are refused in any text (PostgreSQL cannot store them); the schema cannot say so.
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True, allow_x00=False
)


def test_the_tested_schema_is_the_served_schema(acme: World) -> None:
    assert api_client(acme).get("/api/v1/schema/?format=json").json() == _served_schema()


@pytest.fixture
def _wsgi_requests_keep_the_test_connection() -> Iterator[None]:
    """Like Django's test client: a request finishing must not close the test's database connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("_wsgi_requests_keep_the_test_connection")
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_keeps_its_schema(case, acme: World, acme_objects: Objects, acme_key: str) -> None:
    excluded = []
    if case.method in {"POST", "PUT"}:
        # Writes name stored things (partners, rewards, partner types) and obey rules no schema can state (a balance
        # that covers a debit, a redemption that may still move), so schema-valid bodies may be refused with 400.
        # Reads must accept every schema-valid query.
        excluded.append(positive_data_acceptance)
        if case.headers and IDEMPOTENCY_KEY.fullmatch(case.headers.get("Idempotency-Key", "")):
            # A fresh key per request: reusing one with another body is a 422 by design (test_idempotency.py).
            case.headers["Idempotency-Key"] = uuid.uuid4().hex
    if (case.method, case.operation.path) == ("POST", "/api/v1/activities/"):
        # Rows are judged one by one (a result per row, partial success): a bad row is an error in a 200, not a
        # refused request. The envelope is still refused whole (tests/api/test_endpoints.py).
        excluded.append(negative_data_rejection)
    case.call_and_validate(headers={"Host": acme.host, "Authorization": f"Bearer {acme_key}"}, excluded_checks=excluded)
