"""Lets the sign-in forms of a program's pages reach its identity providers under the content security policy.

The "Sign in with …" button POSTs to our own /accounts/…/login/, which answers with a redirect to the identity
provider; browsers apply CSP's `form-action` to that redirect too, so the provider's origin is added to it on
the program's /accounts/ pages (its other pages keep `form-action 'self'`).
"""

from collections.abc import Callable
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse

from sso.models import IdentityProvider
from sso.selectors import identity_providers_active


def provider_origin(provider: IdentityProvider) -> str | None:
    """Where the browser is sent to sign in: the issuer's origin (OIDC), the sign-in or metadata URL's (SAML)."""
    if provider.protocol == IdentityProvider.Protocol.OIDC:
        url = provider.issuer
    else:
        url = provider.saml_sso_url or provider.saml_metadata_url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in {"http", "https"} and parts.netloc else None


class IdentityProviderFormActionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "tenant", None) is None or not request.path.startswith("/accounts/"):
            return response
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        origins = sorted({origin for p in identity_providers_active() if (origin := provider_origin(p))})
        if origins:
            response._csp_update = {"form-action": origins}  # read by django-csp's middleware
        return response
