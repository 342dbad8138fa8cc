"""Idempotency-Key handling for API writes that move points or stock (Stripe's semantics).

The first request with a key runs and its response is stored; a replay gets that response back with
`Idempotent-Replayed: true`; the same key with another request (method, path, body or API key) is a 422; the
same key while the first request is still running is a 409. Server errors release the key so a retry can run.
"""

import hashlib
import json
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ApiError
from api.models import IdempotencyRecord
from api.permissions import request_api_key
from api.services import idempotency_claim, idempotency_release, idempotency_settle
from loyalty.ledger.services import IDEMPOTENCY_KEY_PATTERN

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Room for the prefix services add when they derive their own keys from this one (`api:<key prefix>:`).
MAX_LENGTH = 150
# What the schema states (the ledger's key pattern, shortened to MAX_LENGTH).
HEADER_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._:/@-]{{0,{MAX_LENGTH - 1}}}$"
Handler = Callable[..., Response]


def request_fingerprint(request: Request) -> str:
    """SHA-256 of method, path, the body's canonical JSON and the API key: what "the same request" means."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    api_key = request_api_key(request)
    parts = [request.method, request.path, hashlib.sha256(body.encode()).hexdigest(), str(api_key.pk)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def idempotency_header(request: Request, *, required: bool) -> str | None:
    key = request.headers.get(HEADER, "").strip()
    if not key and HEADER not in request.headers:
        if required:
            raise ApiError(
                _("This request moves points or stock: send an Idempotency-Key header."),
                status_code=400,
                code="idempotency_key_missing",
            )
        return None
    if len(key) > MAX_LENGTH or not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):  # a blank header included
        raise ApiError(
            _("An Idempotency-Key has 1 to %(max)s letters, digits and . _ : / @ - (starting with a letter or digit).")
            % {"max": MAX_LENGTH},
            status_code=400,
            code="idempotency_key_invalid",
        )
    return key


def derived_key(request: Request, key: str) -> str:
    """The key a service stores for this request: a replay reaches the same one even without the API record."""
    return f"api:{request_api_key(request).prefix}:{key}"


class _RolledBack(Exception):  # noqa: N818 - control flow, never seen outside `idempotent`
    """Leaves the work's transaction with an answer that must not commit (a server error returned, not raised)."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def idempotent(*, required: bool, atomic: bool = False) -> Callable[[Handler], Handler]:
    """Give a view's POST handler Idempotency-Key semantics. With `required`, the handler receives
    `idempotency_key` (derived from the header) to hand to the service it calls.

    Like Stripe, only requests that reached the service are stored (its success or its refusal); malformed
    input, a missing object or a server error release the key, so a corrected retry can run.

    With `atomic`, the handler runs in one transaction with the storing of its answer: the work and the stored
    response commit together (one commit for both), and a server error rolls both back before the key is released.
    A refusal by the service (a Django ValidationError) rolls the work back and is stored on its own. The
    services it calls must not commit on their own.
    """

    def decorator(handler: Handler) -> Handler:
        @wraps(handler)
        def wrapped(view, request: Request, *args, **kwargs) -> Response:
            key = idempotency_header(request, required=required)
            if required:
                kwargs["idempotency_key"] = derived_key(request, key)
            if key is None:
                return handler(view, request, *args, **kwargs)
            api_key = request_api_key(request)
            claim = idempotency_claim(key=key, api_key=api_key, fingerprint=request_fingerprint(request))
            if claim.outcome == "mismatch":
                raise ApiError(
                    _("This Idempotency-Key was already used for a different request."),
                    status_code=422,
                    code="idempotency_key_reused",
                )
            if claim.outcome == "in_flight":
                raise ApiError(
                    _("A request with this Idempotency-Key is still in progress; retry later."),
                    status_code=409,
                    code="idempotency_key_in_use",
                )
            if claim.outcome == "replay":
                record = claim.record
                return Response(record.response_body, status=record.response_status, headers={REPLAYED_HEADER: "true"})
            run = _run_atomic if atomic else _run
            try:
                return run(handler, view, request, *args, record=claim.record, **kwargs)
            except BaseException:
                idempotency_release(record=claim.record)
                raise

        return wrapped

    return decorator


def _stored_body(response: Response) -> object:
    """The answer's body exactly as it is sent (Decimals as strings, dates in ISO format)."""
    return json.loads(JSONRenderer().render(response.data)) if response.data is not None else None


def _run(handler: Handler, view, request: Request, *args, record: IdempotencyRecord, **kwargs) -> Response:
    """The handler, then its answer stored (or the key released), each in its own transaction."""
    stored = True
    try:
        response = handler(view, request, *args, **kwargs)
    except DjangoValidationError as error:  # the service refused: that outcome is the answer
        response = view.handle_exception(error)
    except Exception as error:  # noqa: BLE001 - answered as DRF would; server errors re-raise
        stored = False
        response = view.handle_exception(error)
    if not stored or response.status_code >= 500:
        idempotency_release(record=record)
        return response
    idempotency_settle(record=record, status=response.status_code, body=_stored_body(response))
    return response


def _run_atomic(handler: Handler, view, request: Request, *args, record: IdempotencyRecord, **kwargs) -> Response:
    """The handler and the storing of its answer in one transaction; see `idempotent`."""
    try:
        with transaction.atomic():
            response = handler(view, request, *args, **kwargs)
            if response.status_code >= 500:
                raise _RolledBack(response)
            idempotency_settle(record=record, status=response.status_code, body=_stored_body(response))
        return response
    except _RolledBack as rolled_back:
        response = rolled_back.response
    except DjangoValidationError as error:  # the service refused: its work is undone, the refusal is the answer
        response = view.handle_exception(error)
        idempotency_settle(record=record, status=response.status_code, body=_stored_body(response))
        return response
    except Exception as error:  # noqa: BLE001 - answered as DRF would; server errors re-raise
        response = view.handle_exception(error)
    idempotency_release(record=record)
    return response
