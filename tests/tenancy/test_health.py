"""/healthz: 200 with each dependency's state; 503 only when the database is down, "degraded" without Redis."""

from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection
from django.test import Client

from loyalty.celery import app as celery_app


@pytest.fixture
def broker_configured() -> Iterator[None]:
    """Run the health check as in production, where tasks go through a broker."""
    broker_url = celery_app.conf.broker_url
    celery_app.conf.task_always_eager = False  # the autouse _tasks_in_process fixture restores it
    yield
    celery_app.conf.broker_url = broker_url


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_healthy_in_process_setup(host: str, settings) -> None:
    response = Client(HTTP_HOST=host).get("/healthz")
    assert response.status_code == 200
    cache = "ok" if settings.REDIS_URL else "local"
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "in-process", "cache": cache}}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_healthz_answers_on_a_tenant_host_too(acme) -> None:
    assert Client(HTTP_HOST=acme.host).get("/healthz").status_code == 200


@pytest.mark.django_db
def test_unreachable_broker_is_degraded_not_down(broker_configured) -> None:
    # A real connection attempt to a port where nothing listens; the portal still serves (tasks run in-process).
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"
    response = Client(HTTP_HOST="localhost").get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["broker"] == "down"


@pytest.mark.django_db
def test_reachable_broker_is_ok(broker_configured, settings) -> None:
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (set by .ci/run)")
    response = Client(HTTP_HOST="localhost").get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == "ok"


@pytest.mark.django_db
def test_unreachable_database_is_503(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = Client(HTTP_HOST="localhost").get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert response.json()["checks"]["database"] == "down"


def test_post_is_refused(db) -> None:
    assert Client(HTTP_HOST="localhost").post("/healthz").status_code == 405
