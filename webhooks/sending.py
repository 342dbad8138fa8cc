"""One HTTP attempt at a webhook: the signed POST, through connections that refuse non-public peers."""

import hashlib
import hmac
import socket
import time
from dataclasses import dataclass

import requests
import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from webhooks.addresses import address_is_public, validate_webhook_url

USER_AGENT = "Tierline-Webhooks/1"
# Enough of a failing receiver's answer to say what went wrong in the delivery log.
ERROR_BODY_CHARS = 300


class BlockedAddressError(Exception):
    """The connection reached a non-public address (for example a host re-resolved to loopback)."""


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, Stripe's scheme."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _PublicPeerMixin:
    """Checks the address actually connected to, so DNS answering differently at send time cannot bypass the guard."""

    def _new_conn(self) -> socket.socket:  # urllib3's hook that opens the socket
        sock = super()._new_conn()
        if not settings.WEBHOOKS_ALLOW_PRIVATE:
            peer = sock.getpeername()[0]
            if not address_is_public(peer):
                sock.close()
                raise BlockedAddressError(f"Refused to send to {peer}: not a public address.")
        return sock


class _PublicHTTPConnection(_PublicPeerMixin, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicPeerMixin, HTTPSConnection):
    pass


class _PublicHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PublicHTTPConnectionPool,
            "https": _PublicHTTPSConnectionPool,
        }


@dataclass(frozen=True)
class SendOutcome:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_post(*, url: str, secret: str, event: str, event_id: str, body: bytes) -> SendOutcome:
    """POST a signed body once (no redirects, a short timeout); every failure comes back as an outcome."""
    started = time.monotonic()

    def outcome(status_code: int | None, error: str) -> SendOutcome:
        return SendOutcome(status_code, error, int((time.monotonic() - started) * 1000))

    try:
        validate_webhook_url(url)
    except ValidationError as error:
        return outcome(None, " ".join(error.messages))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Tierline-Event": event,
        "Tierline-Delivery": event_id,
        "Tierline-Signature": signature_header(secret=secret, timestamp=int(time.time()), body=body),
    }
    with requests.Session() as session:
        session.trust_env = False  # no proxies or .netrc credentials from the worker's environment
        session.mount("http://", _PublicAdapter())
        session.mount("https://", _PublicAdapter())
        try:
            response = session.post(
                url,
                data=body,
                headers=headers,
                timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
                allow_redirects=False,
                stream=True,
            )
        except BlockedAddressError as error:
            return outcome(None, str(error))
        except (requests.RequestException, urllib3.exceptions.HTTPError, ValueError) as error:
            # Whatever the receiver or the network did is an outcome to log and retry, never a crash: in-process
            # (the demo) the send runs in the request that made the change.
            return outcome(None, f"{type(error).__name__}: {error}"[:1000])
        with response:
            if 200 <= response.status_code < 300:
                return outcome(response.status_code, "")
            if response.is_redirect:
                return outcome(response.status_code, "Redirects are not followed; configure the final URL.")
            try:
                text = response.raw.read(ERROR_BODY_CHARS, decode_content=True).decode("utf-8", "replace")
            except (OSError, urllib3.exceptions.HTTPError):
                text = ""
            return outcome(response.status_code, f"HTTP {response.status_code}: {text}".strip())
