from django.http import HttpRequest

from notifications.selectors import notifications_unread_count


def notifications(request: HttpRequest) -> dict:
    """The unread count for the header, counted only if a template shows it (a callable is resolved lazily)."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    return {"notifications_unread": lambda: notifications_unread_count(user=request.user)}
