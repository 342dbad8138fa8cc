"""One error body for every 4xx: `{"error": {"type", "code", "message", "fields"?}}`, Stripe's shape in DRF idiom."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from loyalty.api_shape import error_body
from loyalty.ledger.services import IdempotencyConflictError


class ApiError(exceptions.APIException):
    """An error with a machine-readable `code`, raised by the API's own views."""

    def __init__(self, message: str, *, status_code: int, code: str) -> None:
        self.status_code = status_code
        super().__init__(detail=message, code=code)


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [message for value in detail.values() for message in _flatten(value)]
    if isinstance(detail, list):
        return [message for value in detail for message in _flatten(value)]
    return [str(detail)]


def _fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Field errors keyed by dotted path (`activities.3.amount`), each a list of messages."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for name, value in detail.items():
            fields.update(_fields(value, f"{prefix}{name}."))
    elif isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        for index, value in enumerate(detail):
            fields.update(_fields(value, f"{prefix}{index}."))
    elif detail:
        fields[prefix.rstrip(".") or "non_field_errors"] = _flatten(detail)
    return fields


def from_django_validation_error(error: DjangoValidationError) -> exceptions.APIException:
    """A service's refusal, as the API reports it: field errors stay keyed by field."""
    if isinstance(error, IdempotencyConflictError):
        return ApiError(" ".join(error.messages), status_code=422, code="idempotency_key_reused")
    if hasattr(error, "error_dict"):
        fields = error.message_dict
        return exceptions.ValidationError(
            {("non_field_errors" if name == "__all__" else name): messages for name, messages in fields.items()}
        )
    return exceptions.ValidationError({"non_field_errors": error.messages})


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = from_django_validation_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a server error: Django's 500 handling and logging take over
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if isinstance(exc, exceptions.ValidationError):
        fields = _fields(detail)
        non_field = fields.get("non_field_errors")
        message = " ".join(non_field) if non_field and len(fields) == 1 else "Some fields are invalid."
        response.data = error_body(status_code=response.status_code, message=message, code="invalid", fields=fields)
    else:
        response.data = error_body(
            status_code=response.status_code,
            message=" ".join(_flatten(detail)),
            code=code if isinstance(code, str) else "error",
        )
    return response
