"""Redis down: with the cache and the broker pointed at a port where nothing listens, the portal serves, a claim goes
through (its task runs in-process), API throttles fail open, and /healthz says "degraded". And a private Redis
stopped and started again: rate limits stop counting, then count again."""

import logging
import shutil
import socket
import subprocess
from collections.abc import Iterator
from decimal import Decimal

import pytest
import redis
from django.core import mail
from django.test import Client

from loyalty import cache as fail_open_cache
from loyalty.celery import app as celery_app
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.tasks import broker_outage
from tests.api.conftest import api_client, make_key
from tests.conftest import World
from tests.partners.helpers import balance_of, sales_rule
from tests.portal.test_claims import sale_post
from tests.support import wait_for
from tests.tiers.test_nightly import program
from tiers.models import PartnerScore

UNREACHABLE = "redis://127.0.0.1:1/0"  # a real connection attempt, refused


@pytest.fixture
def redis_down(settings) -> Iterator[None]:
    """The cache and the broker on a closed port, tasks published through the broker as in production."""
    settings.REDIS_URL = UNREACHABLE
    settings.CACHES = {
        "default": {
            "BACKEND": "loyalty.cache.FailOpenRedisCache",
            "LOCATION": UNREACHABLE,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    broker_url = celery_app.conf.broker_url
    celery_app.conf.broker_url = UNREACHABLE
    celery_app.conf.task_always_eager = False  # the autouse _tasks_in_process fixture restores it
    forget_broker_connections()
    fail_open_cache.outage.is_down = broker_outage.is_down = False
    yield
    celery_app.conf.broker_url = broker_url
    forget_broker_connections()
    fail_open_cache.outage.is_down = broker_outage.is_down = False


def forget_broker_connections() -> None:
    """The app keeps its pools of the broker it first connected to; the next publish makes them for broker_url."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def messages_of(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == logger]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/rewards/", "/statement/", "/claims/", "/claims/new/"])
def test_portal_pages_serve(redis_down: None, acme: World, client_for, path: str) -> None:
    assert client_for(acme, acme.partner_user).get(path).status_code == 200


@pytest.mark.django_db
def test_a_claim_is_approved_and_its_rescore_runs_in_process(
    redis_down: None, acme: World, client_for, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks
) -> None:
    program(acme)
    acme.tenant.claims_auto_approve = True
    acme.tenant.claim_review_threshold = Decimal("5000")
    acme.tenant.save(update_fields=["claims_auto_approve", "claim_review_threshold"])
    sales_rule(acme)
    with (
        caplog.at_level(logging.WARNING, logger="loyalty.tenancy.tasks"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client_for(acme, acme.partner_user).post("/claims/new/", sale_post(amount="800"), follow=True)
    assert "Your sale claim was approved at once; its points are in your balance." in response.content.decode()
    assert balance_of(acme) == 800
    with tenant_context(acme.tenant):
        assert PartnerScore.objects.filter(partner=acme.partner, source=PartnerScore.Source.INSTANT).count() == 1
    # One line when the broker goes, one per task that ran in-process: the re-score and the notification email.
    outage, *fallbacks = messages_of(caplog, "loyalty.tenancy.tasks")
    assert outage.startswith("Broker unreachable (Error 111 connecting to 127.0.0.1:1. Connection refused.)")
    assert outage.endswith(": tasks queued from requests run in-process until it is back.")
    assert sorted(message.split(":")[0] for message in fallbacks) == [
        "Running notifications.email_send in-process, the broker being unreachable",
        "Running tiers.rescore_partner in-process, the broker being unreachable",
    ]
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_api_rate_limit_fails_open_with_one_log_line(
    acme: World, redis_down: None, settings, caplog: pytest.LogCaptureFixture
) -> None:
    # `acme` first: its writes bump the tenancy cache's generation, which would meet (and log) the outage before
    # the requests do.
    settings.API_THROTTLE_RATE = "2/min"  # with Redis up, the third request is a 429 (tests/api/test_throttling.py)
    client = api_client(acme, make_key(acme)[1])
    with caplog.at_level(logging.WARNING, logger="loyalty.cache"):
        statuses = [client.get("/api/v1/partners/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 200]
    assert [message.split(" (")[0] for message in messages_of(caplog, "loyalty.cache")] == ["Redis cache unreachable"]


@pytest.mark.django_db
def test_healthz_says_degraded_but_serving(redis_down: None) -> None:
    response = Client(HTTP_HOST="localhost").get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "checks": {"database": "ok", "broker": "down", "cache": "down"}}


class RedisServer:
    """A private `redis-server` on a free loopback port, which the test can stop and start again."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        assert wait_for(lambda: self._answers(client), seconds=10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return False


@pytest.fixture
def private_redis(settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server")
    server = RedisServer()
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "loyalty.cache.FailOpenRedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    monkeypatch.setattr(fail_open_cache.outage, "retry_seconds", 0)  # retry Redis at the next request, not 5 s later
    fail_open_cache.outage.is_down = False
    yield server
    server.stop()
    fail_open_cache.outage.is_down = False


@pytest.mark.django_db
def test_rate_limits_stop_counting_while_redis_is_down_and_count_again_when_it_is_back(
    private_redis: RedisServer, acme: World, settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.API_THROTTLE_RATE = "2/min"
    client = api_client(acme, make_key(acme)[1])

    def statuses(count: int) -> list[int]:
        return [client.get("/api/v1/partners/").status_code for _ in range(count)]

    with caplog.at_level(logging.WARNING, logger="loyalty.cache"):
        assert statuses(3) == [200, 200, 429]
        private_redis.stop()
        assert statuses(3) == [200, 200, 200]
        private_redis.start()  # empty: the counts were lost with it
        assert statuses(3) == [200, 200, 429]
    assert [message.split(" (")[0].split(":")[0] for message in messages_of(caplog, "loyalty.cache")] == [
        "Redis cache unreachable",
        "Redis cache reachable again",
    ]
