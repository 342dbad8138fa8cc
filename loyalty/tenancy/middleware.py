"""Resolves the tenant from the host and runs the whole response inside its scope."""

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, JsonResponse
from django.http.request import split_domain_port
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils import translation

from loyalty.api_shape import API_KEY_KEYWORDS, api_not_found, error_body, is_api_path
from loyalty.tenancy.caching import generation_pinned
from loyalty.tenancy.context import platform_context, tenant_context
from loyalty.tenancy.models import SESSION_HOST_KEY, session_host
from loyalty.tenancy.selectors import is_platform_host, membership_for_user, tenant_for_host


class TenantMiddleware:
    """`<slug>.<BASE_DOMAIN>` or a custom domain selects a tenant; the bare domain is the platform.

    An unknown host is a 404, never another tenant's page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # A request never starts in platform mode, whatever the caller's context (a test, a server thread). The
        # tenancy cache's generation is read once per request (until the request itself writes a cached row).
        with platform_context(is_active=False), generation_pinned():
            return self._resolve(request)

    def _resolve(self, request: HttpRequest) -> HttpResponse:
        host, _port = split_domain_port(request.get_host())
        request.tenant = None
        if is_platform_host(host=host):
            request.urlconf = settings.PLATFORM_URLCONF
            return self.get_response(request)
        tenant = tenant_for_host(host=host)
        if tenant is None:
            if is_api_path(request.path_info):
                return api_not_found()
            return HttpResponseNotFound(render_to_string("tenancy/unknown_host.html", {"host": host}))
        request.tenant = tenant
        # Template rendering happens inside get_response, so the scope covers it too.
        with tenant_context(tenant):
            return self.get_response(request)


class MembershipMiddleware:
    """Attaches the signed-in user's membership in the host's tenant as `request.membership` (or None), and
    speaks the member's language: the one the user chose, else the program's (as its emails do), else the
    browser's (LocaleMiddleware's pick stays, on the platform host)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.membership = None
        bound = request.session.get(SESSION_HOST_KEY) if request.user.is_authenticated else None
        if bound is not None and bound != session_host(request):
            # A session cookie carried to another program's host signs nobody in there (and is not a sign-out).
            request.session.flush()
            request.user = AnonymousUser()
        if request.tenant is not None:
            request.membership = membership_for_user(user=request.user)
        language = request.user.language if request.user.is_authenticated else ""
        if not language and request.tenant is not None:
            language = request.tenant.language
        if not language:
            return self.get_response(request)
        # Only for this request: the thread's language is restored afterwards (LocaleMiddleware keeps this header).
        request.LANGUAGE_CODE = language
        with translation.override(language):
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response


class StaffMfaMiddleware:
    """With `MFA_REQUIRED`, the tenant's owners and program managers must activate TOTP before anything else.

    Until they do, every page of their tenant (admin, program dashboard, portfolio…) redirects to allauth's TOTP
    setup, and API calls made with their session are refused; sign-in, sign-out and the MFA pages stay open.
    Runs after MembershipMiddleware; whether the user has TOTP is read live (`Membership.has_totp`), never cached.
    A sign-in through the program's identity provider is not held to it: that provider is where staff prove a
    second factor.
    """

    OPEN_PREFIXES = ("/accounts/", "/static/", "/healthz", "/branding/", "/invitations/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = request.membership
        if (
            not settings.MFA_REQUIRED
            or membership is None
            or not membership.is_program_staff
            or membership.has_totp
            or request.path.startswith(self.OPEN_PREFIXES)
            or self.signed_in_by_identity_provider(request)
        ):
            return self.get_response(request)
        if request.path.startswith("/api/"):
            keyword = request.headers.get("Authorization", "").partition(" ")[0]
            if keyword.lower() in API_KEY_KEYWORDS:  # an API key authenticates (or fails), never this session
                return self.get_response(request)
            message = "Program staff must set up two-factor authentication (TOTP) before using the API."
            return JsonResponse(error_body(status_code=403, message=message, code="mfa_required"), status=403)
        return redirect("mfa_activate_totp")

    @staticmethod
    def signed_in_by_identity_provider(request: HttpRequest) -> bool:
        """A session opened through the program's own identity provider: its second factor is that provider's to
        ask (docs/security.md#single-sign-on); a TOTP the person did set up is still asked at sign-in."""
        records = request.session.get("account_authentication_methods", [])
        return any(record.get("method") == "socialaccount" for record in records)
