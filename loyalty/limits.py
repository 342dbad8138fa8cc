"""Request size limits: a body over the cap is refused with 413 before a byte of it is read."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from loyalty.api_shape import error_body, is_api_path


def _declared_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0  # Django reads such a body as empty


class RequestSizeLimitMiddleware:
    """Refuse a body larger than `REQUEST_MAX_BYTES` (`API_MAX_BODY_BYTES` under /api/) with a 413.

    Django reads no more than the declared Content-Length, and a body without one as empty, so checking the
    declared length is enough. Below the cap, each upload is checked again against its own kind's cap.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        is_api = is_api_path(request.path_info)
        limit = settings.API_MAX_BODY_BYTES if is_api else settings.REQUEST_MAX_BYTES
        length = _declared_length(request)
        if length <= limit:
            return self.get_response(request)
        message = _("The request body is %(size)s bytes; the limit is %(limit)s bytes.") % {
            "size": length,
            "limit": limit,
        }
        if is_api:
            return JsonResponse(error_body(status_code=413, message=message, code="request_too_large"), status=413)
        return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
