"""Every analytics figure against numbers worked out by hand on a five-partner program; filters; the page."""

import csv
import io
import statistics
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from analytics.selectors import (
    DOWN,
    STAYED,
    UP,
    Filters,
    engagement_by_kind,
    incentive_cost_by_tier,
    inclusive_quartiles,
    last_activity_age,
    period_figures,
    period_figures_in_python,
    quartile_positions,
    retention_by_cohort,
    sales_per_partner,
    sales_spread,
    tier_progression_by_month,
    time_to_first_upgrade,
)
from loyalty.ledger.models import EntryKind
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from partners.currency import rate_set
from partners.models import Activity, ActivityKind, Partner
from tests.conftest import World
from tests.factories import PartnerFactory, PartnerTypeFactory
from tests.finance.factories import post
from tests.tiers.factories import activity, revenue_program, sale
from tiers.models import PartnerTier, Tier, TierChange

PERIOD = Filters(start=date(2026, 1, 1), end=date(2026, 6, 30))
PAGE = "/program/analytics/"
QUERY = "?start=2026-01-01&end=2026-06-30"
FIGURES = (
    "retention", "sales_by_tier", "sales_by_movement", "incentive_cost", "tier_progression", "time_to_upgrade",
    "engagement", "last_activity",
)  # fmt: skip


@dataclass
class Program:
    """Acme, 1 January – 30 June 2026, 0.01 a point:

    partner  joined       type         region  approved activity in the period      tier now   change in period
    Alpha    10 Nov 2025  reseller     EMEA    sales 1,000 (Feb) + 3,000 (Mar),     Gold       Silver→Gold 1 Mar (up)
                                               training (Apr); earned 400 pts (Feb)
    Bravo    20 Nov 2025  reseller     EMEA    sale 2,000 (Jan); earned 200 (Jan),  Silver     Gold→Silver 1 May (down)
                                               50 reversed (May)
    Charlie  5 Dec 2025   reseller     EMEA    — (a sale of 9,999 in Dec 2025)      Silver     — (stayed)
    Delta    14 Feb 2026  reseller     APAC    sale 500 USD (Mar), 700 EUR at 1.10 —→Silver 1 Apr (first tier: up)
                                               = 770 USD (Mar): 1,270
    Echo     1 Mar 2026   distributor  EMEA    — (a rejected sale of 8,000)         none       —
    Foxtrot  suspended: never counted
    """

    world: World
    alpha: Partner
    bravo: Partner
    charlie: Partner
    delta: Partner
    echo: Partner


@pytest.fixture
def program(acme: World) -> Program:
    return build_program(acme)


def build_program(acme: World) -> Program:
    tenant = acme.tenant
    with tenant_context(tenant):
        tiers = revenue_program().tiers
        silver, gold = tiers["Silver"], tiers["Gold"]
        alpha, bravo = acme.partner, acme.unmanaged_partner
        alpha.name, alpha.joined_at = "Alpha", date(2025, 11, 10)
        bravo.name, bravo.joined_at = "Bravo", date(2025, 11, 20)
        alpha.save(update_fields=["name", "joined_at"])
        bravo.save(update_fields=["name", "joined_at"])
        charlie = PartnerFactory(
            tenant=tenant, name="Charlie", partner_type=acme.partner_type, joined_at=date(2025, 12, 5)
        )
        delta = PartnerFactory(
            tenant=tenant, name="Delta", partner_type=acme.partner_type, region="APAC", joined_at=date(2026, 2, 14)
        )
        distributor = PartnerTypeFactory(tenant=tenant, code="distributor", name="Distributor")
        echo = PartnerFactory(tenant=tenant, name="Echo", partner_type=distributor, joined_at=date(2026, 3, 1))
        foxtrot = PartnerFactory(
            tenant=tenant, name="Foxtrot", partner_type=acme.partner_type, status=Partner.Status.SUSPENDED,
            joined_at=date(2025, 11, 1),
        )  # fmt: skip
        sale(alpha, date(2026, 2, 10), "1000")
        sale(alpha, date(2026, 3, 10), "3000")
        activity(alpha, ActivityKind.TRAINING, date(2026, 4, 2), code="T-1")
        sale(bravo, date(2026, 1, 15), "2000")
        sale(charlie, date(2025, 12, 20), "9999")
        sale(delta, date(2026, 3, 3), "500")
        euro = sale(delta, date(2026, 3, 4), "700")
        Activity.objects.filter(pk=euro.pk).update(currency="EUR")
        rate_set(currency="EUR", day=date(2026, 3, 4), rate=Decimal("1.10"), actor=None)  # converts it: 770.00 USD
        sale(echo, date(2026, 3, 5), "8000", status=Activity.Status.REJECTED)
        sale(foxtrot, date(2026, 3, 5), "5000")
        post(alpha, EntryKind.EARN, 400, "a:earn", date_at(2026, 2, 10))
        bravo_earned = post(bravo, EntryKind.EARN, 200, "b:earn", date_at(2026, 1, 15))
        post(bravo, EntryKind.REVERSE, -50, "b:reverse", date_at(2026, 5, 2), reverses=bravo_earned)
        for partner, tier in ((alpha, gold), (bravo, silver), (charlie, silver), (delta, silver)):
            PartnerTier.objects.create(partner=partner, tier=tier, since=date(2026, 1, 1))
        for partner, before, after, day in (
            (alpha, silver, gold, date(2026, 3, 1)),
            (bravo, gold, silver, date(2026, 5, 1)),
            (delta, None, silver, date(2026, 4, 1)),
            (charlie, None, silver, date(2025, 12, 31)),  # before the period
        ):
            TierChange.objects.create(
                partner=partner, from_tier=before, to_tier=after, cause=TierChange.Cause.EVALUATION, evaluated_on=day
            )
    return Program(acme, alpha, bravo, charlie, delta, echo)


def date_at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def test_retention_by_join_cohort(program: Program) -> None:
    with tenant_context(program.world.tenant):
        cohorts = retention_by_cohort(PERIOD)
    assert [(row.month, row.partners, row.active, row.retention, row.churn) for row in cohorts] == [
        (date(2025, 11, 1), 2, 2, Decimal("100.0"), Decimal("0.0")),  # Alpha and Bravo
        (date(2025, 12, 1), 1, 0, Decimal("0.0"), Decimal("100.0")),  # Charlie sold only before the period
        (date(2026, 2, 1), 1, 1, Decimal("100.0"), Decimal("0.0")),  # Delta joined mid-period and sold
        (date(2026, 3, 1), 1, 0, Decimal("0.0"), Decimal("100.0")),  # Echo's only sale was rejected
    ]


def test_sales_per_partner_quartiles_by_tier_and_movement(program: Program) -> None:
    with tenant_context(program.world.tenant):
        rows = sales_per_partner(PERIOD)
        tiers = [(row.group, row.partners, row.lower_quartile, row.median, row.upper_quartile, row.mean) for row in
                 sales_spread(rows, by="tier")]  # fmt: skip
    by_partner = {row.partner_id: (row.tier, row.movement, row.sales) for row in rows}
    assert by_partner == {
        program.alpha.pk: ("Gold", UP, Decimal("4000.00")),
        program.bravo.pk: ("Silver", DOWN, Decimal("2000.00")),
        program.charlie.pk: ("Silver", STAYED, Decimal("0")),
        program.delta.pk: ("Silver", UP, Decimal("1270.00")),  # 500 USD + 700 EUR × 1.10 = 770 USD
        program.echo.pk: ("", STAYED, Decimal("0")),
    }
    # Silver: 0, 1,270, 2,000 → median 1,270; Q1 = 0 + ½ × 1,270 = 635; Q3 = 1,270 + ½ × 730 = 1,635;
    # mean 3,270 / 3 = 1,090. In the tiers' rank (Silver below Gold), not alphabetically; no tier first.
    assert tiers == [
        ("", 1, 0, 0, 0, 0),
        ("Silver", 3, Decimal("635.00"), Decimal("1270.00"), Decimal("1635.00"), Decimal("1090.00")),
        ("Gold", 1, 4000, 4000, 4000, 4000),
    ]
    movements = [(row.group, row.partners, row.lower_quartile, row.median, row.upper_quartile) for row in
                 sales_spread(rows, by="movement")]  # fmt: skip
    # Up: 1,270, 4,000 → Q1 = 1,270 + ¼ × 2,730 = 1,952.50; median 2,635; Q3 = 1,270 + ¾ × 2,730 = 3,317.50.
    assert movements == [
        (UP, 2, Decimal("1952.50"), Decimal("2635.00"), Decimal("3317.50")),
        (STAYED, 2, 0, 0, 0),
        (DOWN, 1, 2000, 2000, 2000),
    ]


def test_incentive_cost_per_unit_of_sales_by_tier(program: Program) -> None:
    with tenant_context(program.world.tenant):
        cost = incentive_cost_by_tier(PERIOD, period_figures(PERIOD).sales_by_tier)
    # Gold: 400 points × 0.01 = 4.00 ÷ 4,000 = 0.0010. Silver: (200 − 50) × 0.01 = 1.50 ÷ 3,270 = 0.000459 → 0.0005.
    assert [(row.tier, row.sales, row.points, row.points_value, row.funds_paid, row.cost_per_unit) for row in cost] == [
        ("", 0, 0, 0, 0, None),
        ("Silver", Decimal("3270.00"), 150, Decimal("1.50"), 0, Decimal("0.0005")),
        ("Gold", Decimal("4000.00"), 400, Decimal("4.00"), 0, Decimal("0.0010")),
    ]


def test_tier_progression_per_month(program: Program) -> None:
    with tenant_context(program.world.tenant):
        months = tier_progression_by_month(PERIOD)
    assert [(row.month, row.up, row.down) for row in months] == [
        (date(2026, 3, 1), 1, 0),
        (date(2026, 4, 1), 1, 0),  # Delta's first tier
        (date(2026, 5, 1), 0, 1),
    ]


def test_engagement_shares(program: Program) -> None:
    with tenant_context(program.world.tenant):
        shares = {row.kind: (row.partners, row.of, row.share) for row in engagement_by_kind(PERIOD)}
    assert shares["sale"] == (3, 5, Decimal("60.0"))  # Alpha, Bravo, Delta of five
    assert shares["training"] == (1, 5, Decimal("20.0"))
    assert shares["certification"] == (0, 5, Decimal("0.0"))


def upgrade_bravo_and_charlie(program: Program) -> None:
    """Bravo went Silver→Gold on 20 Dec 2025 (before the period: still its first upgrade), then down in May;
    Charlie's upgrade of 15 July 2026 is after the period's end: not counted."""
    tiers = {tier.name: tier for tier in Tier.objects.all()}
    for partner, day in ((program.bravo, date(2025, 12, 20)), (program.charlie, date(2026, 7, 15))):
        TierChange.objects.create(
            partner=partner, from_tier=tiers["Silver"], to_tier=tiers["Gold"],
            cause=TierChange.Cause.EVALUATION, evaluated_on=day,
        )  # fmt: skip


def test_time_to_first_upgrade_by_join_cohort(program: Program) -> None:
    with tenant_context(program.world.tenant):
        upgrade_bravo_and_charlie(program)
        cohorts = time_to_first_upgrade(PERIOD)
    # November 2025: Alpha joined 10 Nov, up 1 Mar 2026 = 111 days; Bravo joined 20 Nov, up 20 Dec = 30 days.
    # Quartiles of 30, 111: Q1 = 30 + ¼ × 81 = 50.25 → 50.3; median 70.5; Q3 = 30 + ¾ × 81 = 90.75 → 90.8.
    # Charlie (Dec), Delta (Feb: a first placement is not an upgrade) and Echo (Mar) are counted, not timed.
    assert [
        (row.month, row.partners, row.upgraded, row.lower_quartile, row.median, row.upper_quartile) for row in cohorts
    ] == [  # fmt: skip
        (date(2025, 11, 1), 2, 2, Decimal("50.3"), Decimal("70.5"), Decimal("90.8")),
        (date(2025, 12, 1), 1, 0, None, None, None),
        (date(2026, 2, 1), 1, 0, None, None, None),
        (date(2026, 3, 1), 1, 0, None, None, None),
    ]


def test_last_activity_age_at_the_periods_end(program: Program) -> None:
    with tenant_context(program.world.tenant):
        ages = last_activity_age(PERIOD)
    # Days to 30 June 2026 from each last approved activity: Alpha's training 2 Apr = 89; Bravo's sale 15 Jan = 166;
    # Delta's EUR sale 4 Mar = 118; Charlie's sale 20 Dec 2025 = 192 (before the period: still its last); Echo's
    # only sale was rejected: never. Of five.
    assert [(row.lowest, row.highest, row.partners, row.share) for row in ages] == [
        (0, 30, 0, Decimal("0.0")),
        (31, 90, 1, Decimal("20.0")),
        (91, 180, 2, Decimal("40.0")),
        (181, 365, 1, Decimal("20.0")),
        (366, None, 0, Decimal("0.0")),
        (None, None, 1, Decimal("20.0")),
    ]


@pytest.mark.parametrize(
    ("filters", "cohorts"),
    [
        ({"tier_name": "Silver"}, [(date(2025, 11, 1), 1, 1), (date(2025, 12, 1), 1, 0), (date(2026, 2, 1), 1, 1)]),
        ({"region": "APAC"}, [(date(2026, 2, 1), 1, 1)]),
        ({"account_manager_id": "am"}, [(date(2025, 11, 1), 1, 1)]),
        ({"partner_type_id": "distributor"}, [(date(2026, 3, 1), 1, 0)]),
        # A period that ends before Delta and Echo joined leaves them out of every cohort.
        ({"end": date(2026, 1, 31)}, [(date(2025, 11, 1), 2, 1), (date(2025, 12, 1), 1, 0)]),
    ],
)
def test_filters_select_the_partners(program: Program, filters: dict, cohorts: list) -> None:
    world = program.world
    if filters.get("account_manager_id") == "am":
        filters["account_manager_id"] = world.account_manager.pk
    if filters.get("partner_type_id") == "distributor":
        filters["partner_type_id"] = program.echo.partner_type_id
    with tenant_context(world.tenant):
        rows = retention_by_cohort(Filters(**({"start": PERIOD.start, "end": PERIOD.end} | filters)))
    assert [(row.month, row.partners, row.active) for row in rows] == cohorts


@pytest.mark.parametrize("role", [Role.PROGRAM_MANAGER, Role.OWNER])
def test_program_staff_see_the_figures(program: Program, client_for, role: Role) -> None:
    response = client_for(program.world, program.world.user_for(role)).get(PAGE + QUERY + "&tier=Silver")
    assert response.status_code == 200
    assert [row[:3] for row in response.context["tables"]["retention"][1]] == [
        ["2025-11", 1, 1], ["2025-12", 1, 0], ["2026-02", 1, 1]
    ]  # fmt: skip
    assert b"Retention by join cohort" in response.content
    assert b'role="img"' in response.content
    # Among the Silver partners nobody has upgraded: no chart of empty bars, only the table.
    assert b'id="upgrade-chart-title"' not in response.content
    assert b'id="age-chart-title"' in response.content


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER, Role.FINANCE])
def test_other_roles_are_refused(program: Program, client_for, role: Role) -> None:
    client = client_for(program.world, program.world.user_for(role))
    for path in (PAGE, *(PAGE + f"{figure}.csv" for figure in FIGURES)):
        response = client.get(path)
        assert response.status_code == 403
        assert b"Alpha" not in response.content


def test_outsiders_and_another_tenants_staff_are_refused(program: Program, globex: World, outsider, client_for):
    for user in (outsider, globex.owner, globex.manager):
        for path in (PAGE, *(PAGE + f"{figure}.csv" for figure in FIGURES)):
            response = client_for(program.world, user).get(path)
            assert response.status_code == 403, path
            assert b"Alpha" not in response.content


def test_another_tenant_sees_only_its_own_partners(program: Program, globex: World, client_for) -> None:
    response = client_for(globex, globex.manager).get(PAGE)  # the last 365 days: its partners joined today
    assert response.status_code == 200
    assert response.context["tables"]["engagement"][1][0][1:3] == [0, 2]  # globex's two partners, no activity
    # Acme's account manager is not a choice on Globex's filter; naming it is a form error.
    assert "am@acme.test" not in response.content.decode()
    refused = client_for(globex, globex.manager).get(PAGE + f"?account_manager={program.world.account_manager.pk}")
    assert refused.status_code == 400
    assert refused.context["form"].errors["account_manager"]


def test_each_figure_downloads_as_csv(program: Program, client_for) -> None:
    client = client_for(program.world, program.world.manager)
    response = client.get(PAGE + "sales_by_tier.csv" + QUERY)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Tier", "Partners", "Lower quartile", "Median", "Upper quartile", "Mean", "Total", "Currency"]
    assert rows[2] == ["Silver", "3", "635.00", "1270.00", "1635.00", "1090.00", "3270.00", "USD"]  # rank order
    for figure in ("retention", "sales_by_movement", "incentive_cost", "tier_progression", "engagement"):
        assert client.get(PAGE + f"{figure}.csv" + QUERY).status_code == 200
    ages = list(csv.reader(io.StringIO(client.get(PAGE + "last_activity.csv" + QUERY).content.decode())))
    assert ages[0] == ["Last approved activity", "Partners", "Of", "Share %"]
    assert ages[1:] == [
        ["0–30 days", "0", "5", "0.0"], ["31–90 days", "1", "5", "20.0"], ["91–180 days", "2", "5", "40.0"],
        ["181–365 days", "1", "5", "20.0"], ["Over a year", "0", "5", "0.0"], ["Never", "1", "5", "20.0"],
    ]  # fmt: skip
    assert b'id="upgrade-chart-title"' in client.get(PAGE + QUERY).content  # Alpha upgraded: a chart
    upgrades = list(csv.reader(io.StringIO(client.get(PAGE + "time_to_upgrade.csv" + QUERY).content.decode())))
    assert upgrades[1] == ["2025-11", "2", "1", "111", "111", "111"]  # Alpha: 10 Nov 2025 → 1 Mar 2026
    assert client.get(PAGE + "nothing.csv").status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?start=2026-13-01", "start"),
        ("?start=2026-06-01&end=2026-01-01", "start"),
        ("?start=2020-01-01&end=2026-01-01", "start"),
        ("?end=1800-01-01", "end"),
        ("?tier=Nope", "tier"),
        ("?region=Mars", "region"),
        ("?partner_type=999999", "partner_type"),
        ("?partner_type=abc", "partner_type"),
        ("?account_manager=x", "account_manager"),
        ("?start=2026-01-01%00", "start"),
    ],
)
def test_bad_filters_are_form_errors(program: Program, client_for, query: str, field: str) -> None:
    for path in (PAGE, PAGE + "retention.csv"):
        response = client_for(program.world, program.world.manager).get(path + query)
        assert response.status_code == 400
        assert response.context["form"].errors[field]


def test_query_count_does_not_grow_with_partners(program: Program, client_for, django_assert_max_num_queries) -> None:
    client = client_for(program.world, program.world.manager)
    client.get(PAGE)  # warm the session
    # tenant by host, session, user, membership; filter choices: regions, tiers, partner types, account managers;
    # retention; sales per partner; points issued; funds paid; progression; engagement: partners, kinds; time to
    # first upgrade; last-activity age; the header's unread count.
    with django_assert_max_num_queries(20):
        client.get(PAGE + QUERY)
    world = program.world
    with tenant_context(world.tenant):
        for index in range(40):
            partner = PartnerFactory(tenant=world.tenant, partner_type=world.partner_type, joined_at=date(2026, 1, 2))
            sale(partner, date(2026, 2, 1), str(100 + index))
    with django_assert_max_num_queries(20):
        response = client.get(PAGE + QUERY)
    assert response.context["tables"]["engagement"][1][0][1:3] == [43, 45]


def test_the_pages_summary_in_sql_gives_the_hand_computed_figures(program: Program) -> None:
    """`period_figures` groups and picks the quartiles' values in SQL on PostgreSQL: the same figures as the Python
    functions above (joined mid-period, no activity in the period, a rejected sale, a first placement)."""
    with tenant_context(program.world.tenant):
        upgrade_bravo_and_charlie(program)
        summary = period_figures(PERIOD)
        assert summary == period_figures_in_python(PERIOD)
    # The hand-computed values of the tests above, through SQL.
    assert [(row.month, row.partners, row.active) for row in summary.retention] == [
        (date(2025, 11, 1), 2, 2), (date(2025, 12, 1), 1, 0), (date(2026, 2, 1), 1, 1), (date(2026, 3, 1), 1, 0)
    ]  # fmt: skip
    assert [
        (row.group, row.partners, row.lower_quartile, row.median, row.upper_quartile, row.mean)
        for row in summary.by_tier
    ] == [  # fmt: skip
        ("", 1, 0, 0, 0, 0),
        ("Silver", 3, Decimal("635.00"), Decimal("1270.00"), Decimal("1635.00"), Decimal("1090.00")),
        ("Gold", 1, 4000, 4000, 4000, 4000),
    ]
    assert [(row.group, row.lower_quartile, row.median, row.upper_quartile) for row in summary.by_movement] == [
        (UP, Decimal("1952.50"), Decimal("2635.00"), Decimal("3317.50")), (STAYED, 0, 0, 0), (DOWN, 2000, 2000, 2000)
    ]  # fmt: skip
    assert summary.sales_by_tier == {"": 0, "Gold": Decimal("4000.00"), "Silver": Decimal("3270.00")}
    assert [(row.kind, row.partners) for row in summary.engagement][:3] == [
        ("sale", 3), ("deal_registration", 0), ("training", 1)
    ]  # fmt: skip
    assert [(row.partners, row.upgraded, row.lower_quartile, row.median, row.upper_quartile)
            for row in summary.upgrades][0] == (2, 2, Decimal("50.3"), Decimal("70.5"), Decimal("90.8"))  # fmt: skip
    assert [row.partners for row in summary.activity_age] == [0, 1, 2, 1, 0, 1]


def test_quartiles_interpolate_as_the_standard_library_does() -> None:
    for values in ([Decimal("7.77")], [1, 2], [3, 1, 2], [Decimal("0.01"), Decimal("10"), Decimal("3.33"), 0],
                   [5, 1, 4, 1, 9], [2, 7, 1, 8, 2, 8], [Decimal("1.05")] * 3 + [Decimal("2.10")] * 4):  # fmt: skip
        ordered = sorted(values)
        expected = ordered * 3 if len(ordered) == 1 else statistics.quantiles(ordered, n=4, method="inclusive")
        assert list(inclusive_quartiles(len(ordered), ordered.__getitem__)) == expected[:3]
    # Five values: positions 1, 2, 3 exactly (no interpolation); six: 1¼, 2½, 3¾.
    assert quartile_positions(5) == ((1, 0), (2, 0), (3, 0))
    assert quartile_positions(6) == ((1, 1), (2, 2), (3, 3))


def test_sql_quartiles_of_groups_of_one_to_seven_partners(acme: World) -> None:
    """Every size up to 7 (each position and quarter of the interpolation), amounts in cents, ties and zeros."""
    amounts = ["19.99", "0", "1234.57", "5.05", "5.05", "999.01", "0.03"]
    with tenant_context(acme.tenant):
        for size in range(1, 8):
            for amount in amounts[:size]:
                partner = PartnerFactory(
                    tenant=acme.tenant, partner_type=acme.partner_type, region=f"R{size}", joined_at=date(2026, 1, 5)
                )
                if amount != "0":
                    sale(partner, date(2026, 2, 3), amount)
        for size in range(1, 8):
            (spread,) = period_figures(replace(PERIOD, region=f"R{size}")).by_tier
            ordered = sorted(Decimal(amount) for amount in amounts[:size])
            quartiles = ordered * 3 if size == 1 else statistics.quantiles(ordered, n=4, method="inclusive")
            assert (spread.partners, spread.total) == (size, sum(ordered))
            assert [spread.lower_quartile, spread.median, spread.upper_quartile] == [
                Decimal(value).quantize(Decimal("0.01")) for value in quartiles
            ], size
