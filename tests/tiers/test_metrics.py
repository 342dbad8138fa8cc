"""Metrics on the database over a real qualification window, the windows themselves, and tenant isolation."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from loyalty.ledger.models import EntryKind
from loyalty.ledger.services import points_account_for, points_post
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ActivityKind
from tests.conftest import World
from tests.tiers.factories import activity, at_noon, sale
from tiers.metrics import REGISTRY, Window, metric_values, qualification_window
from tiers.models import Metric, TierModel


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# The calendar year 2025 evaluated on 30 June, in UTC: [2025-01-01, 2025-07-01); before it [2024-01-01, …).
H1_2025 = qualification_window(
    model=TierModel(window=TierModel.Window.CALENDAR_YEAR), evaluated_on=date(2025, 6, 30), time_zone="UTC"
)

pytestmark = pytest.mark.django_db


# --- Windows --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "fiscal_start", "evaluated_on", "first", "last_day", "previous_first"),
    [
        # Rolling 12 months ends with the evaluation day and starts the day after a year before.
        ("rolling_12_months", 1, date(2025, 6, 15), date(2024, 6, 16), date(2025, 6, 15), date(2023, 6, 16)),
        # Across a leap day: 2024-02-29 back a year is 2023-02-28, plus a day.
        ("rolling_12_months", 1, date(2024, 2, 29), date(2023, 3, 1), date(2024, 2, 29), date(2022, 3, 1)),
        ("calendar_year", 1, date(2025, 6, 15), date(2025, 1, 1), date(2025, 12, 31), date(2024, 1, 1)),
        ("calendar_year", 1, date(2025, 12, 31), date(2025, 1, 1), date(2025, 12, 31), date(2024, 1, 1)),
        # Fiscal year from April: June 2025 is in FY Apr 2025–Mar 2026, February 2025 in FY Apr 2024–Mar 2025.
        ("fiscal_year", 4, date(2025, 6, 15), date(2025, 4, 1), date(2026, 3, 31), date(2024, 4, 1)),
        ("fiscal_year", 4, date(2025, 2, 10), date(2024, 4, 1), date(2025, 3, 31), date(2023, 4, 1)),
        ("fiscal_year", 4, date(2025, 4, 1), date(2025, 4, 1), date(2026, 3, 31), date(2024, 4, 1)),
        ("fiscal_year", 4, date(2025, 3, 31), date(2024, 4, 1), date(2025, 3, 31), date(2023, 4, 1)),
        # Fiscal year from October: the fiscal year ends in September.
        ("fiscal_year", 10, date(2025, 9, 30), date(2024, 10, 1), date(2025, 9, 30), date(2023, 10, 1)),
        # A fiscal year from January is the calendar year.
        ("fiscal_year", 1, date(2025, 6, 15), date(2025, 1, 1), date(2025, 12, 31), date(2024, 1, 1)),
        # Quarters: Q2 for May, Q4 for the last day of the year, Q1 on New Year's day (previous: Q4 before).
        ("quarter", 1, date(2025, 5, 20), date(2025, 4, 1), date(2025, 6, 30), date(2025, 1, 1)),
        ("quarter", 1, date(2025, 12, 31), date(2025, 10, 1), date(2025, 12, 31), date(2025, 7, 1)),
        ("quarter", 1, date(2025, 1, 1), date(2025, 1, 1), date(2025, 3, 31), date(2024, 10, 1)),
        ("quarter", 1, date(2025, 9, 30), date(2025, 7, 1), date(2025, 9, 30), date(2025, 4, 1)),
    ],
)
def test_qualification_window_for_each_window_type(
    window: str,
    fiscal_start: int,
    evaluated_on: date,
    first: date,
    last_day: date,
    previous_first: date,
) -> None:
    model = TierModel(window=window, fiscal_year_start_month=fiscal_start)
    result = qualification_window(model=model, evaluated_on=evaluated_on, time_zone="UTC")
    # The window ends at midnight after the evaluation day: the evaluation day counts in full.
    next_day = date.fromordinal(evaluated_on.toordinal() + 1)
    assert result == Window(
        start=utc(first.year, first.month, first.day),
        end=utc(next_day.year, next_day.month, next_day.day),
        previous_start=utc(previous_first.year, previous_first.month, previous_first.day),
        evaluated_on=evaluated_on,
        last_day=last_day,
    )


@pytest.mark.parametrize(
    ("time_zone", "start_utc", "end_utc"),
    [
        # New York in winter is UTC−5: local midnight of 1 January is 05:00 UTC.
        ("America/New_York", utc(2025, 1, 1, 5), utc(2025, 1, 16, 5)),
        # Sydney in summer is UTC+11: local midnight of 1 January is 13:00 UTC the day before.
        ("Australia/Sydney", utc(2024, 12, 31, 13), utc(2025, 1, 15, 13)),
    ],
)
def test_qualification_window_starts_and_ends_at_midnight_in_the_tenant_time_zone(
    time_zone: str, start_utc: datetime, end_utc: datetime
) -> None:
    model = TierModel(window=TierModel.Window.CALENDAR_YEAR)
    result = qualification_window(model=model, evaluated_on=date(2025, 1, 15), time_zone=time_zone)
    assert result.start == start_utc
    assert result.end == end_utc


def test_window_in_the_tenant_time_zone_decides_which_late_night_sales_count(acme: World) -> None:
    acme.tenant.time_zone = "America/New_York"
    acme.tenant.save(update_fields=["time_zone"])
    window = qualification_window(
        model=TierModel(window=TierModel.Window.CALENDAR_YEAR),
        evaluated_on=date(2025, 6, 30),
        time_zone="America/New_York",
    )
    with tenant_context(acme.tenant):
        sale(acme.partner, utc(2025, 1, 1, 3), "100")  # 31 Dec 2024, 22:00 in New York: last year
        sale(acme.partner, utc(2025, 1, 1, 6), "20")  # 1 Jan 2025, 01:00 in New York: counts
        sale(acme.partner, utc(2025, 7, 1, 3), "3")  # 30 Jun 2025, 23:00 in New York (EDT, UTC−4): counts
        sale(acme.partner, utc(2025, 7, 1, 4), "4000")  # 1 Jul 2025, 00:00 in New York: after the window
        assert REGISTRY[Metric.REVENUE]([acme.partner.pk], window, "", "") == {acme.partner.pk: Decimal("23.00")}


# --- Metrics --------------------------------------------------------------------------------------------------


def test_revenue_sums_approved_sales_in_the_window_only(acme: World) -> None:
    partner = acme.partner
    with tenant_context(acme.tenant):
        sale(partner, date(2025, 3, 1), "1000")
        sale(partner, utc(2025, 6, 30, 23, 59, 59), "250.50")  # the last second of the window
        sale(partner, utc(2025, 1, 1), "0.25")  # the first instant
        sale(partner, date(2025, 3, 2), "5000", status=Activity.Status.PENDING)
        sale(partner, date(2025, 3, 3), "7000", status=Activity.Status.REJECTED)
        activity(partner, ActivityKind.DEAL_REGISTRATION, date(2025, 3, 4), amount="9000")  # not a sale
        sale(partner, utc(2024, 12, 31, 23, 59, 59), "300")  # before the window
        sale(partner, utc(2025, 7, 1), "400")  # the window's end is excluded
        sale(acme.unmanaged_partner, date(2025, 5, 5), "77")
        result = REGISTRY[Metric.REVENUE]([partner.pk], H1_2025, "", "")
    # 1000 + 250.50 + 0.25; the other partner was not asked for.
    assert result == {partner.pk: Decimal("1250.75")}


def test_revenue_leaves_partners_without_sales_out_of_the_result(acme: World) -> None:
    with tenant_context(acme.tenant):
        sale(acme.partner, date(2025, 3, 1), "10")
        result = REGISTRY[Metric.REVENUE]([acme.partner.pk, acme.unmanaged_partner.pk], H1_2025, "", "")
    assert result == {acme.partner.pk: Decimal("10.00")}


def test_revenue_growth_compares_with_the_same_span_of_the_previous_window(acme: World) -> None:
    grower, shrinker = acme.partner, acme.unmanaged_partner
    with tenant_context(acme.tenant):
        # Current span 2025-01-01 … 2025-06-30 (181 days); previous 2024-01-01 … 2024-06-29 (181 days, leap year).
        sale(grower, date(2024, 3, 1), "600")
        sale(grower, date(2024, 6, 29), "400")  # the previous span's last day
        sale(grower, date(2024, 9, 1), "9000")  # later in 2024: outside the previous span
        sale(grower, date(2023, 12, 31), "5000")  # before the previous window
        sale(grower, date(2024, 5, 5), "800", status=Activity.Status.PENDING)
        sale(grower, date(2025, 2, 1), "1500")
        sale(shrinker, date(2024, 2, 1), "1000")
        sale(shrinker, date(2025, 2, 1), "400")
        result = REGISTRY[Metric.REVENUE_GROWTH]([grower.pk, shrinker.pk], H1_2025, "", "")
    # Grower: (1500 − 1000) / 1000 · 100 = 50 %. Shrinker: −60 % is no growth: 0.
    assert result == {grower.pk: Decimal(50), shrinker.pk: Decimal(0)}


def test_revenue_growth_is_absent_without_previous_revenue(acme: World) -> None:
    newcomer, lapsed = acme.partner, acme.unmanaged_partner
    with tenant_context(acme.tenant):
        sale(newcomer, date(2025, 2, 1), "1500")  # nothing the year before: no growth to measure
        sale(lapsed, date(2024, 2, 1), "1000")  # nothing this year: −100 % → 0
        result = REGISTRY[Metric.REVENUE_GROWTH]([newcomer.pk, lapsed.pk], H1_2025, "", "")
    assert result == {lapsed.pk: Decimal(0)}
    assert result.get(newcomer.pk, Decimal(0)) == 0


def test_activity_count_counts_approved_activities_of_the_kind_and_code_in_the_window(acme: World) -> None:
    partner = acme.partner
    with tenant_context(acme.tenant):
        activity(partner, ActivityKind.TRAINING, date(2025, 2, 1), code="SEC-101")
        activity(partner, ActivityKind.TRAINING, date(2025, 3, 1), code="SEC-101")
        activity(partner, ActivityKind.TRAINING, date(2025, 4, 1), code="NET-200")
        activity(partner, ActivityKind.TRAINING, date(2025, 4, 2), code="SEC-101", status=Activity.Status.PENDING)
        activity(partner, ActivityKind.TRAINING, date(2025, 4, 3), code="SEC-101", status=Activity.Status.REJECTED)
        activity(partner, ActivityKind.TRAINING, date(2024, 12, 31), code="SEC-101")  # before the window
        activity(partner, ActivityKind.MARKETING, date(2025, 4, 4), code="SEC-101")  # another kind
        count = REGISTRY[Metric.ACTIVITY_COUNT]
        assert count([partner.pk], H1_2025, ActivityKind.TRAINING, "") == {partner.pk: Decimal(3)}
        assert count([partner.pk], H1_2025, ActivityKind.TRAINING, "SEC-101") == {partner.pk: Decimal(2)}
        assert count([partner.pk], H1_2025, ActivityKind.TRAINING, "NET-200") == {partner.pk: Decimal(1)}
        assert count([partner.pk], H1_2025, ActivityKind.TRAINING, "NOPE") == {}
        assert count([partner.pk], H1_2025, ActivityKind.MARKETING, "") == {partner.pk: Decimal(1)}


def test_deal_registrations_count_approved_registrations_in_the_window(acme: World) -> None:
    partner = acme.partner
    with tenant_context(acme.tenant):
        for day in (date(2025, 1, 10), date(2025, 2, 10), date(2025, 6, 30)):
            activity(partner, ActivityKind.DEAL_REGISTRATION, day, amount="50000")
        activity(partner, ActivityKind.DEAL_REGISTRATION, date(2025, 3, 1), status=Activity.Status.PENDING)
        activity(partner, ActivityKind.DEAL_REGISTRATION, date(2025, 7, 1))  # after the evaluation day
        sale(partner, date(2025, 3, 1), "100")  # a sale is not a registration
        result = REGISTRY[Metric.DEAL_REGISTRATIONS]([partner.pk], H1_2025, "", "")
    assert result == {partner.pk: Decimal(3)}


def test_valid_certifications_count_distinct_codes_valid_on_the_evaluation_day(acme: World) -> None:
    partner = acme.partner
    certify = ActivityKind.CERTIFICATION
    with tenant_context(acme.tenant):
        activity(partner, certify, date(2025, 2, 1), code="A")
        activity(partner, certify, date(2025, 5, 1), code="A")  # renewed: still one certification
        activity(partner, certify, date(2025, 1, 5), code="B", valid_until=date(2025, 6, 29))  # lapsed the day before
        activity(partner, certify, date(2025, 1, 5), code="C", valid_until=date(2025, 6, 30))  # valid through today
        activity(partner, certify, date(2022, 1, 5), code="D")  # earned before the window, never lapses: counts
        activity(partner, certify, date(2025, 7, 2), code="E")  # dated after the evaluation day
        activity(partner, certify, date(2025, 3, 1), code="F", status=Activity.Status.PENDING)
        activity(partner, ActivityKind.TRAINING, date(2025, 3, 1), code="G")  # a course is not a certification
        result = REGISTRY[Metric.VALID_CERTIFICATIONS]([partner.pk], H1_2025, "", "")
        only_c = REGISTRY[Metric.VALID_CERTIFICATIONS]([partner.pk], H1_2025, "", "C")
    assert result == {partner.pk: Decimal(3)}  # A, C, D
    assert only_c == {partner.pk: Decimal(1)}


def _post(account, kind: str, points: int, key: str, effective_at: datetime, reverses=None):  # noqa: ANN001, ANN202
    return points_post(
        account=account, kind=kind, points=points, idempotency_key=key, effective_at=effective_at, reverses=reverses
    )


def test_points_earned_nets_reversed_earnings_and_ignores_redemptions(acme: World) -> None:
    with tenant_context(acme.tenant):
        account = points_account_for(partner=acme.partner)
        _post(account, EntryKind.EARN, 100, "earn-1", at_noon(date(2025, 2, 1)))
        second = _post(account, EntryKind.EARN, 50, "earn-2", at_noon(date(2025, 3, 1)))
        _post(account, EntryKind.REVERSE, -20, "reverse-2", at_noon(date(2025, 3, 2)), reverses=second)
        redeemed = _post(account, EntryKind.REDEEM, -30, "redeem-1", at_noon(date(2025, 4, 1)))
        _post(account, EntryKind.REVERSE, 10, "unredeem-1", at_noon(date(2025, 4, 2)), reverses=redeemed)
        points_post(
            account=account,
            kind=EntryKind.ADJUST,
            points=1000,
            idempotency_key="adjust-1",
            memo="Goodwill",
            actor=acme.manager,
            effective_at=at_noon(date(2025, 4, 3)),
        )
        _post(account, EntryKind.EARN, 7, "earn-late", utc(2025, 7, 1))  # after the window
        result = REGISTRY[Metric.POINTS_EARNED]([acme.partner.pk], H1_2025, "", "")
    # 100 + 50 − 20; the redemption, its reversal and the adjustment are not earnings.
    assert result == {acme.partner.pk: Decimal(130)}


def test_points_earned_is_not_lowered_by_reversing_an_earning_from_before_the_window(acme: World) -> None:
    with tenant_context(acme.tenant):
        account = points_account_for(partner=acme.partner)
        old = _post(account, EntryKind.EARN, 70, "earn-old", at_noon(date(2024, 12, 15)))  # last year's window
        _post(account, EntryKind.EARN, 100, "earn-new", at_noon(date(2025, 2, 1)))
        _post(account, EntryKind.REVERSE, -70, "reverse-old", at_noon(date(2025, 2, 2)), reverses=old)
        other = points_account_for(partner=acme.unmanaged_partner)
        old_only = _post(other, EntryKind.EARN, 70, "other-earn-old", at_noon(date(2024, 12, 15)))
        _post(other, EntryKind.REVERSE, -70, "other-reverse-old", at_noon(date(2025, 2, 2)), reverses=old_only)
        result = REGISTRY[Metric.POINTS_EARNED]([acme.partner.pk, acme.unmanaged_partner.pk], H1_2025, "", "")
    # "Points earned in the window, net of reversals of those earnings": 100. The reversed 70 was never
    # part of this window's earnings, so it must not make them 30 — nor −70 for a partner with no other
    # earnings (a negative value would push its score below zero).
    assert result == {acme.partner.pk: Decimal(100)}


def test_metric_values_runs_each_distinct_spec_once_and_keys_results_by_spec(acme: World) -> None:
    with tenant_context(acme.tenant):
        sale(acme.partner, date(2025, 3, 1), "10")
        activity(acme.partner, ActivityKind.TRAINING, date(2025, 3, 1))
        specs = [
            (Metric.REVENUE, "", ""),
            (Metric.ACTIVITY_COUNT, ActivityKind.TRAINING, ""),
            (Metric.REVENUE, "", ""),
        ]
        result = metric_values(specs=specs, partner_ids=[acme.partner.pk], window=H1_2025)
    assert result == {
        (Metric.REVENUE, "", ""): {acme.partner.pk: Decimal("10.00")},
        (Metric.ACTIVITY_COUNT, ActivityKind.TRAINING, ""): {acme.partner.pk: Decimal(1)},
    }


# --- Tenant isolation -----------------------------------------------------------------------------------------


def _everything_for(world: World) -> None:
    """One row of every kind each metric reads, for the world's partner, inside its tenant."""
    partner = world.partner
    with tenant_context(world.tenant):
        sale(partner, date(2024, 2, 1), "100")
        sale(partner, date(2025, 2, 1), "500")
        activity(partner, ActivityKind.TRAINING, date(2025, 2, 1))
        activity(partner, ActivityKind.DEAL_REGISTRATION, date(2025, 2, 1))
        activity(partner, ActivityKind.CERTIFICATION, date(2025, 2, 1), code="A")
        _post(points_account_for(partner=partner), EntryKind.EARN, 40, f"earn-{world.tenant.slug}", utc(2025, 2, 1))


@pytest.mark.parametrize(
    ("metric", "kind", "acme_value"),
    [
        (Metric.REVENUE, "", Decimal(500)),
        (Metric.REVENUE_GROWTH, "", Decimal(400)),  # (500 − 100) / 100 · 100
        (Metric.ACTIVITY_COUNT, ActivityKind.TRAINING, Decimal(1)),
        (Metric.DEAL_REGISTRATIONS, "", Decimal(1)),
        (Metric.VALID_CERTIFICATIONS, "", Decimal(1)),
        (Metric.POINTS_EARNED, "", Decimal(40)),
    ],
)
def test_metric_never_counts_another_tenants_rows_even_for_its_partner_ids(
    acme: World, globex: World, metric: str, kind: str, acme_value: Decimal
) -> None:
    _everything_for(acme)
    _everything_for(globex)
    with tenant_context(acme.tenant):
        result = REGISTRY[metric]([acme.partner.pk, globex.partner.pk], H1_2025, kind, "")
    assert result == {acme.partner.pk: acme_value}
    with tenant_context(globex.tenant):
        assert REGISTRY[metric]([acme.partner.pk, globex.partner.pk], H1_2025, kind, "") == {
            globex.partner.pk: acme_value
        }
