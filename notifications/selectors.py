"""Reads of notifications: a member's inbox and unread count in the current tenant."""

from django.db.models import QuerySet

from loyalty.tenancy.caching import cached
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from notifications.models import Notification


def notifications_for(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-pk")


def notifications_unread_entry(*, user: User) -> tuple[str, str]:
    """The tenancy cache's name and family of the member's unread count (for `prefetch`)."""
    return f"notifications-unread:{current_tenant().pk}:{user.pk}", "notifications"


def notifications_unread_count(*, user: User) -> int:
    """The header's count, kept in the tenancy cache under the notifications' generation (any write of one
    replaces it: loyalty/tenancy/caching.py)."""
    owner = (current_tenant().pk, user.pk)
    name, family = notifications_unread_entry(user=user)
    found_owner, count = cached(
        name, lambda: (owner, Notification.objects.filter(recipient=user, read_at=None).count()), family=family
    )
    if found_owner != owner:  # never another member's count, whatever the cache holds
        return Notification.objects.filter(recipient=user, read_at=None).count()
    return count
