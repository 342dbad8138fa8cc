"""Sending notification emails: each due one once, or one daily digest per member (Celery tasks)."""

from itertools import groupby

from django.db import transaction
from django.utils import timezone

from loyalty.tenancy.tasks import tenant_task
from notifications.emails import digest_email, notification_email
from notifications.models import Notification

BATCH = 200


def _send_marked(notifications: list[Notification], message) -> None:  # noqa: ANN001 - an EmailMessage
    message.send()
    Notification.objects.filter(pk__in=[item.pk for item in notifications]).update(
        email=Notification.Email.SENT, emailed_at=timezone.now()
    )


@tenant_task(name="notifications.email_send", acks_late=True, soft_time_limit=20 * 60, time_limit=25 * 60)
def notifications_email_send(*, tenant_id: int) -> int:
    """Email every notification still to send, each once: rows are claimed under a lock that skips rows another
    worker holds, and marked sent in the same transaction."""
    sent = 0
    while True:
        with transaction.atomic():
            batch = list(
                Notification.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(email=Notification.Email.PENDING)
                .select_related("recipient")
                .order_by("pk")[:BATCH]
            )
            for notification in batch:
                _send_marked([notification], notification_email(notification))
        sent += len(batch)
        if len(batch) < BATCH:
            return sent


@tenant_task(name="notifications.digest_send", acks_late=True)
def notifications_digest_send(*, tenant_id: int) -> int:
    """One email per member with everything waiting for their digest."""
    with transaction.atomic():
        waiting = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(email=Notification.Email.DIGEST)
            .select_related("recipient")
            .order_by("recipient_id", "created_at", "pk")
        )
        for _recipient, items in groupby(waiting, key=lambda item: item.recipient_id):
            items = list(items)
            _send_marked(items, digest_email(items[0].recipient, items))
    return len(waiting)
