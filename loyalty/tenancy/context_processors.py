from django.conf import settings
from django.http import HttpRequest

from loyalty.tenancy.caching import generation
from loyalty.tenancy.models import SESSION_PROGRAM_COUNT_KEY, SESSION_PROGRAM_GENERATION_KEY, User
from loyalty.tenancy.selectors import memberships_everywhere


def tenancy(request: HttpRequest) -> dict:
    """The host's tenant and the user's membership in it, for every template."""
    return {
        "tenant": getattr(request, "tenant", None),
        "membership": getattr(request, "membership", None),
        "my_programs_url": _my_programs_url(),
        "program_count": _program_count(request),
    }


def program_count_recorded(request: HttpRequest, user: User) -> int:
    """Count `user`'s programs (the header's switch) into the session, with the tenancy generation it was counted
    in; the count."""
    count = request.session[SESSION_PROGRAM_COUNT_KEY] = len(memberships_everywhere(user=user))
    request.session[SESSION_PROGRAM_GENERATION_KEY] = generation()
    return count


def _program_count(request: HttpRequest) -> int:
    """How many programs the signed-in person belongs to: counted at sign-in (loyalty/tenancy/signals.py), and
    again on the first page after the tenancy generation moved (a membership ended or begun in any program bumps
    it), so another program's decision shows at once. Without a shared cache the sign-in's count stands."""
    session, user = getattr(request, "session", None), getattr(request, "user", None)
    if session is None or SESSION_PROGRAM_COUNT_KEY not in session or user is None or not user.is_authenticated:
        return 0
    current = generation()
    if current is not None and session.get(SESSION_PROGRAM_GENERATION_KEY) != current:
        return program_count_recorded(request, user)
    return session[SESSION_PROGRAM_COUNT_KEY]


def _my_programs_url() -> str:
    """The platform host's "My programs" page, which lists every program of the signed-in person (no query)."""
    port = f":{settings.PUBLIC_PORT}" if settings.PUBLIC_PORT else ""
    return f"{settings.PUBLIC_SCHEME}://{settings.BASE_DOMAIN}{port}/programs/"
