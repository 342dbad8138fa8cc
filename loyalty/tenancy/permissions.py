"""The permission check of every tenant view: a signed-in member of the host's tenant in one of the roles.

Which partners a member may see is `partners.selectors.partners_visible_to`.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from loyalty.tenancy.models import Role

View = Callable[..., HttpResponse]


def membership_required(*roles: Role) -> Callable[[View], View]:
    """Require a signed-in member of the host's tenant, holding one of `roles` (any role when none given).

    Anonymous users go to the login page; signed-in users without a fitting membership get 403.
    """
    allowed = frozenset(roles) or frozenset(Role)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if getattr(request, "tenant", None) is None:
                raise Http404
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = request.membership
            if membership is None or membership.role not in allowed:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
