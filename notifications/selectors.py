"""Reads of notifications: a member's inbox and unread count in the current tenant."""

from django.db.models import QuerySet

from loyalty.tenancy.caching import cached
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from notifications.models import Notification


def notifications_for(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-pk")


def notifications_unread_count(*, user: User) -> int:
    """The header's count, kept in the tenancy cache under the notifications' generation (any write of one
    replaces it: loyalty/tenancy/caching.py)."""
    owner = (current_tenant().pk, user.pk)
    found_owner, count = cached(
        "notifications-unread:{}:{}".format(*owner),
        lambda: (owner, Notification.objects.filter(recipient=user, read_at=None).count()),
        family="notifications",
    )
    if found_owner != owner:  # never another member's count, whatever the cache holds
        return Notification.objects.filter(recipient=user, read_at=None).count()
    return count
