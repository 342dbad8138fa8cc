"""Periodic API housekeeping: forget idempotency records once they are past their retention."""

from celery import shared_task

from api.services import idempotency_records_purge


@shared_task(name="api.idempotency_purge")
def idempotency_purge() -> int:
    """Delete idempotency records older than 24 hours, across tenants (scheduled hourly by beat)."""
    return idempotency_records_purge()
