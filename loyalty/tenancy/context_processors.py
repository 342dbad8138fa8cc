from django.http import HttpRequest


def tenancy(request: HttpRequest) -> dict:
    """The host's tenant and the user's membership in it, for every template."""
    return {"tenant": getattr(request, "tenant", None), "membership": getattr(request, "membership", None)}
