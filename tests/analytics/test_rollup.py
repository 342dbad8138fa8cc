"""The nightly rollup gives exactly the live figures: on the hand-computed program, on the demo, at month edges,
in another time zone, and after late changes to closed months (approval, rejection, a rate correction)."""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.core.management import call_command
from django.utils import timezone

from analytics.models import KIND_COLUMNS, PartnerMonth, RollupState
from analytics.selectors import (
    Filters,
    Freshness,
    PartnerPeriod,
    engagement_by_kind,
    last_activity_age,
    partners_in_period,
    period_figures,
    period_figures_in_python,
    reading_plan,
    retention_by_cohort,
    rollup_freshness,
    sales_spread,
    time_to_first_upgrade,
)
from analytics.services import CHANGE_OVERLAP, rollup_refresh
from analytics.tasks import rollup_all_tenants
from earning.services import activity_approve, activity_reject
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant
from partners.currency import rate_set
from partners.models import Activity, ActivityKind, ActivityStatusChange, ExchangeRate, Partner
from partners.services import activity_record
from tests.analytics.test_figures import PAGE, PERIOD, QUERY, Program, build_program
from tests.conftest import World
from tests.factories import PartnerFactory
from tests.tiers.factories import sale

LIVE = Freshness()
# Periods that start and end on month edges, inside months (either half), in one month, across the year.
PERIODS = [
    PERIOD,
    Filters(start=date(2026, 1, 16), end=date(2026, 3, 4)),  # the first month's head is shorter: subtracted
    Filters(start=date(2026, 1, 5), end=date(2026, 3, 31)),  # the first month's tail is shorter: read live
    Filters(start=date(2026, 3, 2), end=date(2026, 3, 9)),  # one month
    Filters(start=date(2025, 12, 21), end=date(2026, 2, 28)),
    Filters(start=date(2025, 11, 1), end=date(2026, 12, 31)),
    Filters(start=date(2026, 2, 1), end=date(2026, 2, 10), region="EMEA"),
    Filters(start=date(2025, 12, 6), end=date(2026, 5, 2), tier_name="Silver"),
]


@pytest.fixture
def program(acme: World) -> Program:
    return build_program(acme)


def figures(filters: Filters, freshness: Freshness) -> dict:
    """Every activity-based figure, and the rows they come from, as comparable values."""
    rows = partners_in_period(filters, freshness)
    return {
        "rows": sorted(_row(row) for row in rows),
        "retention": retention_by_cohort(filters, rows),
        "by_tier": sales_spread(rows, by="tier"),
        "by_movement": sales_spread(rows, by="movement"),
        "engagement": engagement_by_kind(filters, rows),
        "upgrades": time_to_first_upgrade(filters, rows),
        "ages": last_activity_age(filters, rows),
    }


def _row(row: PartnerPeriod) -> tuple:
    return (
        row.partner_id, row.tier, row.movement, row.first_upgrade_on, row.activities, row.sales,
        sorted(row.kinds), row.last_activity_at,
    )  # fmt: skip


def changes_age(moment: datetime) -> None:
    """Date every status change and rate entry back to `moment`, as if made before then."""
    ActivityStatusChange.objects.update(created_at=moment)
    ExchangeRate.objects.update(updated_at=moment)


def month_by_month() -> dict[tuple[int, date], tuple[int, Decimal, int, int]]:
    """Each partner's months that had approved activities, with that month's own (activities, sales, sales count,
    trainings): the difference of its running totals from the month before. Checks the rows are consecutive."""
    months: dict[tuple[int, date], tuple[int, Decimal, int, int]] = {}
    previous: dict[int, tuple[date, tuple]] = {}
    for row in PartnerMonth.objects.order_by("partner", "month"):
        totals = (row.activities, row.sales, row.sales_count, row.trainings)
        month_before, before = previous.get(row.partner_id, (None, (0, Decimal(0), 0, 0)))
        assert month_before in (None, row.month - relativedelta(months=1)), "a month is missing"
        own = tuple(total - earlier for total, earlier in zip(totals, before, strict=True))
        if own[0]:
            months[row.partner_id, row.month] = own  # type: ignore[assignment]
        previous[row.partner_id] = (row.month, totals)
    return months


def months_from(first: date, until: date) -> int:
    """How many months a refresh rewrites from `first` up to the open month `until`."""
    difference = relativedelta(until, first)
    return difference.years * 12 + difference.months


def refreshed(moment: datetime) -> Freshness:
    rollup_refresh(now=moment)
    return rollup_freshness()


def test_every_activity_kind_has_a_rollup_column() -> None:
    assert set(KIND_COLUMNS) == set(ActivityKind)
    assert {field.name for field in PartnerMonth._meta.fields} >= set(KIND_COLUMNS.values())


def test_the_rollup_holds_the_hand_computed_months(program: Program) -> None:
    with tenant_context(program.world.tenant):
        state = rollup_refresh(now=datetime(2026, 7, 15, 12, tzinfo=UTC))
        rows = month_by_month()
        # Running totals: Alpha's row of each month from its first approved activity (February) to the last closed
        # one (June), with or without activity that month: 1,000 in February, + 3,000 in March, + a training in April.
        alpha = list(
            PartnerMonth.objects.filter(partner=program.alpha)
            .order_by("month")
            .values_list("month", "activities", "sales", "sales_count", "trainings")
        )
        assert alpha == [
            (date(2026, 2, 1), 1, Decimal("1000.00"), 1, 0),
            (date(2026, 3, 1), 2, Decimal("4000.00"), 2, 0),
            (date(2026, 4, 1), 3, Decimal("4000.00"), 2, 1),
            (date(2026, 5, 1), 3, Decimal("4000.00"), 2, 1),
            (date(2026, 6, 1), 3, Decimal("4000.00"), 2, 1),
        ]
    assert (state.covered_until, state.months_rebuilt) == (date(2026, 7, 1), None)
    world = program.world
    # Approved activities only, per month (UTC program): Echo's rejected sale and Foxtrot (suspended, still rolled
    # up: the filters leave it out when reading) — Delta's March: 500 USD + 700 EUR × 1.10 = 1,270.00 in 2 sales.
    with tenant_context(world.tenant):
        foxtrot = Partner.objects.get(name="Foxtrot").pk
    assert rows == {
        (program.alpha.pk, date(2026, 2, 1)): (1, Decimal("1000.00"), 1, 0),
        (program.alpha.pk, date(2026, 3, 1)): (1, Decimal("3000.00"), 1, 0),
        (program.alpha.pk, date(2026, 4, 1)): (1, Decimal("0.00"), 0, 1),
        (program.bravo.pk, date(2026, 1, 1)): (1, Decimal("2000.00"), 1, 0),
        (program.charlie.pk, date(2025, 12, 1)): (1, Decimal("9999.00"), 1, 0),
        (program.delta.pk, date(2026, 3, 1)): (2, Decimal("1270.00"), 2, 0),
        (foxtrot, date(2026, 3, 1)): (1, Decimal("5000.00"), 1, 0),
    }
    assert world.tenant.pk == PartnerMonth.all_tenants.values_list("tenant", flat=True).distinct().get()


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 7, 15, 12, tzinfo=UTC),  # every month of the program closed
        datetime(2026, 3, 20, 12, tzinfo=UTC),  # March open: read live, earlier months rolled up
        datetime(2026, 1, 1, 0, 30, tzinfo=UTC),  # only 2025 rolled up
    ],
)
def test_rollup_figures_equal_the_live_ones_on_the_hand_computed_program(program: Program, moment: datetime) -> None:
    with tenant_context(program.world.tenant):
        freshness = refreshed(moment)
        for filters in PERIODS:
            assert figures(filters, freshness) == figures(filters, LIVE), filters
        # and the hand-computed values of tests/analytics/test_figures.py, through the rollup
        rows = {row.partner_id: (row.tier, row.sales) for row in partners_in_period(PERIOD, freshness)}
    assert rows[program.delta.pk] == ("Silver", Decimal("1270.00"))  # 500 USD + 700 EUR at 1.10
    assert rows[program.alpha.pk] == ("Gold", Decimal("4000.00"))
    assert rows[program.charlie.pk] == ("Silver", 0)  # no activity in the period
    assert rows[program.echo.pk] == ("", 0)  # joined mid-period; its only sale was rejected


def test_the_reading_plan_subtracts_the_shorter_head_and_reads_the_open_month_live() -> None:
    freshness = Freshness(covered_until=date(2026, 12, 1), refreshed_at=datetime(2026, 12, 6, 2, tzinfo=UTC))
    zone = UTC
    plan = reading_plan(Filters(start=date(2025, 12, 7), end=date(2026, 12, 6)), freshness, zone)
    # December 2025 from the rollup less its first six days (live); January–November rolled; December 2026 live.
    assert plan.rolled == (date(2025, 12, 1), date(2026, 12, 1))
    assert plan.subtracted == (datetime(2025, 12, 1, tzinfo=UTC), datetime(2025, 12, 7, tzinfo=UTC))
    assert plan.added == ((datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)),)
    assert plan.history == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC))
    # A period ending mid-month in a closed month reads that month's head live: the rollup has whole months.
    plan = reading_plan(Filters(start=date(2026, 2, 1), end=date(2026, 5, 10)), freshness, zone)
    assert plan.rolled == (date(2026, 2, 1), date(2026, 5, 1))
    assert plan.added == ((datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 11, tzinfo=UTC)),)
    assert plan.subtracted is None
    # Without a rollup, everything is live.
    assert reading_plan(PERIOD, LIVE, zone).rolled is None


@pytest.mark.parametrize("moment", [None, datetime(2026, 3, 20, 12, tzinfo=UTC)])
def test_the_summary_in_sql_equals_the_figures_of_the_partners_rows(program: Program, moment: datetime | None) -> None:
    """The page's `period_figures` (grouped in SQL) against the Python figures, live and through the rollup."""
    with tenant_context(program.world.tenant):
        freshness = LIVE if moment is None else refreshed(moment)
        for filters in PERIODS:
            assert period_figures(filters, freshness) == period_figures_in_python(filters, freshness), filters


def test_months_are_cut_in_the_programs_time_zone(program: Program) -> None:
    tenant = program.world.tenant
    tenant.time_zone = "America/Los_Angeles"
    tenant.save(update_fields=["time_zone"])
    with tenant_context(tenant):
        # 1 March 05:00 UTC is still 28 February in Los Angeles: February's row, not March's.
        sale(program.bravo, datetime(2026, 3, 1, 5, tzinfo=UTC), "100")
        freshness = refreshed(datetime(2026, 7, 15, 12, tzinfo=UTC))
        assert month_by_month()[program.bravo.pk, date(2026, 2, 1)][1] == Decimal("100.00")
        for filters in PERIODS:
            assert figures(filters, freshness) == figures(filters, LIVE), filters


def test_a_late_approval_and_a_late_rejection_in_closed_months_are_picked_up(program: Program) -> None:
    world = program.world
    with tenant_context(world.tenant):
        first = rollup_refresh()
        # After the refresh: a sale of February 2026 recorded pending, then approved; Alpha's March sale voided.
        recorded = activity_record(
            partner=program.charlie, kind=ActivityKind.SALE, occurred_at=datetime(2026, 2, 3, 9, tzinfo=UTC),
            source=Activity.Source.ADMIN, amount=Decimal("640"), currency="USD",
        )  # fmt: skip
        activity_approve(activity=recorded.activity, actor=world.manager)
        voided = Activity.objects.get(partner=program.alpha, kind=ActivityKind.SALE, amount=Decimal("3000"))
        activity_reject(activity=voided, actor=world.manager, reason="Duplicate invoice")
        stale = rollup_freshness()
        assert figures(PERIOD, stale) != figures(PERIOD, LIVE)  # until the next refresh, the rollup lags
        state = rollup_refresh(now=first.refreshed_at + timedelta(days=1))
        # The months touched since the last refresh are February and March 2026: the running totals are rewritten
        # from February, the earliest, to the last closed month.
        assert state.months_rebuilt == months_from(date(2026, 2, 1), state.covered_until)
        assert figures(PERIOD, rollup_freshness()) == figures(PERIOD, LIVE)
        rows = month_by_month()
        assert rows[program.charlie.pk, date(2026, 2, 1)][1] == Decimal("640.00")
        # Alpha's only March activity was the voided sale: March adds nothing to its totals any more.
        assert (program.alpha.pk, date(2026, 3, 1)) not in rows
        # The rows rewritten from February on are those a full rebuild writes.
        columns = ["partner", "month", "activities", "sales", *KIND_COLUMNS.values(), "last_occurred_at"]
        incremental = sorted(PartnerMonth.objects.values_list(*columns))
        rollup_refresh(now=state.refreshed_at, full=True)
        assert sorted(PartnerMonth.objects.values_list(*columns)) == incremental


def test_a_change_stamped_before_the_last_refresh_but_committed_after_it_is_picked_up(program: Program) -> None:
    """A review whose transaction was still open when the refresh began carries an earlier timestamp."""
    world = program.world
    with tenant_context(world.tenant):
        first = rollup_refresh()
        changes_age(first.refreshed_at - CHANGE_OVERLAP - timedelta(hours=1))
        pending = sale(program.charlie, date(2026, 4, 8), "75", status=Activity.Status.PENDING)
        activity_approve(activity=pending, actor=world.manager)
        ActivityStatusChange.objects.filter(activity=pending).update(
            created_at=first.refreshed_at - CHANGE_OVERLAP + timedelta(minutes=1)
        )
        state = rollup_refresh(now=first.refreshed_at + timedelta(days=1))
        assert state.months_rebuilt == months_from(date(2026, 4, 1), state.covered_until)  # April 2026 on
        assert figures(PERIOD, rollup_freshness()) == figures(PERIOD, LIVE)


def test_a_rate_correction_rebuilds_its_month(program: Program) -> None:
    with tenant_context(program.world.tenant):
        first = rollup_refresh()
        rate_set(currency="EUR", day=date(2026, 3, 4), rate=Decimal("1.20"), actor=None)  # 700 EUR → 840.00 USD
        state = rollup_refresh(now=first.refreshed_at + timedelta(days=1))
        assert state.months_rebuilt == months_from(date(2026, 3, 1), state.covered_until)  # March 2026 on
        rows = {row.partner_id: row.sales for row in partners_in_period(PERIOD, rollup_freshness())}
        assert rows[program.delta.pk] == Decimal("1340.00")  # 500 + 840
        assert figures(PERIOD, rollup_freshness()) == figures(PERIOD, LIVE)


def test_a_refresh_with_nothing_new_rebuilds_nothing_and_a_new_month_closes(program: Program) -> None:
    with tenant_context(program.world.tenant):
        first = rollup_refresh(now=datetime(2026, 12, 6, 2, tzinfo=UTC))
        count = PartnerMonth.objects.count()
        later = first.refreshed_at + CHANGE_OVERLAP + timedelta(days=1)
        changes_age(first.refreshed_at - CHANGE_OVERLAP - timedelta(hours=1))
        again = rollup_refresh(now=later)
        assert (again.months_rebuilt, again.rows_written, PartnerMonth.objects.count()) == (0, 0, count)
        january = rollup_refresh(now=datetime(2027, 1, 1, 2, tzinfo=UTC))
        assert (january.covered_until, january.months_rebuilt) == (date(2027, 1, 1), 1)  # December 2026 closed


def test_the_rollup_matches_the_live_figures_on_the_demo(db) -> None:
    call_command("seed_demo", "--no-banner", stdout=io.StringIO())
    for tenant in Tenant.objects.all():
        with tenant_context(tenant):
            today = timezone.localdate()
            freshness = refreshed(datetime.now(UTC))
            assert PartnerMonth.objects.exists()
            for filters in (
                Filters(start=today - timedelta(days=364), end=today),
                Filters(start=today - timedelta(days=89), end=today),
                Filters(start=today.replace(day=1) - timedelta(days=400), end=today.replace(day=1) - timedelta(days=1)),
                Filters(start=today - timedelta(days=700), end=today - timedelta(days=45)),
            ):
                live = figures(filters, LIVE)
                assert figures(filters, freshness) == live, (tenant.slug, filters)
                assert any(row[4] for row in live["rows"])  # the comparison saw activity


def test_the_nightly_task_refreshes_each_tenant_in_its_own_rows(program: Program, globex: World) -> None:
    with tenant_context(globex.tenant):
        sale(globex.partner, date(2026, 2, 2), "10")
    assert rollup_all_tenants() == Tenant.objects.filter(is_active=True).count()
    assert RollupState.all_tenants.filter(tenant__in=[program.world.tenant, globex.tenant]).count() == 2
    with tenant_context(globex.tenant):
        assert month_by_month() == {(globex.partner.pk, date(2026, 2, 1)): (1, Decimal("10.00"), 1, 0)}
    with tenant_context(program.world.tenant):
        assert globex.partner.pk not in set(PartnerMonth.objects.values_list("partner", flat=True))


def test_the_command_refreshes_on_demand(program: Program) -> None:
    output = io.StringIO()
    call_command("analytics_rollup", "--tenant", program.world.tenant.slug, "--full", stdout=output)
    assert output.getvalue().startswith("rolled up every month before ")
    with tenant_context(program.world.tenant):
        assert len(month_by_month()) == 7


def test_the_page_says_how_fresh_the_figures_are(program: Program, client_for) -> None:
    client = client_for(program.world, program.world.manager)
    assert b"Activity figures are read live (no nightly summary yet)." in client.get(PAGE + QUERY).content
    with tenant_context(program.world.tenant):
        rollup_refresh(now=datetime(2026, 12, 6, 2, tzinfo=UTC))
    response = client.get(PAGE + QUERY)
    assert b"Activity figures before December 2026 are as of Dec. 6, 2026, 2 a.m." in response.content
    manager = program.world.manager
    manager.language = "es"
    manager.save(update_fields=["language"])
    spanish = client.get(PAGE + QUERY).content.decode()
    assert "anteriores a diciembre 2026 son las del 6 de diciembre de 2026 a las 02:00" in spanish


def test_query_count_with_the_rollup_does_not_grow_with_partners(
    program: Program, client_for, django_assert_max_num_queries
) -> None:
    world = program.world
    with tenant_context(world.tenant):
        rollup_refresh(now=datetime(2026, 4, 10, 2, tzinfo=UTC))  # Jan–Mar rolled up, April–June live
    client = client_for(world, world.manager)
    client.get(PAGE)  # warm the session
    # tenant by host, session, user, membership; filter choices: regions, tiers, partner types, account managers;
    # the rollup's state; partners; their tier changes; their rollup rows; their live activities; the tiers' ranks
    # (to list them in rank order); points issued; funds paid; progression; the header's unread count.
    with django_assert_max_num_queries(18):
        client.get(PAGE + QUERY)
    with tenant_context(world.tenant):
        for index in range(40):
            partner = PartnerFactory(tenant=world.tenant, partner_type=world.partner_type, joined_at=date(2026, 1, 2))
            sale(partner, date(2026, 2, 1), str(100 + index))
            sale(partner, date(2026, 5, 1), str(100 + index))
        rollup_refresh(now=datetime(2026, 4, 10, 2, tzinfo=UTC), full=True)
    with django_assert_max_num_queries(18):
        response = client.get(PAGE + QUERY)
    assert response.context["tables"]["engagement"][1][0][1:3] == [43, 45]


def test_a_partners_kinds_are_the_bits_of_its_mask() -> None:
    row = PartnerPeriod(1, date(2026, 1, 1), "", kinds_mask=0b101)
    assert row.kinds == {ActivityKind.SALE, ActivityKind.TRAINING}
