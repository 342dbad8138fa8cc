"""The finance figures against numbers worked out by hand, and the roll-forward tied to the ledger entry by entry."""

from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.db.models import Sum
from django.utils import timezone

from finance.selectors import (
    ADJUSTED,
    EXPIRED,
    ISSUED,
    REDEEMED,
    ExpiryBucket,
    JournalLine,
    breakage_estimate,
    journal_for_month,
    liability_by_expiry_month,
    liability_roll_forward,
    month_start,
    redemptions_pending,
)
from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount, PointsLot
from loyalty.ledger.services import points_expire_due
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant
from rewards.models import Redemption
from tests.conftest import World
from tests.finance.factories import NEW_YORK, Ledger, at, build_ledger, post
from tests.rewards.factories import RewardFactory


@pytest.fixture
def ledger(acme: World) -> Ledger:
    return build_ledger(acme)


def test_roll_forward_by_hand(ledger: Ledger) -> None:
    with tenant_context(ledger.tenant):
        months = liability_roll_forward(first_month=date(2025, 1, 1), last_month=date(2025, 6, 1))
    assert [(month.month, month.opening, month.movements, month.closing) for month in months] == [
        (date(2025, 1, 1), 0, {"earn": 1000}, 1000),
        (date(2025, 2, 1), 1000, {"redeem": -300, "refund": 100}, 800),
        (date(2025, 3, 1), 800, {"earn": 500}, 1300),
        (date(2025, 4, 1), 1300, {"expire": -700}, 600),
        (date(2025, 5, 1), 600, {"reverse": -200, "adjust": 50, "expire": -100}, 350),
        (date(2025, 6, 1), 350, {"expire": -300}, 50),
    ]


def test_a_later_start_opens_with_everything_before_it(ledger: Ledger) -> None:
    with tenant_context(ledger.tenant):
        months = liability_roll_forward(first_month=date(2025, 3, 1), last_month=date(2025, 4, 1))
    assert [(month.opening, month.closing) for month in months] == [(800, 1300), (1300, 600)]


def test_roll_forward_ties_to_the_ledger_every_month(ledger: Ledger) -> None:
    """Every cell is the Σ of the entries of that kind dated in that month (New York time), each closing is the
    next opening and the Σ of every entry dated before the month's end; today's closing is Σ balances = Σ lots."""
    zone = NEW_YORK
    first, last = date(2024, 12, 1), timezone.now().astimezone(zone).date().replace(day=1)
    with tenant_context(ledger.tenant):
        months = liability_roll_forward(first_month=first, last_month=last)
        by_month: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for entry in LedgerEntry.objects.all():
            by_month[entry.effective_at.astimezone(zone).date().replace(day=1)][entry.kind] += entry.points
        for index, month in enumerate(months):
            assert month.movements == dict(by_month.get(month.month, {})), month.month
            month_end = month_start(month.month + relativedelta(months=1), zone)
            dated_before = LedgerEntry.objects.filter(effective_at__lt=month_end).aggregate(total=Sum("points"))
            assert month.closing == (dated_before["total"] or 0), month.month
            if index + 1 < len(months):
                assert months[index + 1].opening == month.closing
        balances = PointsAccount.objects.aggregate(total=Sum("balance"))["total"]
        lots = PointsLot.objects.aggregate(total=Sum("remaining"))["total"]
    assert len(months) == (last.year - first.year) * 12 + last.month - first.month + 1
    assert months[-1].closing == balances == lots == 50


def test_liability_by_expiry_month_adds_up_to_the_balances(ledger: Ledger) -> None:
    with tenant_context(ledger.tenant):
        # Bravo's goodwill lot (20 May 2025 + 3 months) is past its expiry: it waits for the nightly run.
        assert liability_by_expiry_month() == [ExpiryBucket(date(2025, 8, 1), 50)]


def test_journal_books_each_bucket_balanced(ledger: Ledger) -> None:
    with tenant_context(ledger.tenant):
        february = journal_for_month(month=date(2025, 2, 1))
        may = journal_for_month(month=date(2025, 5, 1))
        april = journal_for_month(month=date(2025, 4, 1))
        march = journal_for_month(month=date(2025, 3, 1))
    cents = Decimal("0.01")
    # Feb: redeemed −300 and refunded +100 are one release of 200 points = 2.00.
    assert february == [JournalLine(REDEEMED, -200, Decimal("2.00"), "2450", "2100")]
    # May: the reversed earning takes 200 points (2.00) back from the expense; the adjustment adds 50 (0.50);
    # the refund's lot expires (100 = 1.00).
    assert may == [
        JournalLine(ISSUED, -200, Decimal("2.00"), "2450", "6100"),
        JournalLine(ADJUSTED, 50, Decimal("0.50"), "6100", "2450"),
        JournalLine(EXPIRED, -100, Decimal("1.00"), "2450", "4950"),
    ]
    assert april == [JournalLine(EXPIRED, -700, Decimal("7.00"), "2450", "4950")]
    assert march == [JournalLine(ISSUED, 500, Decimal("5.00"), "6100", "2450")]
    # Net credit to the liability = the month's movement at the point value.
    for lines, movement in ((february, -200), (may, -250), (april, -700), (march, 500)):
        net = sum(line.amount if line.credit_account == "2450" else -line.amount for line in lines)
        assert net == (Decimal(movement) * cents).quantize(cents)


def test_journal_uses_the_programs_account_codes(ledger: Ledger) -> None:
    tenant = ledger.tenant
    tenant.journal_liability_account, tenant.journal_breakage_account = "21-900", "BRK.1"
    tenant.save(update_fields=["journal_liability_account", "journal_breakage_account"])
    with tenant_context(tenant):
        assert journal_for_month(month=date(2025, 6, 1)) == [
            JournalLine(EXPIRED, -300, Decimal("3.00"), "21-900", "BRK.1")
        ]


def test_another_tenants_ledger_is_not_counted(ledger: Ledger, globex: World) -> None:
    with tenant_context(globex.tenant):
        post(globex.partner, EntryKind.EARN, 7000, "t:earn:globex", at(2025, 2, 1))
        assert liability_roll_forward(first_month=date(2025, 2, 1), last_month=date(2025, 2, 1))[0].closing == 7000
    with tenant_context(ledger.tenant):
        assert liability_roll_forward(first_month=date(2025, 2, 1), last_month=date(2025, 2, 1))[0].closing == 800
        assert journal_for_month(month=date(2025, 2, 1))[0].points == -200


def test_breakage_over_the_trailing_twelve_months(acme: World) -> None:
    """A lot of 1,000 earned 14 months ago expired 11 months ago after 400 were redeemed: 600 / 1,000 = 60.0 %.
    The 500 points earned a month ago can still expire: 500 × 600 / 1,000 = 300 expected. 200 points earned
    while the program said "never" are not counted; a lot that expired 13 months ago is outside the window."""
    tenant = acme.tenant
    tenant.points_expiry, tenant.points_expiry_months = Tenant.PointsExpiry.MONTHS_AFTER_EARNING, 3
    tenant.save(update_fields=["points_expiry", "points_expiry_months"])
    now = timezone.now()
    alpha, bravo = acme.partner, acme.unmanaged_partner
    with tenant_context(tenant):
        assert breakage_estimate().rate is None
        post(bravo, EntryKind.EARN, 999, "b:old", now - relativedelta(months=16))  # expired 13 months ago
        post(alpha, EntryKind.EARN, 1000, "b:cohort", now - relativedelta(months=14))
        post(alpha, EntryKind.REDEEM, -400, "b:redeem", now - relativedelta(months=13))
        points_expire_due(now=now)
        post(alpha, EntryKind.EARN, 500, "b:open", now - relativedelta(months=1))
        tenant.points_expiry = Tenant.PointsExpiry.NEVER
        tenant.save(update_fields=["points_expiry"])
        post(alpha, EntryKind.EARN, 200, "b:never", now - relativedelta(days=1))
        breakage = breakage_estimate()
    assert (breakage.credited, breakage.expired, breakage.outstanding) == (1000, 600, 500)
    assert breakage.rate == Decimal("60.0")
    assert breakage.expected_points == 300


def test_pending_redemptions_by_status(acme: World) -> None:
    with tenant_context(acme.tenant):
        reward = RewardFactory(tenant=acme.tenant, points_cost=100)
        for index, (status, points) in enumerate(
            [("requested", 100), ("requested", 250), ("approved", 40), ("fulfilled", 999), ("rejected", 5)]
        ):
            Redemption.objects.create(
                partner=acme.partner,
                requested_by=acme.partner_user,
                reward=reward,
                points=points,
                status=status,
                idempotency_key=f"r{index}",
            )
        rows = redemptions_pending()
    assert [(row.status, row.count, row.points) for row in rows] == [("requested", 2, 350), ("approved", 1, 40)]
