"""The API's request and error shapes that layers below the API must know: middleware answers API requests too.

`error_body` is the one error body for every 4xx: `{"error": {"type", "code", "message", "fields"?}}`. Django's
error handlers (`handler400/403/404/500` in both URLconfs) answer any path under /api/ in that shape too, whatever
did not match it (an unknown version, an encoded newline that no URL pattern's `.` matches, an unknown host).
"""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults

API_PREFIX = "/api/"
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
    500: "api_error",
}


def error_body(*, status_code: int, message: str, code: str, fields: dict[str, list[str]] | None = None) -> dict:
    error: dict[str, Any] = {"type": ERROR_TYPES.get(status_code, "api_error"), "code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX)


def api_not_found() -> JsonResponse:
    message = _("No such endpoint. See /api/v1/docs/.")
    return JsonResponse(error_body(status_code=404, message=message, code="not_found"), status=404)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path_info):
        message = _("The request could not be understood.")
        return JsonResponse(error_body(status_code=400, message=message, code="bad_request"), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path_info):
        message = _("You do not have permission to perform this action.")
        return JsonResponse(error_body(status_code=403, message=message, code="permission_denied"), status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path_info):
        return api_not_found()
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path_info):
        message = _("Something went wrong on our side; it has been logged. Retry later.")
        return JsonResponse(error_body(status_code=500, message=message, code="server_error"), status=500)
    return defaults.server_error(request)
