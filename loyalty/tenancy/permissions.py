"""Permission helpers used by every tenant view: who may see what."""

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from loyalty.tenancy.models import PARTNER_ROLES, PROGRAM_ROLES, Membership, Role

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from partners.models import Partner

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


def partners_visible_to(membership: Membership) -> "QuerySet[Partner]":
    """The current tenant's partners this member may see."""
    from partners.models import Partner

    partners = Partner.objects.all()
    if membership.role in PROGRAM_ROLES:
        return partners
    if membership.role == Role.ACCOUNT_MANAGER:
        return partners.filter(account_manager_id=membership.user_id)
    if membership.role in PARTNER_ROLES:
        return partners.filter(pk=membership.partner_id)
    return partners.none()


def can_manage_partner_team(membership: Membership, partner: "Partner") -> bool:
    """Program staff manage every team; a partner admin manages their own partner's."""
    if membership.role in PROGRAM_ROLES:
        return True
    return membership.role == Role.PARTNER_ADMIN and membership.partner_id == partner.pk
