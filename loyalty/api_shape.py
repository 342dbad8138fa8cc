"""The API's request and error shapes that layers below the API must know: middleware answers API requests too.

`error_body` is the one error body for every 4xx: `{"error": {"type", "code", "message", "fields"?}}`.
"""

from typing import Any

API_KEY_KEYWORDS = ("bearer", "api-key")  # Authorization schemes that carry an API key, lower-case

ERROR_TYPES = {
    400: "validation_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "idempotency_error",
    429: "rate_limit_error",
}


def error_body(*, status_code: int, message: str, code: str, fields: dict[str, list[str]] | None = None) -> dict:
    error: dict[str, Any] = {"type": ERROR_TYPES.get(status_code, "api_error"), "code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}
