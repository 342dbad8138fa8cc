"""Webhook test helpers: a real HTTP receiver on loopback, endpoints, and the receiver's signature check."""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from webhooks.models import SUBSCRIBABLE_EVENTS, WebhookDelivery, WebhookEndpoint

ALL_EVENTS = [event for event, _label in SUBSCRIBABLE_EVENTS]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers with the queued statuses (then 200)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: list[int] = []
        self.delay_seconds = 0.0  # a slow receiver keeps a send in flight while others race for it
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(receiver.delay_seconds)
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver says no")

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/tierline"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture(autouse=True)
def _loopback_receivers_allowed(settings) -> None:
    """The receivers run on loopback over http: allowed here, as in the demo; the SSRF tests turn it off."""
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOW_PRIVATE = True


def endpoint_for(world: World, url: str, events: list[str] | None = None, **fields: object) -> WebhookEndpoint:
    with tenant_context(world.tenant):
        return WebhookEndpoint.objects.create(url=url, events=ALL_EVENTS if events is None else events, **fields)


@pytest.fixture
def endpoint(acme: World, receiver: Receiver) -> WebhookEndpoint:
    """An active acme endpoint on the receiver, subscribed to every event."""
    return endpoint_for(acme, receiver.url, description="CRM")


def signature_verifies(secret: str, header: str, body: bytes, tolerance_seconds: int = 300) -> bool:
    """What a receiver does (the snippet in docs/webhooks.md), written independently of the signing code."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def deliveries(world: World) -> list[WebhookDelivery]:
    with tenant_context(world.tenant):
        return list(WebhookDelivery.objects.order_by("pk"))
