"""The demo seed: two tenants with every role, idempotent, and every printed login works."""

import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path
from unittest.mock import patch

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import Client

from deals.models import DealConflict, DealRegistration
from demo.management.commands.demo_serve import Command as DemoServe
from demo.seed import DEMO_PASSWORD, PLATFORM_ADMIN_EMAIL
from enablement.models import Course, Resource
from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.tenancy.models import Membership, Role, Tenant, User
from notifications.models import Kind, Notification
from partners.models import Activity, Claim, Partner, PartnerType
from rewards.models import Redemption

pytestmark = pytest.mark.django_db


def _seed() -> str:
    output = StringIO()
    call_command("seed_demo", stdout=output)
    return output.getvalue()


def _counts() -> dict[str, int]:
    return {
        "tenants": Tenant.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.all_tenants.count(),
        "partners": Partner.all_tenants.count(),
        "partner_types": PartnerType.all_tenants.count(),
    }


def test_seed_is_idempotent(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _seed()
    first = _counts()
    _seed()
    assert _counts() == first
    assert first["tenants"] == 2
    assert first["partners"] == 22
    assert first["partner_types"] == 8


LOGINS = [
    ("owner", Role.OWNER),
    ("manager", Role.PROGRAM_MANAGER),
    ("am", Role.ACCOUNT_MANAGER),
    ("partner", Role.PARTNER_ADMIN),
]


def test_printed_logins_work_with_their_roles(settings) -> None:
    settings.MFA_REQUIRED = False  # as `make demo` runs: staff may sign in with the printed password alone
    _seed()  # once: seeding is the slow part
    for slug in ("acme", "globex"):
        for login, role in LOGINS:
            email = f"{login}@{slug}.example"
            client = Client(HTTP_HOST=f"{slug}.localhost")
            response = client.post("/accounts/login/", {"login": email, "password": DEMO_PASSWORD})
            assert response.status_code == 302, email
            assert client.get("/", follow=True).status_code == 200, email
            membership = Membership.all_tenants.get(user__email=email, tenant__slug=slug)
            assert (membership.tenant.slug, membership.role) == (slug, role)
    # The demo's reseller in both programs, for "My programs".
    both = Membership.all_tenants.filter(user__email="partner@acme.example").values_list("tenant__slug", "role")
    assert sorted(both) == [("acme", Role.PARTNER_ADMIN), ("globex", Role.PARTNER_USER)]


def test_demo_ledger_is_consistent_and_has_every_kind_of_history() -> None:
    _seed()
    output = StringIO()
    call_command("ledger_verify", stdout=output)
    assert output.getvalue().startswith("ledger_verify: 2 tenant(s), 20 accounts,")
    assert output.getvalue().strip().endswith(", 0 breaches")
    kinds = set(LedgerEntry.all_tenants.filter(tenant__slug="acme").values_list("kind", flat=True))
    assert kinds == {EntryKind.EARN, EntryKind.ADJUST, EntryKind.EXPIRE, EntryKind.REDEEM, EntryKind.REFUND}
    statuses = set(Redemption.all_tenants.filter(tenant__slug="acme").values_list("status", flat=True))
    assert statuses == set(Redemption.Status.values)
    assert Claim.all_tenants.filter(tenant__slug="acme", status=Claim.Status.PENDING).count() == 3
    assert Claim.all_tenants.filter(tenant__slug="acme", duplicate_of__isnull=False).count() == 1
    assert Activity.all_tenants.filter(tenant__slug="globex", status=Activity.Status.APPROVED).count() > 100
    # The demo partner's people have something in their notification centre: redemption moves, the statement.
    told = set(Notification.all_tenants.filter(recipient__email="partner@acme.example").values_list("kind", flat=True))
    assert {Kind.REDEMPTION_STATUS, Kind.MONTHLY_STATEMENT} <= told


def test_demo_funds_are_in_every_state_for_both_tenants_and_verify() -> None:
    from funds.models import FundClaim, FundEntry, FundPayout, FundRequest

    _seed()
    output = StringIO()
    call_command("fund_verify", stdout=output)
    assert output.getvalue().startswith("fund_verify: 2 tenant(s), ")
    assert output.getvalue().strip().endswith(", 0 breaches")
    for slug in ("acme", "globex"):
        statuses = set(FundRequest.all_tenants.filter(tenant__slug=slug).values_list("status", flat=True))
        assert statuses == set(FundRequest.Status.values), slug
        claims = set(FundClaim.all_tenants.filter(tenant__slug=slug).values_list("status", flat=True))
        assert claims == {FundClaim.Status.SUBMITTED, FundClaim.Status.APPROVED}, slug
        kinds = set(FundEntry.all_tenants.filter(tenant__slug=slug).values_list("kind", flat=True))
        assert {"allocate", "top_up", "commit", "release", "pay", "accrue", "settle"} <= kinds, slug
        numbers = list(FundPayout.all_tenants.filter(tenant__slug=slug).values_list("number", flat=True))
        assert any(number.startswith("CN-") for number in numbers), slug
        assert any(number.startswith("RB-") for number in numbers), slug


def test_demo_pipeline_has_every_deal_status_and_one_conflict() -> None:
    _seed()
    deals = DealRegistration.all_tenants.filter(tenant__slug="acme")
    assert set(deals.values_list("status", flat=True)) == set(DealRegistration.Status.values)
    conflicts = DealConflict.all_tenants.filter(tenant__slug="acme", is_same_partner=False)
    assert [(conflict.rule, conflict.other.customer_name) for conflict in conflicts] == [
        ("domain", "Contoso Retail Group")
    ]
    _seed()
    assert DealRegistration.all_tenants.filter(tenant__slug="acme").count() == deals.count() == 9


def test_platform_admin_login_is_a_superuser() -> None:
    _seed()
    assert authenticate(email=PLATFORM_ADMIN_EMAIL, password=DEMO_PASSWORD).is_superuser


def test_seed_prints_where_to_sign_in(settings) -> None:
    settings.PUBLIC_PORT = "8000"
    printed = _seed()
    assert "http://acme.localhost:8000/accounts/login/" in printed
    assert "http://globex.localhost:8000/accounts/login/" in printed
    assert f"http://localhost:8000/admin/  ({PLATFORM_ADMIN_EMAIL})" in printed
    assert f"Password for every login: {DEMO_PASSWORD}" in printed
    settings.MFA_REQUIRED = False
    assert "Two-factor sign-in is optional here (TIERLINE_MFA_REQUIRED=0)" in _seed()


# --- Issue 17, item 25: the banner is the last thing printed; no noise; no technical pages; a LICENSE -------------

ROOT = Path(__file__).resolve().parents[1]


def _demo_commands() -> list[str]:
    """The commands `make demo` runs, as make would run them (dry run: nothing is executed)."""
    dry_run = subprocess.run(  # noqa: S603 - fixed arguments
        [shutil.which("make") or "make", "-n", "demo", "PORT=8131"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [line for line in dry_run.stdout.splitlines() if "manage.py" in line]


def test_make_demo_seeds_silently_then_serves_with_the_banner_last_and_debug_off() -> None:
    """Issue 17, item 25: ~8,200 lines of emails came before the banner; the technical 404 listed every URL."""
    migrate, seed, serve = _demo_commands()
    assert "manage.py seed_demo --no-banner" in seed
    assert "manage.py demo_serve 127.0.0.1:8131" in serve
    for command in (migrate, seed, serve):
        assert "DJANGO_DEBUG=0" in command
        assert "DJANGO_EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend" in command
        assert "DJANGO_SECRET_KEY=" in command


def test_seeding_for_make_demo_prints_nothing_and_its_emails_go_to_files(settings, tmp_path) -> None:
    """Issue 17, item 25: the demo's emails go to a file (and the notification centre), never to the terminal."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    output = StringIO()
    call_command("seed_demo", "--no-banner", stdout=output)
    assert output.getvalue() == ""
    assert Notification.all_tenants.exists()


def test_demo_serve_prints_the_banner_after_djangos_start_up_lines(settings) -> None:
    """Issue 17, item 25: the banner is the last thing `make demo` prints before the requests' log."""
    settings.PUBLIC_PORT = "8131"
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = "var/mail"
    output = StringIO()
    command = DemoServe(stdout=output)
    command.addr, command.port, command.protocol, command._raw_ipv6 = "127.0.0.1", "8131", "http", False
    with patch.dict("os.environ", {"DJANGO_RUNSERVER_HIDE_WARNING": "true"}):
        command.on_bind(8131)
    printed = output.getvalue()
    assert "Starting development server at http://127.0.0.1:8131/" in printed
    assert printed.rstrip().endswith("Emails are written to var/mail/ (and shown in each member's notifications).")
    assert printed.index("Starting development server") < printed.index("Tierline demo is ready.")
    assert "WARNING" not in printed


def test_the_in_process_broker_raises_no_hostname_warning() -> None:
    """Issue 17, item 25: kombu's "No hostname was supplied" warning looked like an error in the demo."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DATABASE_OWNER_URL"}
    }
    environment.update(DJANGO_DEBUG="1", PYTHONWARNINGS="ignore")
    script = (
        "from kombu import Connection; from django.conf import settings; Connection(settings.CELERY_BROKER_URL).info()"
    )
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "No hostname" not in result.stdout + result.stderr


def test_a_wrong_address_shows_the_products_404_without_listing_urls(settings) -> None:
    """Issue 17, item 25: with debug off (as the demo now runs), a 404 is the product's page, not a URL listing."""
    settings.DEBUG = False
    _seed()
    page = Client(HTTP_HOST="acme.localhost").get("/no-such-page/")
    assert page.status_code == 404
    text = page.content.decode()
    assert "Using the URLconf" not in text
    assert "admin/" not in text


def test_the_repository_ships_its_licence_text() -> None:
    """Issue 17, item 25: the project declares AGPL-3.0-or-later but shipped no LICENSE file."""
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007")
    assert "13. Remote Network Interaction; Use with the GNU General Public License." in licence
    assert 'license = { text = "AGPL-3.0-or-later" }' in (ROOT / "pyproject.toml").read_text()


def test_the_demo_roll_forward_ties_to_the_ledger_every_month_and_its_journals_balance() -> None:
    """For both tenants, from the month of the first entry to this one: each month's movements are the Σ of its
    entries by kind, each closing the Σ of every entry dated before the month's end and the next opening; today's
    closing is Σ balances = Σ lots; each month's journal lines add up to the month's movement."""
    from collections import defaultdict
    from zoneinfo import ZoneInfo

    from dateutil.relativedelta import relativedelta
    from django.db.models import Min, Sum
    from django.utils import timezone

    from finance.selectors import journal_for_month, liability_roll_forward, month_start
    from loyalty.ledger.models import PointsAccount, PointsLot
    from loyalty.tenancy.context import tenant_context

    _seed()
    for tenant in Tenant.objects.order_by("slug"):
        zone = ZoneInfo(tenant.time_zone)
        with tenant_context(tenant):
            first = LedgerEntry.objects.aggregate(first=Min("effective_at"))["first"].astimezone(zone).date()
            last = timezone.now().astimezone(zone).date().replace(day=1)
            months = liability_roll_forward(first_month=first.replace(day=1), last_month=last)
            by_month: dict = defaultdict(lambda: defaultdict(int))
            for when, kind, points in LedgerEntry.objects.values_list("effective_at", "kind", "points"):
                by_month[when.astimezone(zone).date().replace(day=1)][kind] += points
            for index, month in enumerate(months):
                assert month.opening == (months[index - 1].closing if index else 0), (tenant.slug, month.month)
                assert month.movements == dict(by_month.get(month.month, {})), (tenant.slug, month.month)
                end = month_start(month.month + relativedelta(months=1), zone)
                dated_before = LedgerEntry.objects.filter(effective_at__lt=end).aggregate(total=Sum("points"))
                assert month.closing == dated_before["total"], (tenant.slug, month.month)
                lines = journal_for_month(month=month.month)
                assert all(line.amount >= 0 and line.debit_account != line.credit_account for line in lines)
                # The journal moves the liability by what the roll-forward moved it.
                assert sum(line.points for line in lines) == month.closing - month.opening, (tenant.slug, month.month)
            balances = PointsAccount.objects.aggregate(total=Sum("balance"))["total"]
            lots = PointsLot.objects.aggregate(total=Sum("remaining"))["total"]
        assert len(months) >= 13
        assert months[-1].closing == balances == lots > 0, tenant.slug


def test_the_demo_has_partners_selling_in_a_second_currency_with_rates() -> None:
    """Acme (USD) has EUR sales, each converted at the seeded rate of its day in New York."""
    from zoneinfo import ZoneInfo

    from partners.currency import converted
    from partners.models import ExchangeRate

    _seed()
    rates = {day: rate for day, rate in ExchangeRate.all_tenants.filter(tenant__slug="acme").values_list("day", "rate")}
    euro = Activity.all_tenants.filter(tenant__slug="acme", currency="EUR")
    assert euro.count() >= 10
    assert set(euro.values_list("partner__name", flat=True)) == {
        "Northwind Solutions", "Lakeside Networks", "Brightpath Cloud",
    }  # fmt: skip
    zone = ZoneInfo("America/New_York")
    for activity in euro:
        rate = rates[activity.occurred_at.astimezone(zone).date()]
        assert (activity.exchange_rate, activity.amount_converted) == (rate, converted(activity.amount, rate))
    assert not ExchangeRate.all_tenants.filter(tenant__slug="globex").exists()


def test_demo_library_and_checklist_are_seeded_once_and_the_demo_partner_sees_them(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _seed()
    _seed()
    assert Course.all_tenants.filter(tenant__slug="acme").count() == 3
    assert Resource.all_tenants.filter(tenant__slug="acme").count() == 5
    client = Client(HTTP_HOST="acme.localhost")
    client.force_login(User.objects.get(email="partner@acme.example"))
    page = client.get("/enablement/").content.decode()
    assert "Networking fundamentals" in page
    roadmap = Resource.all_tenants.get(tenant__slug="acme", title="Roadmap briefing")
    assert f"/enablement/resources/{roadmap.pk}/" not in page  # Platinum only: at most listed greyed, never linked
