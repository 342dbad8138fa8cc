"""Ledger factories and helpers. Points only ever enter the ledger through `points_post`, never by row creation."""

from datetime import datetime
from typing import Any

import factory
from django.db import connection

from loyalty.ledger.models import EntryKind, LedgerEntry, LotAllocation, PointsAccount, PointsLot
from loyalty.ledger.services import points_post
from loyalty.tenancy.models import Tenant
from tests.factories import PartnerFactory, TenantOwnedFactory


class PointsAccountFactory(TenantOwnedFactory):
    """An empty account of a new partner of the current (or given) tenant."""

    class Meta:
        model = PointsAccount

    partner = factory.SubFactory(PartnerFactory, tenant=factory.SelfAttribute("..tenant"))


def set_expiry_rule(tenant: Tenant, rule: str, months: int = 24) -> None:
    """Change the tenant's points expiry rule (applies to lots credited from now on)."""
    tenant.points_expiry = rule
    tenant.points_expiry_months = months
    tenant.save(update_fields=["points_expiry", "points_expiry_months"])


def earn(account: PointsAccount, points: int, key: str, *, effective_at: datetime | None = None) -> LedgerEntry:
    """Credit `points` as an earn entry; the caller is inside the account's tenant context."""
    return points_post(
        account=account, kind=EntryKind.EARN, points=points, idempotency_key=key, effective_at=effective_at
    )


def redeem(account: PointsAccount, points: int, key: str) -> LedgerEntry:
    """Debit `points` (a positive number) as a redeem entry; the caller is inside the tenant context."""
    return points_post(account=account, kind=EntryKind.REDEEM, points=-points, idempotency_key=key)


def ledger_snapshot() -> dict[str, Any]:
    """Everything the ledger holds for the current tenant, to assert that a refused call wrote nothing."""
    return {
        "entries": list(LedgerEntry.objects.order_by("pk").values_list("pk", "points", "entry_hash")),
        "lots": list(PointsLot.objects.order_by("pk").values_list("pk", "remaining")),
        "allocations": list(LotAllocation.objects.order_by("pk").values_list("pk", "lot_id", "points")),
        "accounts": list(
            PointsAccount.objects.order_by("pk").values_list(
                "pk", "balance", "lifetime_earned", "lifetime_redeemed", "chain_head"
            )
        ),
    }


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"
