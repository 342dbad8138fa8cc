"""The partner statement: own entries with running balance and causes, filters, pages, CSV, who may see it."""

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.formats import date_format

from earning.models import EarningRule
from earning.services import activity_approve
from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.services import entry_reverse, lot_expire, points_account_for, points_adjust, points_post
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role, User
from partners.models import Activity
from partners.services import activity_record
from rewards.services import redemption_cancel, reward_redeem
from tests.conftest import World
from tests.rewards.factories import RewardFactory

STOCKHOLM = ZoneInfo("Europe/Stockholm")
# 2025-03-10 23:30 UTC is already 11 March in Stockholm.
LATE_EVENING_UTC = datetime(2025, 3, 10, 23, 30, tzinfo=ZoneInfo("UTC"))


def earn(world: World, points: int, key: str, effective_at: datetime | None = None) -> LedgerEntry:
    with tenant_context(world.tenant):
        return points_post(
            account=points_account_for(partner=world.partner),
            kind=EntryKind.EARN,
            points=points,
            idempotency_key=key,
            memo="Welcome bonus",
            effective_at=effective_at,
        )


def approved_sale(world: World, amount: str, external_id: str) -> list[LedgerEntry]:
    with tenant_context(world.tenant):
        activity = activity_record(
            partner=world.partner,
            kind="sale",
            occurred_at=timezone.now() - timedelta(hours=1),
            source=Activity.Source.API,
            external_id=external_id,
            amount=Decimal(amount),
            currency="USD",
            product_sku="SKU-9",
        ).activity
        return activity_approve(activity=activity, actor=world.manager)


@pytest.fixture
def history(acme: World) -> World:
    """Acme's partner in Stockholm time: a backdated welcome bonus, a sale priced by a rule, a redemption and an
    adjustment whose reason starts with "=" (a spreadsheet formula)."""
    acme.tenant.time_zone = "Europe/Stockholm"
    acme.tenant.save(update_fields=["time_zone"])
    earn(acme, 500, "welcome", effective_at=LATE_EVENING_UTC)
    with tenant_context(acme.tenant):
        EarningRule.objects.create(
            name="Sales", activity_kind="sale", basis=EarningRule.Basis.PER_CURRENCY_UNIT, rate=Decimal(1)
        )
    approved_sale(acme, "1200", "INV-1")
    with tenant_context(acme.tenant):
        reward = RewardFactory(name="Headset", points_cost=300)
        reward_redeem(partner=acme.partner, requested_by=acme.partner_user, reward=reward, idempotency_key="r-1")
        points_adjust(
            partner=acme.partner, points=-150, reason="=HYPERLINK(1)", actor=acme.manager, idempotency_key="adj-1"
        )
    return acme


def test_statement_shows_own_entries_newest_first_with_running_balance_and_causes(history: World, client_for):
    response = client_for(history, history.partner_user).get("/statement/")
    assert response.status_code == 200
    rows = [
        (row["entry"].kind, row["points"], row["entry"].balance_after, row["cause"]) for row in response.context["rows"]
    ]
    assert rows == [
        (EntryKind.ADJUST, "\u2212150", 1250, f"=HYPERLINK(1) (adjusted by {history.manager})"),
        (EntryKind.REDEEM, "\u2212300", 1400, "Redeemed Headset × 1"),
        (EntryKind.EARN, "+1,200", 1700, "Sale · SKU-9 · 1,200.00 USD (rule: Sales)"),
        (EntryKind.EARN, "+500", 500, "Welcome bonus"),
    ]
    page = response.content.decode()
    assert '<td class="number negative">\u2212150</td>' in page
    assert '<td class="number positive">+1,200</td>' in page
    assert f'<td class="cause">=HYPERLINK(1) (adjusted by {history.manager})</td>' in page
    # The welcome bonus, posted today, is dated its Stockholm day (issue 17, item 11: both dates where they differ).
    assert 'dated <time datetime="2025-03-11T00:30:00+01:00">03/11/2025</time>' in page
    assert 'href="/statement/csv/"' in page


def test_statement_words_expiry_reversal_and_refund(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        EarningRule.objects.create(
            name="Sales", activity_kind="sale", basis=EarningRule.Basis.PER_CURRENCY_UNIT, rate=Decimal(1)
        )
    old = earn(acme, 100, "old", effective_at=datetime(2023, 1, 5, 12, tzinfo=ZoneInfo("UTC")))
    sale = approved_sale(acme, "40", "INV-2")[0]
    with tenant_context(acme.tenant):
        lot_expire(lot=old.lot, now=timezone.now())
        entry_reverse(entry=sale, actor=acme.manager, reason="Duplicate invoice")
        earn(acme, 50, "more")
        reward = RewardFactory(name="Mug", points_cost=10, requires_approval=True)
        redemption = reward_redeem(
            partner=acme.partner, requested_by=acme.partner_user, reward=reward, idempotency_key="m"
        )
        redemption_cancel(redemption=redemption, actor=acme.partner_user)
        sale_day = date_format(sale.effective_at, "DATE_FORMAT")
    causes = [row["cause"] for row in client_for(acme, acme.partner_admin).get("/statement/").context["rows"]]
    assert causes == [
        "Refund of Mug × 1: Cancelled by the partner.",
        "Redeemed Mug × 1",
        "Welcome bonus",
        f"Reversal of earned of {sale_day}: Sale · SKU-9 · 40.00 USD (rule: Sales) (Duplicate invoice)",
        "Points earned on Jan. 5, 2023 expired",
        "Sale · SKU-9 · 40.00 USD (rule: Sales)",
        "Welcome bonus",
    ]


def test_statement_filters_by_date_in_the_tenants_time_zone_and_by_kind(history: World, client_for) -> None:
    client = client_for(history, history.partner_user)
    # 23:30 UTC on 10 March is 11 March in Stockholm.
    on_the_11th = client.get("/statement/", {"date_from": "2025-03-11", "date_to": "2025-03-11"}).context["rows"]
    assert [row["entry"].points for row in on_the_11th] == [500]
    assert client.get("/statement/", {"date_to": "2025-03-10"}).context["rows"] == []
    redeemed = client.get("/statement/", {"kind": "redeem"}).context["rows"]
    assert [row["entry"].points for row in redeemed] == [-300]
    recent = client.get("/statement/", {"date_from": "2025-03-12", "kind": "earn"}).context["rows"]
    assert [row["entry"].points for row in recent] == [1200]


@pytest.mark.parametrize(
    ("query", "field", "error"),
    [
        ({"date_from": "yesterday"}, "date_from", "Enter a valid date."),
        ({"kind": "steal"}, "kind", "Select a valid choice. steal is not one of the available choices."),
        ({"date_from": "2025-03-12", "date_to": "2025-03-11"}, "date_to", "The end date is before the start date."),
    ],
)
def test_bad_filters_show_the_error_and_no_entries(history: World, client_for, query, field, error) -> None:
    response = client_for(history, history.partner_user).get("/statement/", query)
    assert response.status_code == 400
    assert response.context["form"].errors == {field: [error]}
    assert response.context["rows"] == []
    page = response.content.decode()
    assert error in page
    assert 'aria-invalid="true"' in page
    assert "Correct the filters above to see entries." in page
    assert client_for(history, history.partner_user).get("/statement/csv/", query).status_code == 400


def test_statement_pages_by_fifty_newest_first_and_keeps_the_filters(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        account = points_account_for(partner=acme.partner)
        for index in range(120):
            points_post(account=account, kind=EntryKind.EARN, points=index + 1, idempotency_key=f"e-{index}")
    client = client_for(acme, acme.partner_user)
    first = client.get("/statement/", {"kind": "earn"})
    assert [row["entry"].points for row in first.context["rows"]][:2] == [120, 119]
    assert len(first.context["rows"]) == 50
    assert 'href="?kind=earn&amp;page=2"' in first.content.decode()
    last = client.get("/statement/", {"kind": "earn", "page": "3"})
    assert [row["entry"].points for row in last.context["rows"]] == list(range(20, 0, -1))
    assert last.context["rows"][-1]["entry"].balance_after == 1
    # A page number that is not one shows the last or first page rather than failing.
    assert client.get("/statement/", {"page": "99"}).context["page"].number == 3
    assert client.get("/statement/", {"page": "x"}).context["page"].number == 1


def test_csv_has_the_filtered_rows_with_formulas_neutralised(history: World, client_for) -> None:
    response = client_for(history, history.partner_user).get("/statement/csv/")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localtime(timezone.now(), STOCKHOLM).date().isoformat()
    external_id = history.partner.external_id
    assert response["Content-Disposition"] == f'attachment; filename="statement-{external_id}-{today}.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    with tenant_context(history.tenant):
        moments = [
            [timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") for moment in pair]
            for pair in LedgerEntry.objects.order_by("-created_at", "-pk").values_list("created_at", "effective_at")
        ]
    assert rows == [
        ["Posted", "Dated", "Kind", "Points", "Balance", "Cause"],
        [*moments[0], "Adjustment", "-150", "1250", f"'=HYPERLINK(1) (adjusted by {history.manager})"],
        [*moments[1], "Redeemed", "-300", "1400", "Redeemed Headset × 1"],
        [*moments[2], "Earned", "1200", "1700", "Sale · SKU-9 · 1,200.00 USD (rule: Sales)"],
        [moments[3][0], "2025-03-11 00:30", "Earned", "500", "500", "Welcome bonus"],
    ]
    kind_only = client_for(history, history.partner_user).get("/statement/csv/", {"kind": "redeem"})
    assert b"".join(kind_only.streaming_content).decode().splitlines()[1:] == [
        f"{moments[1][0]},{moments[1][1]},Redeemed,-300,1400,Redeemed Headset × 1"
    ]


def test_csv_cause_cell_starting_with_a_formula_gets_an_apostrophe(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        points_post(
            account=points_account_for(partner=acme.partner),
            kind=EntryKind.EARN,
            points=10,
            memo="=HYPERLINK(1)",
            idempotency_key="formula-earn",
        )
    lines = b"".join(client_for(acme, acme.partner_user).get("/statement/csv/").streaming_content).decode()
    assert lines.splitlines()[1].endswith(",Earned,10,10,'=HYPERLINK(1)")


def test_globex_member_sees_only_globex_and_is_refused_on_acme(history: World, globex: World, client_for) -> None:
    earn(globex, 70, "globex-welcome")
    client = client_for(globex, globex.partner_user)
    response = client.get("/statement/")
    assert [row["entry"].points for row in response.context["rows"]] == [70]
    csv_lines = b"".join(client.get("/statement/csv/").streaming_content).decode().splitlines()
    assert len(csv_lines) == 2
    assert csv_lines[1].endswith(",Earned,70,70,Welcome bonus")
    on_acme = client_for(history, globex.partner_user)
    assert on_acme.get("/statement/").status_code == 403
    assert on_acme.get("/statement/csv/").status_code == 403


def test_other_partner_of_the_same_tenant_is_not_shown(history: World, client_for) -> None:
    from tests.factories import MembershipFactory

    other_user = MembershipFactory(
        tenant=history.tenant, user__email="u@two.test", role=Role.PARTNER_USER, partner=history.unmanaged_partner
    ).user
    assert client_for(history, other_user).get("/statement/").context["rows"] == []


@pytest.mark.parametrize("role", [Role.OWNER, Role.PROGRAM_MANAGER, Role.ACCOUNT_MANAGER])
def test_staff_are_refused(history: World, client_for, role: Role) -> None:
    client = client_for(history, history.user_for(role))
    assert client.get("/statement/").status_code == 403
    assert client.get("/statement/csv/").status_code == 403


def test_outsider_is_refused_and_anonymous_goes_to_login(history: World, outsider: User, client_for) -> None:
    assert client_for(history, outsider).get("/statement/").status_code == 403
    assert client_for(history, outsider).get("/statement/csv/").status_code == 403
    for path in ("/statement/", "/statement/csv/"):
        response = client_for(history).get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def _mixed_history(world: World, count: int, start: int) -> None:
    """`count` entries of every cause: sales priced by a rule, adjustments by staff, redemptions."""
    with tenant_context(world.tenant):
        reward = RewardFactory(name=f"Pen {start}", points_cost=1)
    for index in range(start, start + count):
        if index % 3 == 0:
            approved_sale(world, "10", f"INV-{index}")
        elif index % 3 == 1:
            with tenant_context(world.tenant):
                points_adjust(
                    partner=world.partner,
                    points=5,
                    reason=f"Goodwill {index}",
                    actor=world.manager,
                    idempotency_key=f"a{index}",
                )
        else:
            with tenant_context(world.tenant):
                reward_redeem(
                    partner=world.partner, requested_by=world.partner_user, reward=reward, idempotency_key=f"r{index}"
                )


def test_statement_query_count_does_not_grow_with_history(acme: World, client_for, django_assert_max_num_queries):
    with tenant_context(acme.tenant):
        EarningRule.objects.create(
            name="Sales", activity_kind="sale", basis=EarningRule.Basis.PER_CURRENCY_UNIT, rate=Decimal(1)
        )
    _mixed_history(acme, 5, start=0)
    client = client_for(acme, acme.partner_user)
    # session, user, tenant, membership (with its partner), one page of entries with their sales and rules (a first
    # page that is not full needs no count), then what the page's causes name: the adjusting staff, the redemptions
    # and their rewards, the adjustments' approvals (only when the page has an adjustment); unread notifications in
    # the header. With 55 more entries the full first page adds the count.
    with django_assert_max_num_queries(10) as few:
        response = client.get("/statement/")
    assert len(response.context["rows"]) == 5
    _mixed_history(acme, 55, start=5)
    with django_assert_max_num_queries(len(few.captured_queries) + 1):
        response = client.get("/statement/")
    assert len(response.context["rows"]) == 50


def test_a_short_page_of_earnings_reads_no_count_and_no_approvals(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        account = points_account_for(partner=acme.partner)
        for index in range(3):
            points_post(account=account, kind=EntryKind.EARN, points=10, idempotency_key=f"short-{index}")
    client = client_for(acme, acme.partner_user)
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/statement/")
    sql = " ".join(query["sql"] for query in captured.captured_queries)
    assert len(response.context["rows"]) == 3
    assert "Entries 1–3 of 3" in response.content.decode()
    assert 'COUNT(*) AS "__count" FROM "ledger_ledgerentry"' not in sql  # the first page holds every entry
    assert "ledger_adjustmentrequest" not in sql  # no adjustment on the page: no approvals read


def test_the_second_page_and_an_adjustment_on_it_read_as_before(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        points_adjust(
            partner=acme.partner, points=7, reason="Oldest goodwill", actor=acme.manager, idempotency_key="old"
        )
        account = points_account_for(partner=acme.partner)
        for index in range(55):
            points_post(account=account, kind=EntryKind.EARN, points=1, idempotency_key=f"page-{index}")
    client = client_for(acme, acme.partner_user)
    first = client.get("/statement/")
    assert "Entries 1–50 of 56" in first.content.decode()
    second = client.get("/statement/", {"page": "2"})
    page = second.content.decode()
    assert "Entries 51–56 of 56" in page
    assert "Oldest goodwill (adjusted by" in page
