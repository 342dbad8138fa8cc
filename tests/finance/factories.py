"""A small ledger worked out by hand, shared by the finance tests (selectors and pages)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.services import points_account_for, points_expire_due, points_post
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant
from tests.conftest import World

NEW_YORK = ZoneInfo("America/New_York")


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def post(partner, kind: str, points: int, key: str, when: datetime, **causes) -> LedgerEntry:
    return points_post(
        account=points_account_for(partner=partner),
        kind=kind,
        points=points,
        idempotency_key=key,
        effective_at=when,
        **causes,
    )


@dataclass
class Ledger:
    world: World
    tenant: Tenant


def build_ledger(acme: World) -> Ledger:
    """Acme in New York time, 0.01 a point, points expiring 3 months after they are earned:

    when (New York)        partner  entry                                         month's movement
    15 Jan 2025 12:00      Alpha    earn +1,000 (lot expires 15 Apr 2025)         Jan +1,000
    10 Feb 2025            Alpha    redeem −300                                   Feb −300
    20 Feb 2025            Alpha    refund +100 (no redemption named: a lot of    Feb +100
                                    its own, expiring 20 May 2025)
    31 Mar 2025 23:30      Bravo    earn +500 (04:30 UTC on 1 April: still March)  Mar +500
    15 Apr 2025 12:00      Alpha    expire −700 (1,000 − 300)                     Apr −700
    5 May 2025             Bravo    reverse −200 of the earning                   May −200
    20 May 2025            Bravo    adjust +50 (its own lot, expires 20 Aug 2025) May +50
    20 May 2025 12:00      Alpha    expire −100 (the refund's lot)                May −100
    30 Jun 2025 23:30      Bravo    expire −300 (500 − 200) at its lot's expiry   Jun −300

    month     opening  closing
    Jan 2025        0    1,000
    Feb 2025    1,000      800   (1,000 − 300 + 100)
    Mar 2025      800    1,300
    Apr 2025    1,300      600
    May 2025      600      350   (600 − 200 + 50 − 100)
    Jun 2025      350       50
    """
    tenant = acme.tenant
    tenant.time_zone, tenant.point_value = "America/New_York", Decimal("0.01")
    tenant.points_expiry, tenant.points_expiry_months = Tenant.PointsExpiry.MONTHS_AFTER_EARNING, 3
    tenant.save(update_fields=["time_zone", "point_value", "points_expiry", "points_expiry_months"])
    alpha, bravo = acme.partner, acme.unmanaged_partner
    with tenant_context(tenant):
        post(alpha, EntryKind.EARN, 1000, "t:earn:alpha", at(2025, 1, 15))
        post(alpha, EntryKind.REDEEM, -300, "t:redeem:alpha", at(2025, 2, 10))
        post(alpha, EntryKind.REFUND, 100, "t:refund:alpha", at(2025, 2, 20))
        earned = post(bravo, EntryKind.EARN, 500, "t:earn:bravo", at(2025, 3, 31, 23, 30))
        post(bravo, EntryKind.REVERSE, -200, "t:reverse:bravo", at(2025, 5, 5), reverses=earned)
        post(bravo, EntryKind.ADJUST, 50, "t:adjust:bravo", at(2025, 5, 20), memo="Goodwill", actor=acme.manager)
        # The nightly run of 2 July 2025 expires Alpha's two lots (15 April, 20 May) and Bravo's (30 June, 23:30
        # in New York).
        assert points_expire_due(now=datetime(2025, 7, 2, tzinfo=UTC)) == 3
    return Ledger(acme, tenant)
