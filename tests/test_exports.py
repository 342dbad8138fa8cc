"""CSV formula injection: every CSV the product serves, found from the URLconf, has every cell neutralised."""

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from loyalty.exports import FORMULA_PREFIXES, csv_cell, csv_line
from loyalty.ledger.services import points_adjust
from loyalty.tenancy.context import tenant_context
from partners.models import Partner
from tests.conftest import World
from tests.factories import PartnerFactory

# OWASP's CSV injection payloads: each starts with a character a spreadsheet runs as a formula.
PAYLOADS = [
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    '\r=HYPERLINK("http://evil.test")',
]
# Numbers are written as numbers ("-300" points); a cell that is only a number cannot carry a formula.
CODE_LENGTH = 20  # a journal account code's most characters
PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
PROJECT = Path(settings.BASE_DIR)
CSV_WRITING = re.compile(r"csv\.(?:writer|DictWriter)\(|content_type\s*=\s*[\"']text/csv")
APPS = ["loyalty", "partners", "portal", "rewards", "tiers", "funds", "deals", "analytics", "finance", "earning"]


def _routes(resolver: URLResolver, prefix: str = "") -> list[tuple[str, str]]:
    """(route, url name) of every pattern under `resolver`, admin sites included."""
    routes = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes.extend(_routes(pattern, route))
        elif isinstance(pattern, URLPattern):
            routes.append((route, pattern.name or ""))
    return routes


def _with_payloads(world: World) -> None:
    """Every payload in the text the exports carry: partner names and ids, type names, adjustment reasons."""
    with tenant_context(world.tenant):
        world.partner_type.name = PAYLOADS[0]
        world.partner_type.save(update_fields=["name"])
        for number, payload in enumerate(PAYLOADS):
            PartnerFactory(tenant=world.tenant, name=payload, external_id=f"{payload}{number}")
            points_adjust(
                partner=world.partner,
                points=10 + number,
                reason=payload,
                actor=world.manager,
                idempotency_key=f"csv-{number}",
            )


def _statement(world: World, client_for) -> bytes:
    return b"".join(client_for(world, world.partner_user).get("/statement/csv/").streaming_content)


def _worklist(world: World, client_for) -> bytes:
    return client_for(world, world.manager).get("/portfolio/csv/").content


def _import_template(world: World, client_for) -> bytes:
    return client_for(world, world.manager).get("/admin/partners/importjob/template.csv").content


def _deals_template(world: World, client_for) -> bytes:
    return client_for(world, world.partner_user).get(reverse("portal:deals-import-template")).content


def _fund_budget(world: World, client_for) -> bytes:
    """The budget of a period named like a payload, for partners whose regions are payloads."""
    from funds.services import fund_allocate
    from tests.funds.helpers import gold_program, place, quarter

    with tenant_context(world.tenant):
        program = gold_program()
        period = quarter(name=PAYLOADS[1])
        for number, partner in enumerate(Partner.objects.all()):
            partner.region = PAYLOADS[number % len(PAYLOADS)]
            partner.save(update_fields=["region"])
            place(partner, program.tiers["Gold"])
        fund_allocate(period=period)
    return client_for(world, world.manager).get(f"/funds/budget.csv?period={period.pk}").content


def _analytics(world: World, client_for) -> bytes:
    """Every analytics figure's CSV, for partners placed in tiers named like the payloads."""
    from tests.tiers.factories import revenue_program
    from tiers.models import PartnerTier

    with tenant_context(world.tenant):
        program = revenue_program(
            tiers=tuple((payload, str(rank * 10), "1.00") for rank, payload in enumerate(PAYLOADS))
        )
        partners = list(Partner.objects.order_by("pk"))
        for partner, tier in zip(partners, program.tiers.values(), strict=False):
            PartnerTier.objects.update_or_create(partner=partner, defaults={"tier": tier, "since": partner.joined_at})
    client = client_for(world, world.manager)
    figures = (
        "retention", "sales_by_tier", "sales_by_movement", "incentive_cost", "tier_progression", "engagement",
        "time_to_upgrade", "last_activity",
    )  # fmt: skip
    return b"".join(client.get(f"/program/analytics/{figure}.csv").content for figure in figures)


def _finance_journal(world: World, client_for) -> bytes:
    """This month's journal (the payloads' adjustments: Dr expense / Cr liability), its two account codes set past
    the form's validation to two payloads at a time."""
    from loyalty.tenancy.models import Tenant

    month = timezone.localdate().strftime("%Y-%m")
    content = b""
    for expense, liability in zip(PAYLOADS[::2], PAYLOADS[1::2], strict=True):
        Tenant.objects.filter(pk=world.tenant.pk).update(
            journal_expense_account=expense[:CODE_LENGTH], journal_liability_account=liability[:CODE_LENGTH]
        )
        content += client_for(world, world.finance).get(f"/finance/journal.csv?month={month}").content
    return content


def _finance_roll_forward(world: World, client_for) -> bytes:
    return client_for(world, world.finance).get("/finance/liability.csv").content


# Every CSV endpoint, by URL name, with how to fetch it as someone allowed to.
EXPORTS = {
    "statement_csv": _statement,
    "portfolio_csv": _worklist,
    "partners_importjob_template": _import_template,
    "fund-budget-csv": _fund_budget,
    "analytics-csv": _analytics,
    "finance-journal-csv": _finance_journal,
    "finance-roll-forward-csv": _finance_roll_forward,
    "deals-import-template": _deals_template,
}
# Exports that carry no text of the tenant's (headers, months, numbers, currency codes): only checked to be inert.
NO_TENANT_TEXT = {"partners_importjob_template", "finance-roll-forward-csv", "deals-import-template"}


def test_every_csv_route_is_covered_by_the_injection_test() -> None:
    found = {name for route, name in _routes(get_resolver(settings.ROOT_URLCONF)) if "csv" in route.lower()}
    assert found == set(EXPORTS)


def test_no_code_writes_csv_except_through_the_shared_helper() -> None:
    offenders = []
    for app in APPS:
        for source in (PROJECT / app).rglob("*.py"):
            if source != PROJECT / "loyalty" / "exports.py" and CSV_WRITING.search(source.read_text()):
                offenders.append(str(source.relative_to(PROJECT)))
    assert offenders == []


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_every_cell_of_every_export_is_inert(acme: World, client_for, name: str) -> None:
    _with_payloads(acme)
    content = EXPORTS[name](acme, client_for).decode()
    cells = [cell for row in csv.reader(io.StringIO(content, newline="")) for cell in row]
    assert len(cells) > 1
    live = [cell for cell in cells if cell.startswith(FORMULA_PREFIXES) and not PLAIN_NUMBER.fullmatch(cell)]
    assert live == []
    if name not in NO_TENANT_TEXT:
        for payload in PAYLOADS:  # whole, or cut to an account code's length: still the formula's start
            assert any(cell.startswith(f"'{payload[:CODE_LENGTH]}") for cell in cells), payload


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        *[(payload, f"'{payload}") for payload in PAYLOADS],
        ("-1", "'-1"),  # text that looks like a number is still text: only numbers go as they are
        (-40, -40),
        (Decimal("-2.5"), Decimal("-2.5")),
        ("Acme = best", "Acme = best"),
        (None, ""),
    ],
)
def test_csv_cell_neutralises_formulas_and_keeps_numbers(value: object, cell: object) -> None:
    assert csv_cell(value) == cell


def test_csv_line_quotes_line_breaks_inside_cells() -> None:
    assert csv_line(["a\r\nb", "=1"]) == '"a\r\nb",\'=1\r\n'
