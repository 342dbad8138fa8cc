"""API key authentication: a key of the host's tenant (portal sessions use DRF's SessionAuthentication)."""

import hashlib
import hmac

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from api.models import ApiKey
from api.services import KEY_PREFIX, api_key_touch, secret_digest
from loyalty.api_shape import API_KEY_KEYWORDS as KEYWORDS
from loyalty.tenancy.caching import cached, cached_replace

# Compared against when the prefix names no key, so an unknown key costs the same as a wrong secret.
_UNKNOWN_KEY_HASH = secret_digest("")


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer tl_<prefix>_<secret>` (or `Api-Key …`), for a key of the host's tenant.

    The key is looked up with the tenant-scoped manager, so another tenant's key is "invalid" exactly like a
    key that does not exist: the answer never tells whether it exists elsewhere.
    """

    def authenticate(self, request: Request) -> tuple[object, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _separator, token = header.partition(" ")
        if keyword.lower() not in KEYWORDS:
            return None
        invalid = exceptions.AuthenticationFailed(_("Invalid API key."))
        if getattr(request, "tenant", None) is None:
            raise invalid
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            raise invalid
        _kind, prefix, secret = parts
        entry = _api_key_entry(request.tenant.pk, token.strip())
        api_key = _api_key(request.tenant.pk, prefix, entry)
        expected = api_key.secret_hash if api_key is not None else _UNKNOWN_KEY_HASH
        if not hmac.compare_digest(expected, secret_digest(secret)) or api_key is None:
            raise invalid
        now = timezone.now()
        if api_key.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This API key was revoked."))
        if not api_key.is_usable_at(now):
            raise exceptions.AuthenticationFailed(_("This API key has expired."))
        if api_key_touch(api_key=api_key, now=now):  # the cached key's generation stays: put the new time in it
            cached_replace(entry, api_key, family=ApiKey.cache_family)
        # DRF needs a user; the key's author acts (None for keys made from the command line).
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def _api_key_entry(tenant_id: int, token: str) -> str:
    """The name of a key's entry in the request cache: the tenant and a digest of the whole token, never the token,
    so only a request holding the right secret finds it."""
    return f"api_key:{tenant_id}:{hashlib.blake2b(token.encode(), digest_size=16).hexdigest()}"


def _api_key(tenant_id: int, prefix: str, entry: str) -> ApiKey | None:
    """The host's tenant's key of that prefix, with its author, through the request cache under `entry` (family
    "api_keys": any write to a key but its last use, its revocation included, bumps it at commit). The secret is
    checked on every request all the same."""
    api_key = cached(
        entry,
        # Not the author's password hash: it has no business in the cache (nor on this path).
        lambda: ApiKey.objects.filter(prefix=prefix).select_related("created_by").defer("created_by__password").first(),
        family=ApiKey.cache_family,
    )
    return api_key if api_key is not None and api_key.tenant_id == tenant_id else None


class ApiKeyUser:
    """Stands in for request.user on key-authenticated requests: authenticated, but not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.pk = self.id = None

    def __str__(self) -> str:
        return self.api_key.label
