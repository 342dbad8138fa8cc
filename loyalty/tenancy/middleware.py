"""Resolves the tenant from the host and runs the whole response inside its scope."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.http.request import split_domain_port
from django.template.loader import render_to_string
from django.utils import translation

from loyalty.tenancy.context import platform_context, tenant_context
from loyalty.tenancy.selectors import is_platform_host, membership_for_user, tenant_for_host


class TenantMiddleware:
    """`<slug>.<BASE_DOMAIN>` or a custom domain selects a tenant; the bare domain is the platform.

    An unknown host is a 404, never another tenant's page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # A request never starts in platform mode, whatever the caller's context (a test, a server thread).
        with platform_context(is_active=False):
            return self._resolve(request)

    def _resolve(self, request: HttpRequest) -> HttpResponse:
        host, _port = split_domain_port(request.get_host())
        request.tenant = None
        if is_platform_host(host=host):
            request.urlconf = settings.PLATFORM_URLCONF
            return self.get_response(request)
        tenant = tenant_for_host(host=host)
        if tenant is None:
            return HttpResponseNotFound(render_to_string("tenancy/unknown_host.html", {"host": host}))
        request.tenant = tenant
        # Template rendering happens inside get_response, so the scope covers it too.
        with tenant_context(tenant):
            return self.get_response(request)


class MembershipMiddleware:
    """Attaches the signed-in user's membership in the host's tenant as `request.membership` (or None), and
    speaks the language the user chose (otherwise LocaleMiddleware's pick from the browser stays)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.membership = None
        if request.tenant is not None:
            request.membership = membership_for_user(user=request.user)
        language = request.user.language if request.user.is_authenticated else ""
        if not language:
            return self.get_response(request)
        # Only for this request: the thread's language is restored afterwards (LocaleMiddleware keeps this header).
        request.LANGUAGE_CODE = language
        with translation.override(language):
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response
