"""The only places deal rows are locked. Order: the tenant's customers lock, then registrations by primary key."""

from django.db import connection

from deals.models import DealRegistration

# First key of pg_advisory_xact_lock(int, int): "deals" (any constant the application uses for nothing else).
CUSTOMERS_LOCK_CLASS = 0x6465616C


def customers_lock(*, tenant_id: int) -> None:
    """Serialise the decisions that compare registrations of one tenant (submission, approval) until commit.

    Conflicts are found by similar names, so no row or unique key stands for "this customer": a transaction-level
    advisory lock per tenant makes two partners registering the same customer at the same instant take turns,
    and the second one sees the first. Registrations are submitted by people, a few a minute at most per program,
    so queueing them costs nothing. SQLite serialises every write transaction already.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CUSTOMERS_LOCK_CLASS, tenant_id])


def deal_lock(*, deal_id: int) -> DealRegistration:
    return DealRegistration.objects.select_for_update(of=("self",)).select_related("partner").get(pk=deal_id)


def deals_lock(*, deal_ids: list[int]) -> list[DealRegistration]:
    return list(DealRegistration.objects.select_for_update().filter(pk__in=deal_ids).order_by("pk"))
