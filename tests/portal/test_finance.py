"""The finance page and its CSVs: figures, roles (the finance role sees this and nothing else), bad input, queries."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from loyalty.ledger.models import EntryKind
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from tests.conftest import World
from tests.finance.factories import Ledger, at, build_ledger, post

PAGE = "/finance/"
RANGE = "?start=2025-01&end=2025-06"


@pytest.fixture
def ledger(acme: World) -> Ledger:
    return build_ledger(acme)


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("role", [Role.FINANCE, Role.PROGRAM_MANAGER, Role.OWNER])
def test_finance_and_program_staff_see_the_roll_forward(ledger: Ledger, client_for, role: Role) -> None:
    response = client_for(ledger.world, ledger.world.user_for(role)).get(PAGE + RANGE)
    assert response.status_code == 200
    assert [(row["month"], row["opening"], row["movements"], row["closing"]) for row in response.context["rows"]] == [
        # earned, reversed, redeemed, refunded, expired, adjusted (tests/finance/test_selectors.py works them out)
        (date(2025, 1, 1), 0, [1000, 0, 0, 0, 0, 0], 1000),
        (date(2025, 2, 1), 1000, [0, 0, -300, 100, 0, 0], 800),
        (date(2025, 3, 1), 800, [500, 0, 0, 0, 0, 0], 1300),
        (date(2025, 4, 1), 1300, [0, 0, 0, 0, -700, 0], 600),
        (date(2025, 5, 1), 600, [0, -200, 0, 0, -100, 50], 350),
        (date(2025, 6, 1), 350, [0, 0, 0, 0, -300, 0], 50),
    ]
    assert response.context["totals"] == {"opening": 0, "movements": [1500, -200, -300, 100, -1100, 50], "closing": 50}
    assert response.context["closing_value"] == Decimal("0.50")
    assert b"Liability roll-forward" in response.content
    assert b'href="/finance/journal.csv?month=2025-05"' in response.content


def test_the_finance_role_lands_on_the_finance_page_and_its_menu(acme: World, client_for) -> None:
    client = client_for(acme, acme.finance)
    response = client.get("/", follow=True)
    assert response.redirect_chain == [("/finance/", 302)]
    assert b'href="/finance/"' in response.content
    for hidden in (b'href="/portfolio/"', b'href="/program/"', b'href="/admin/"', b'href="/rewards/"'):
        assert hidden not in response.content


def test_program_staff_have_the_finance_link(acme: World, client_for) -> None:
    assert b'href="/finance/"' in client_for(acme, acme.manager).get("/program/").content
    assert b'href="/finance/"' not in client_for(acme, acme.account_manager).get("/portfolio/").content


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER])
@pytest.mark.parametrize("path", [PAGE, PAGE + "liability.csv", PAGE + "journal.csv?month=2025-02"])
def test_other_roles_are_refused(ledger: Ledger, client_for, role: Role, path: str) -> None:
    response = client_for(ledger.world, ledger.world.user_for(role)).get(path)
    assert response.status_code == 403
    assert b"2450" not in response.content


def test_anonymous_visitor_is_sent_to_sign_in(acme: World, client_for) -> None:
    response = client_for(acme).get(PAGE)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/finance/"


def test_outsiders_and_another_tenants_staff_are_refused(ledger: Ledger, globex: World, outsider, client_for) -> None:
    for user in (outsider, globex.owner, globex.finance):
        for path in (PAGE, PAGE + "journal.csv?month=2025-02", PAGE + "liability.csv"):
            response = client_for(ledger.world, user).get(path)
            assert response.status_code == 403
            assert b"2450" not in response.content


def test_each_tenant_sees_only_its_own_ledger(ledger: Ledger, globex: World, client_for) -> None:
    with tenant_context(globex.tenant):
        post(globex.partner, EntryKind.EARN, 7000, "g:earn", at(2025, 2, 1))
    acme_rows = client_for(ledger.world, ledger.world.finance).get(PAGE + RANGE).context["rows"]
    globex_rows = client_for(globex, globex.finance).get(PAGE + RANGE).context["rows"]
    assert acme_rows[-1]["closing"] == 50
    assert [row["closing"] for row in globex_rows] == [0, 7000, 7000, 7000, 7000, 7000]
    journal = client_for(globex, globex.finance).get(PAGE + "journal.csv?month=2025-05")
    assert rows_of(journal)[1:] == []


# Every page of the portal that the finance role must not open (partner pages, staff work, the admin): a 403, or
# for the object pages open to every member that filter by the partners the member may see (fund proofs, credit
# notes, deal registrations), a 404, since finance sees no partner (`partners_visible_to`). Open to finance: its
# own pages, the landing redirect, notifications and settings (every member's), and the public application pages.
FINANCE_OPEN = {"home", "finance", "finance-roll-forward-csv", "finance-journal-csv", "apply", "apply_sent"}
FINANCE_OPEN_PREFIXES = ("notification", "apply_confirm")


def portal_paths() -> list[tuple[str, str]]:
    paths = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and pattern.name:
                for converter in ("<int:", "<str:", "<slug:"):
                    while converter in route:
                        start = route.index(converter)
                        route = route[:start] + "1" + route[route.index(">", start) + 1 :]
                paths.append((pattern.name, "/" + route.lstrip("^")))

    resolver = next(
        pattern
        for pattern in get_resolver("loyalty.urls_tenant").url_patterns
        if getattr(pattern, "app_name", "") == "portal"
    )
    walk(resolver.url_patterns, str(resolver.pattern))
    return paths


def test_the_finance_role_opens_no_other_staff_or_partner_page(acme: World, client_for) -> None:
    client = client_for(acme, acme.finance)
    checked = []
    for name, path in portal_paths():
        if name in FINANCE_OPEN or name.startswith(FINANCE_OPEN_PREFIXES):
            continue
        # 405: a wrong method is refused before the role is checked; nothing is read either way.
        refusals = {403, 405} | ({404} if name in {"fund-proof", "fund-payout", "deal", "deal-attachment"} else set())
        for method in (client.get, client.post):
            assert method(path).status_code in refusals, (name, path, method.__name__)
        checked.append(name)
    assert {"program", "analytics", "analytics-csv", "designer", "portfolio", "applications", "fund-review", "rewards",
            "statement"} <= set(checked)  # fmt: skip
    admin = client.get("/admin/")
    assert admin.status_code in (302, 403)
    assert b"Program settings" not in admin.content


def test_the_journal_csv_balances_and_names_the_accounts(ledger: Ledger, client_for) -> None:
    response = client_for(ledger.world, ledger.world.finance).get(PAGE + "journal.csv?month=2025-05")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="points-journal-2025-05.csv"'
    rows = rows_of(response)
    assert rows[0] == ["Date", "Journal line", "Account", "Description", "Debit", "Credit", "Currency", "Points"]
    assert rows[1:] == [
        ["2025-05-31", "1", "2450", "Points issued", "2.00", "", "USD", "-200"],
        ["2025-05-31", "1", "6100", "Points issued", "", "2.00", "USD", "-200"],
        ["2025-05-31", "2", "6100", "Points adjusted", "0.50", "", "USD", "50"],
        ["2025-05-31", "2", "2450", "Points adjusted", "", "0.50", "USD", "50"],
        ["2025-05-31", "3", "2450", "Points expired (breakage): liability released", "1.00", "", "USD", "-100"],
        ["2025-05-31", "3", "4950", "Points expired (breakage): liability released", "", "1.00", "USD", "-100"],
    ]


@pytest.mark.parametrize("month", ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"])
def test_every_months_journal_balances(ledger: Ledger, client_for, month: str) -> None:
    rows = rows_of(client_for(ledger.world, ledger.world.finance).get(PAGE + f"journal.csv?month={month}"))[1:]
    debits = sum(Decimal(row[4] or 0) for row in rows)
    credits = sum(Decimal(row[5] or 0) for row in rows)
    assert rows
    assert debits == credits


def test_the_roll_forward_csv(ledger: Ledger, client_for) -> None:
    response = client_for(ledger.world, ledger.world.finance).get(PAGE + "liability.csv" + RANGE)
    rows = rows_of(response)
    assert rows[0] == [
        "Month", "Opening", "Earned", "Reversed", "Redeemed", "Refunded", "Expired", "Adjusted", "Closing",
        "Closing value", "Currency",
    ]  # fmt: skip
    assert rows[5] == ["2025-05", "600", "0", "-200", "0", "0", "-100", "50", "350", "3.50", "USD"]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?start=2025-13", "start", "Enter a month as YYYY-MM"),
        ("?start=abc&end=2025-01", "start", "Enter a month as YYYY-MM"),
        ("?start=2025-06&end=2025-01", "start", "The first month comes before the last."),
        ("?start=2020-01&end=2025-01", "start", "Show at most 36 months at a time."),
        ("?end=1800-01", "end", "Enter a month between 1900 and 2199."),
        ("?start=2025-01%00", "start", "Enter a month as YYYY-MM"),
    ],
)
def test_bad_months_are_form_errors(acme: World, client_for, query: str, field: str, message: str) -> None:
    for path in (PAGE, PAGE + "liability.csv"):
        response = client_for(acme, acme.finance).get(path + query)
        assert response.status_code == 400
        assert message in " ".join(response.context["form"].errors[field])


@pytest.mark.parametrize("query", ["", "?month=", "?month=2025-00", "?month=9999-01"])
def test_a_bad_journal_month_is_a_form_error(acme: World, client_for, query: str) -> None:
    response = client_for(acme, acme.finance).get(PAGE + "journal.csv" + query)
    assert response.status_code == 400
    assert response.context["form"].errors["month"]


def test_query_count_does_not_grow_with_months_or_partners(
    ledger: Ledger, client_for, django_assert_max_num_queries
) -> None:
    client = client_for(ledger.world, ledger.world.finance)
    client.get(PAGE)  # warm the session
    # tenant by host, session, user, membership; roll-forward; schedule; breakage: credited, expired, outstanding;
    # pending redemptions; credit notes; the header's unread count.
    with django_assert_max_num_queries(12):
        client.get(PAGE + "?start=2025-06&end=2025-06")
    with tenant_context(ledger.tenant):
        for index in range(30):
            post(ledger.world.partner, EntryKind.EARN, 10 + index, f"q:{index}", at(2024, 1 + index % 12, 3))
    with django_assert_max_num_queries(12):
        response = client.get(PAGE + "?start=2023-01&end=2025-12")
    assert len(response.context["rows"]) == 36
