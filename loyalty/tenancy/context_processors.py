from django.conf import settings
from django.http import HttpRequest

from loyalty.tenancy.models import SESSION_PROGRAM_COUNT_KEY


def tenancy(request: HttpRequest) -> dict:
    """The host's tenant and the user's membership in it, for every template."""
    return {
        "tenant": getattr(request, "tenant", None),
        "membership": getattr(request, "membership", None),
        "my_programs_url": _my_programs_url(),
        "program_count": request.session.get(SESSION_PROGRAM_COUNT_KEY, 0) if hasattr(request, "session") else 0,
    }


def _my_programs_url() -> str:
    """The platform host's "My programs" page, which lists every program of the signed-in person (no query)."""
    port = f":{settings.PUBLIC_PORT}" if settings.PUBLIC_PORT else ""
    return f"{settings.PUBLIC_SCHEME}://{settings.BASE_DOMAIN}{port}/programs/"
