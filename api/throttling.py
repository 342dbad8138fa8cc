"""Rate limits per API key (and per signed-in member for portal sessions), counted in the shared cache."""

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView
from rest_framework.throttling import SimpleRateThrottle

from api.permissions import request_api_key


class ApiKeyRateThrottle(SimpleRateThrottle):
    """`TIERLINE_API_RATE` requests per key (e.g. "1200/min"); read per request so tests and operators can change it.

    The counts live in the default cache: Redis when `REDIS_URL` is set, so every web process shares them.
    """

    scope = "api"

    def get_rate(self) -> str:
        return settings.API_THROTTLE_RATE

    def allow_request(self, request: Request, view: "APIView") -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: "APIView") -> str | None:
        api_key = request_api_key(request)
        if api_key is not None:
            return f"throttle:api:key:{api_key.pk}"
        if request.user and request.user.is_authenticated:
            return f"throttle:api:user:{request.tenant.pk}:{request.user.pk}"
        return None
