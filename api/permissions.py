"""Who may call what: API keys by scope, portal members' sessions only to read their own partner."""

from typing import TYPE_CHECKING

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView

from api.models import ApiKey
from loyalty.tenancy.models import PARTNER_ROLES, User


def request_api_key(request: Request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


def request_partner_id(request: Request) -> int | None:
    """The one partner a session caller may see; None for API keys, which see the whole tenant."""
    if request_api_key(request) is not None:
        return None
    return request.membership.partner_id


def request_actor(request: Request) -> User | None:
    """The person an API write is recorded under: the key's author (None for command-line keys)."""
    api_key = request_api_key(request)
    return api_key.created_by if api_key is not None else None


def required_scopes(view: "APIView", method: str) -> frozenset[str]:
    """The scopes a view needs for `method` (HEAD and OPTIONS as GET); views declare `required_scopes`."""
    method = "GET" if method in {"HEAD", "OPTIONS"} else method
    return frozenset(getattr(view, "required_scopes", {}).get(method, ()))


class ScopePermission(BasePermission):
    """API keys need every scope the view names for the method; a view naming none is closed to keys.

    Sessions of partner members may use safe methods on views marked `session_readable`, for their own partner
    (views filter by `request_partner_id`). Session writes are refused, so CSRF cannot be abused.
    """

    message = "You may not do this."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        if not hasattr(view, request.method.lower()):
            return True  # the view answers 405 for methods it does not have, whoever asks
        api_key = request_api_key(request)
        if api_key is not None:
            needed = required_scopes(view, request.method)
            missing = sorted(needed - set(api_key.scopes))
            if not needed:
                self.message = "This endpoint does not accept API keys for this method."
                return False
            if missing:
                self.message = f"This API key lacks the scope {', '.join(missing)} needed to {request.method} here."
                return False
            return True
        membership = getattr(request, "membership", None)
        if not getattr(view, "session_readable", False) or request.method not in SAFE_METHODS:
            self.message = "Use an API key for this endpoint; portal sessions may only read."
            return False
        if membership is None or membership.role not in PARTNER_ROLES:
            self.message = "Portal sessions may only read their own partner's data."
            return False
        return True
