"""Reads of notifications: a member's inbox and unread count in the current tenant."""

from django.db.models import QuerySet

from loyalty.tenancy.models import User
from notifications.models import Notification


def notifications_for(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-pk")


def notifications_unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at=None).count()
