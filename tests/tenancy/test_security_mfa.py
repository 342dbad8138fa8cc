"""Two-factor authentication: owners and program managers must set up TOTP; sign-in then asks for the code."""

from collections.abc import Iterator

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.core.cache import cache
from django.test import Client

from api.services import api_key_create
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role, User
from tests.conftest import World
from tests.factories import PASSWORD, MembershipFactory, totp_now, totp_secret

pytestmark = pytest.mark.django_db

SETUP_URL = "/accounts/2fa/totp/activate/"
STAFF_PAGES = ["/", "/admin/", "/admin/tiers/tiermodel/", "/program/", "/portfolio/"]


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Rate limits and used TOTP codes live in the cache (Redis when configured): each test starts clean and
    leaves nothing behind for the tests after it."""
    cache.clear()
    yield
    cache.clear()


def staff_without_totp(world: World, role: Role) -> User:
    return MembershipFactory(
        tenant=world.tenant, user__email=f"new-{role}@{world.tenant.slug}.test", role=role, totp=False
    ).user


def sign_in_with_password(world: World, user: User) -> tuple[Client, object]:
    client = Client(HTTP_HOST=world.host)
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    return client, response


@pytest.mark.parametrize("role", [Role.OWNER, Role.PROGRAM_MANAGER])
@pytest.mark.parametrize("path", STAFF_PAGES)
def test_program_staff_without_totp_are_sent_to_set_it_up(acme: World, client_for, role: Role, path: str) -> None:
    user = staff_without_totp(acme, role)
    response = client_for(acme, user).get(path)
    assert response.status_code == 302
    assert response["Location"] == SETUP_URL


@pytest.mark.parametrize("role", [Role.OWNER, Role.PROGRAM_MANAGER])
def test_program_staff_with_totp_get_their_pages(acme: World, client_for, role: Role) -> None:
    client = client_for(acme, acme.user_for(role))
    assert client.get("/program/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_account_managers_and_partner_members_are_not_forced(acme: World, client_for) -> None:
    assert not Authenticator.objects.filter(user__in=[acme.account_manager, acme.partner_admin]).exists()
    assert client_for(acme, acme.account_manager).get("/portfolio/").status_code == 200
    assert client_for(acme, acme.partner_admin).get("/").status_code == 200
    assert client_for(acme, acme.partner_user).get("/rewards/").status_code == 200


def test_staff_role_in_another_tenant_does_not_force_totp_here(acme: World, globex: World, client_for) -> None:
    """The rule follows the membership of the host's tenant: a globex owner who is an account manager at acme."""
    user = staff_without_totp(globex, Role.OWNER)
    MembershipFactory(tenant=acme.tenant, user=user, role=Role.ACCOUNT_MANAGER)
    assert client_for(acme, user).get("/portfolio/").status_code == 200
    assert client_for(globex, user).get("/program/")["Location"] == SETUP_URL


def test_sign_in_and_setup_pages_stay_open(acme: World, client_for) -> None:
    client = client_for(acme, staff_without_totp(acme, Role.PROGRAM_MANAGER))
    assert client.get("/accounts/2fa/").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_api_calls_with_the_session_are_refused_until_totp(acme: World, client_for) -> None:
    client = client_for(acme, staff_without_totp(acme, Role.PROGRAM_MANAGER))
    response = client.post("/api/v1/ledger/adjustments/", {}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "mfa_required"
    assert client.get("/api/v1/partners/").json()["error"]["code"] == "mfa_required"


def test_api_keys_are_not_affected_by_the_staff_session(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        created = api_key_create(name="CRM", scopes=["partners:read"], created_by=acme.owner)
    client = client_for(acme, staff_without_totp(acme, Role.PROGRAM_MANAGER))
    response = client.get("/api/v1/partners/", HTTP_AUTHORIZATION=f"Bearer {created.token}")
    assert response.status_code == 200


def test_not_required_when_turned_off(acme: World, client_for, settings) -> None:
    settings.MFA_REQUIRED = False
    assert client_for(acme, staff_without_totp(acme, Role.PROGRAM_MANAGER)).get("/program/").status_code == 200


def test_setting_up_totp_unlocks_the_program_and_makes_recovery_codes(acme: World) -> None:
    user = staff_without_totp(acme, Role.PROGRAM_MANAGER)
    client, response = sign_in_with_password(acme, user)
    assert response["Location"] == "/"
    assert client.get("/program/")["Location"] == SETUP_URL
    # allauth asks for the password again before changing authenticators (a stolen session cannot add one).
    assert client.get(SETUP_URL)["Location"] == f"/accounts/reauthenticate/?next={SETUP_URL.replace('/', '%2F')}"
    assert client.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": SETUP_URL})["Location"] == SETUP_URL
    assert client.get(SETUP_URL).status_code == 200  # shows the QR code and keeps the new secret in the session
    secret = client.session[SECRET_SESSION_KEY]
    assert client.post(SETUP_URL, {"code": "000000" if totp_now(secret) != "000000" else "111111"}).status_code == 200
    assert not Authenticator.objects.filter(user=user).exists()
    response = client.post(SETUP_URL, {"code": totp_now(secret)})
    assert response.status_code == 302
    assert set(Authenticator.objects.filter(user=user).values_list("type", flat=True)) == {"totp", "recovery_codes"}
    assert client.get("/program/").status_code == 200


def test_sign_in_asks_enrolled_staff_for_their_code(acme: World) -> None:
    client, response = sign_in_with_password(acme, acme.manager)
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/program/").status_code == 302  # not signed in until the code is given
    assert "_auth_user_id" not in client.session
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_now(totp_secret(acme.manager))})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(acme.manager.pk)
    assert client.get("/program/").status_code == 200


def test_a_wrong_code_is_refused(acme: World) -> None:
    client, _response = sign_in_with_password(acme, acme.owner)
    right = totp_now(totp_secret(acme.owner))
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    response = client.post("/accounts/2fa/authenticate/", {"code": wrong})
    assert response.status_code == 200
    assert "Incorrect code." in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_guessing_codes_locks_the_second_step(acme: World) -> None:
    client, _response = sign_in_with_password(acme, acme.owner)
    right = totp_now(totp_secret(acme.owner))
    for offset in range(1, 6):
        client.post("/accounts/2fa/authenticate/", {"code": f"{(int(right) + offset) % 1_000_000:06d}"})
    response = client.post("/accounts/2fa/authenticate/", {"code": right})
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_code_works_only_once(acme: World) -> None:
    code = totp_now(totp_secret(acme.owner))
    first, _response = sign_in_with_password(acme, acme.owner)
    assert first.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 302
    second, _response = sign_in_with_password(acme, acme.owner)
    assert second.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 200
    assert "_auth_user_id" not in second.session


def test_partner_members_sign_in_without_a_code(acme: World) -> None:
    client, response = sign_in_with_password(acme, acme.partner_user)
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(acme.partner_user.pk)
