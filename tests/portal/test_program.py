"""The program dashboard: every KPI against numbers worked out by hand on a five-partner program; roles; queries."""

import io
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from loyalty.ledger.models import EntryKind
from loyalty.ledger.services import points_account_for, points_post
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Membership, Role, Tenant
from partners.models import ActivityKind, Partner
from tests.conftest import World
from tests.factories import PartnerFactory
from tests.rewards.factories import give_points
from tests.tiers.factories import Program, activity, revenue_program, sale
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish

PAGE = "/program/"


@dataclass
class Fixture:
    """Acme on the revenue program (score = revenue in the last 12 months / 1,000; Silver 40, Gold 65,
    Platinum 85; one step down after 30 days of grace), evaluated 100 days ago and today:

    partner  sales (days ago)            earlier run (−100 d)    today's run              other activity
    Alpha    60,000 (20)                 0     Registered        60.00 Silver (up)        —
    Bravo    70,000 (200)                70.00 Gold              70.00 Gold               —
    Charlie  70,000 (400)                70.00 Gold              0.00  Gold (in grace)    training (10)
    Delta    45,000 (150), 25,000 (20)   45.00 Silver            70.00 Gold (up)          —
    Echo     —                           0     Registered        0.00  Registered         —
    Foxtrot  suspended: neither enrolled nor scored

    Alpha is acme.partner (managed by acme's account manager), Bravo acme.unmanaged_partner.
    """

    world: World
    program: Program
    alpha: Partner
    bravo: Partner
    charlie: Partner
    delta: Partner
    echo: Partner
    foxtrot: Partner


def evaluate(day) -> None:
    tenant_evaluate(evaluated_on=day, dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk))


def days_ago(days: int) -> datetime:
    return timezone.now() - timedelta(days=days)


def build_program(world: World) -> Fixture:
    tenant = world.tenant
    with tenant_context(tenant):
        program = revenue_program()
        tier_model_publish(model=program.model, actor=world.manager)
        alpha, bravo = world.partner, world.unmanaged_partner
        alpha.name, bravo.name = "Alpha", "Bravo"
        alpha.save(update_fields=["name"])
        bravo.save(update_fields=["name"])
        charlie, delta, echo = (
            PartnerFactory(tenant=tenant, name=name, partner_type=world.partner_type)
            for name in ("Charlie", "Delta", "Echo")
        )
        foxtrot = PartnerFactory(
            tenant=tenant, name="Foxtrot", partner_type=world.partner_type, status=Partner.Status.SUSPENDED
        )
        sale(alpha, days_ago(20), "60000")
        sale(bravo, days_ago(200), "70000")
        sale(charlie, days_ago(400), "70000")
        activity(charlie, ActivityKind.TRAINING, days_ago(10))
        sale(delta, days_ago(150), "45000")
        sale(delta, days_ago(20), "25000")
        sale(foxtrot, days_ago(5), "90000")
        today = timezone.localdate()
        evaluate(today - timedelta(days=100))
        evaluate(today)
    return Fixture(world, program, alpha, bravo, charlie, delta, echo, foxtrot)


@pytest.fixture
def program(acme: World) -> Fixture:
    return build_program(acme)


def add_points(program: Fixture) -> Fixture:
    """Alpha earns 1,000 (10 days ago) and 500 (200 days ago), redeems 300 (5) and gets 100 back (4);
    Delta earns 400 (20) that is reversed (15); Bravo earns 250 (700 days ago: it expires within 90 days)."""
    tenant = program.world.tenant
    tenant.point_value = Decimal("0.01")
    tenant.save(update_fields=["point_value"])
    with tenant_context(tenant):
        give_points(program.alpha, 1000, "alpha-1000", days_ago=10)
        give_points(program.alpha, 500, "alpha-500", days_ago=200)
        alpha = points_account_for(partner=program.alpha)
        points_post(
            account=alpha, kind=EntryKind.REDEEM, points=-300, idempotency_key="alpha-redeem", effective_at=days_ago(5)
        )
        points_post(
            account=alpha, kind=EntryKind.REFUND, points=100, idempotency_key="alpha-refund", effective_at=days_ago(4)
        )
        earned = give_points(program.delta, 400, "delta-400", days_ago=20)
        points_post(
            account=points_account_for(partner=program.delta),
            kind=EntryKind.REVERSE,
            points=-400,
            idempotency_key="delta-reverse",
            reverses=earned,
            effective_at=days_ago(15),
        )
        give_points(program.bravo, 250, "bravo-250", days_ago=700)
    return program


@pytest.fixture
def with_points(program: Fixture) -> Fixture:
    return add_points(program)


def dashboard(client_for, fixture: Fixture, query: str = ""):
    response = client_for(fixture.world, fixture.world.manager).get(PAGE + query)
    assert response.status_code == 200
    return response


def test_enrolled_and_participation(program: Fixture, client_for) -> None:
    participation = dashboard(client_for, program).context["participation"]
    # Active: Alpha, Bravo, Charlie, Delta, Echo (Foxtrot is suspended) = 5. With an approved activity in the
    # last 90 days: Alpha (20 d), Charlie (training, 10 d), Delta (20 d) = 3; Foxtrot's sale does not count.
    assert (participation.enrolled, participation.participating) == (5, 3)
    assert participation.rate == Decimal("60.0")  # 3 / 5


@pytest.mark.parametrize(
    ("period", "earned", "redeemed", "rate"),
    [
        # 30 days: earned 1,000 (Alpha) + 400 − 400 (Delta's, reversed) = 1,000; redeemed 300 − 100 refund = 200.
        ("30", 1000, 200, Decimal("20.0")),
        # 365 days: Alpha's 500 of 200 days ago joins: 1,500 earned; 200 / 1,500 = 13.33… %.
        ("365", 1500, 200, Decimal("13.3")),
    ],
)
def test_redemption_rate_over_the_chosen_period(with_points: Fixture, client_for, period, earned, redeemed, rate):
    response = dashboard(client_for, with_points, f"?period={period}")
    flow = response.context["flow"]
    assert (flow.earned, flow.redeemed, flow.redemption_rate) == (earned, redeemed, rate)
    assert f"{rate} %" in response.content.decode()


def test_an_unknown_period_is_refused_clearly(program: Fixture, client_for) -> None:
    response = client_for(program.world, program.world.manager).get(PAGE + "?period=7")
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_points_liability_in_the_tenant_currency(with_points: Fixture, client_for) -> None:
    response = dashboard(client_for, with_points)
    liability = response.context["liability"]
    # Balances: Alpha 1,000 + 500 − 300 + 100 = 1,300; Delta 400 − 400 = 0; Bravo 250. 1,550 × $0.01 = $15.50.
    assert (liability.points, liability.value, liability.currency) == (1550, Decimal("15.50"), "USD")
    assert "15.50 USD" in response.content.decode()


def test_tier_distribution(program: Fixture, client_for) -> None:
    distribution = dashboard(client_for, program).context["distribution"]
    # Registered: Echo; Silver: Alpha; Gold: Bravo, Charlie (in grace), Delta; Foxtrot (suspended) is not counted.
    assert [(row.tier.name, row.count) for row in distribution] == [("Registered", 1), ("Silver", 1), ("Gold", 3)]


def test_tier_migration_between_the_last_two_completed_evaluations(program: Fixture, client_for) -> None:
    response = dashboard(client_for, program)
    migration = response.context["migration"]
    tiers = program.program.tiers
    assert migration.latest_on == timezone.localdate()
    assert migration.previous_on == timezone.localdate() - timedelta(days=100)
    # Alpha Registered → Silver, Delta Silver → Gold, Bravo and Charlie (grace) Gold → Gold, Echo stays Registered.
    assert migration.counts == {
        (tiers["Registered"].pk, tiers["Silver"].pk): 1,
        (tiers["Silver"].pk, tiers["Gold"].pk): 1,
        (tiers["Gold"].pk, tiers["Gold"].pk): 2,
        (tiers["Registered"].pk, tiers["Registered"].pk): 1,
    }
    assert (migration.moved(up=True), migration.moved(up=False)) == (2, 0)
    rows = {row["label"]: [cell["count"] for cell in row["cells"]] for row in response.context["migration_rows"]}
    assert response.context["migration_columns"] == ["Registered", "Silver", "Gold"]
    assert rows == {"Registered": [1, 1, 0], "Silver": [0, 0, 1], "Gold": [0, 0, 2]}


def test_near_and_at_risk_shortlists_link_to_the_partner_pages(program: Fixture, client_for) -> None:
    response = dashboard(client_for, program)
    # Alpha: 60.00 ≥ 0.9 × 65 = 58.5 → near Gold. At risk: Charlie (qualifies lower and in grace: two reasons),
    # Bravo (no activity in the last 30 days against 1 in the six months before: 0 < 1/6).
    assert [row.partner.name for row in response.context["near"]] == ["Alpha"]
    assert [row.partner.name for row in response.context["risky"]] == ["Charlie", "Bravo"]
    assert f'href="/portfolio/{program.alpha.pk}/"' in response.content.decode()


def test_monthly_trends_over_twelve_months(program: Fixture, client_for) -> None:
    # Entries on known days of this month and the previous one (their local noon), and one 13 months ago.
    this_month = timezone.localdate().replace(day=1)
    tenant = program.world.tenant
    with tenant_context(tenant):
        noon = lambda day: timezone.make_aware(datetime.combine(day, time(12)))  # noqa: E731
        account = points_account_for(partner=program.echo)
        for key, points, day in (
            ("now-1", 700, this_month),
            ("before-1", 300, this_month - relativedelta(months=1)),
            ("before-2", 200, this_month - relativedelta(months=1) + timedelta(days=1)),
            ("too-old", 999, this_month - relativedelta(months=13)),
        ):
            points_post(
                account=account, kind=EntryKind.EARN, points=points, idempotency_key=key, effective_at=noon(day)
            )
        points_post(
            account=account, kind=EntryKind.REDEEM, points=-150, idempotency_key="spend", effective_at=noon(this_month)
        )
    months = dashboard(client_for, program).context["months"]
    assert len(months) == 12
    assert months[-1].start == this_month
    assert months[0].start == this_month - relativedelta(months=11)
    # This month: 700 earned, 150 redeemed; last month: 300 + 200 = 500 earned; the 999 is out of range.
    assert (months[-1].flow.earned, months[-1].flow.redeemed) == (700, 150)
    assert (months[-2].flow.earned, months[-2].flow.redeemed) == (500, 0)
    assert sum(month.flow.earned for month in months) == 1200


def test_anonymous_visitor_is_sent_to_sign_in(acme: World, client_for) -> None:
    response = client_for(acme).get(PAGE)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/program/"


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER, Role.FINANCE])
def test_roles_other_than_program_staff_are_refused(program: Fixture, client_for, role: Role) -> None:
    response = client_for(program.world, program.world.user_for(role)).get(PAGE)
    assert response.status_code == 403
    assert b"Alpha" not in response.content


def test_outsider_and_another_tenants_owner_are_refused(program: Fixture, globex: World, outsider, client_for) -> None:
    for user in (outsider, globex.owner, globex.manager):
        response = client_for(program.world, user).get(PAGE)
        assert response.status_code == 403
        assert b"Alpha" not in response.content


@pytest.mark.parametrize("role", [Role.PROGRAM_MANAGER, Role.OWNER])
def test_program_staff_see_only_their_own_tenant(program: Fixture, globex: World, client_for, role: Role) -> None:
    assert dashboard(client_for, program).context["participation"].enrolled == 5
    response = client_for(globex, globex.user_for(role)).get(PAGE)
    assert response.status_code == 200
    # Globex has its world's two partners, no scores, no points.
    assert response.context["participation"].enrolled == 2
    assert response.context["near"] == response.context["risky"] == []
    assert response.context["liability"].points == 0
    assert b"Alpha" not in response.content


def add_partners(fixture: Fixture, count: int) -> None:
    """`count` more active partners, each with a sale of 50,000 twenty days ago, scored today."""
    world = fixture.world
    with tenant_context(world.tenant):
        partners = Partner.objects.bulk_create(
            Partner(
                tenant=world.tenant,
                external_id=f"BULK-{index}",
                name=f"Bulk {index:03d}",
                partner_type=world.partner_type,
                account_manager=world.account_manager,
            )
            for index in range(count)
        )
        for partner in partners:
            sale(partner, days_ago(20), "50000")
        evaluate(timezone.localdate())


def test_query_count_does_not_grow_with_partners(program: Fixture, client_for, django_assert_max_num_queries) -> None:
    client = client_for(program.world, program.world.manager)
    client.get(PAGE)  # warm the session
    # tenant by host, session, user, membership; points flow; health: partners with subqueries, latest scores,
    # tier states, tiers, expiring points; flow by month, active partners by month, new activities by month;
    # distribution: counts, tiers, partners without a tier; migration: runs, matrix, partners gone, tiers;
    # participation; liability; the review queues: claims, redemptions, adjustments, applications; onboarding;
    # the header's unread count; partner feedback: the latest survey invitation, then (when there is one) its
    # totals, by tier, by type.
    with django_assert_max_num_queries(31) as small:
        client.get(PAGE)
    add_partners(program, 195)
    with django_assert_max_num_queries(31) as large:
        response = client.get(PAGE)
    assert response.context["participation"].enrolled == 200
    assert len(large.captured_queries) == len(small.captured_queries)


def test_the_demo_program_has_a_migration_matrix_and_trends(db: None, settings) -> None:
    """The seed evaluates month ends and today: the last two runs give the matrix, the year gives the trends."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MFA_REQUIRED = False  # as `make demo` runs: the demo's staff have no TOTP
    call_command("seed_demo", stdout=io.StringIO())
    tenant = Tenant.objects.get(slug="acme")
    manager = Membership.all_tenants.get(tenant=tenant, role=Role.PROGRAM_MANAGER).user
    client = Client(HTTP_HOST="acme.localhost")
    client.force_login(manager)
    response = client.get(PAGE)
    assert response.status_code == 200
    migration = response.context["migration"]
    assert migration.previous_on is not None
    assert sum(migration.counts.values()) == response.context["participation"].enrolled
    assert sum(month.flow.earned for month in response.context["months"]) > 0
    assert sum(month.activity.active_partners for month in response.context["months"]) > 0
