"""The demo seed: two tenants with every role, idempotent, and every printed login works."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import Client

from demo.seed import DEMO_PASSWORD, PLATFORM_ADMIN_EMAIL
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
            assert client.get("/").status_code == 200, email
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
