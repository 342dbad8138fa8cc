"""Login limits (allauth's rate limits on the real cache) for the portal and both admins, and password rules."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from loyalty.tenancy.models import User
from tests.conftest import World
from tests.factories import PASSWORD, UserFactory
from tests.tenancy.test_security_mfa import fresh_cache  # noqa: F401 - the fixture, shared

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

TOO_MANY = "Too many failed login attempts"
WRONG = "not-the-password"


def attempt(host: str, email: str, password: str, *, ip: str, path: str = "/accounts/login/"):
    return Client(HTTP_HOST=host, REMOTE_ADDR=ip).post(path, {"login": email, "password": password})


def test_wrong_passwords_lock_the_account_even_from_other_addresses(acme: World) -> None:
    email = acme.partner_user.email
    for number in range(5):
        response = attempt(acme.host, email, WRONG, ip=f"198.51.100.{number}")
        assert response.status_code == 200
        assert TOO_MANY not in response.content.decode()
    response = attempt(acme.host, email, PASSWORD, ip="203.0.113.9")
    assert response.status_code == 200  # the form again, not a redirect into the portal
    assert TOO_MANY in response.content.decode()
    assert "_auth_user_id" not in response.client.session
    # Another account is not affected.
    assert attempt(acme.host, acme.partner_admin.email, PASSWORD, ip="203.0.113.9").status_code == 302


def test_wrong_passwords_from_one_address_lock_that_address(acme: World) -> None:
    for number in range(10):
        attempt(acme.host, f"guess{number}@example.com", WRONG, ip="198.51.100.7")
    response = attempt(acme.host, acme.partner_user.email, PASSWORD, ip="198.51.100.7")
    assert TOO_MANY in response.content.decode()
    assert attempt(acme.host, acme.partner_user.email, PASSWORD, ip="198.51.100.8").status_code == 302


def test_too_many_sign_in_posts_from_one_address_are_429(acme: World) -> None:
    statuses = [
        attempt(acme.host, f"p{number}@example.com", WRONG, ip="198.51.100.20").status_code for number in range(31)
    ]
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429


@pytest.mark.parametrize("world_host", [True, False], ids=["tenant admin", "platform admin"])
def test_admin_sign_in_is_allauths(acme: World, world_host: bool) -> None:
    host = acme.host if world_host else "localhost"
    response = Client(HTTP_HOST=host).get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/"


def test_platform_admin_brute_force_is_refused_then_the_right_password_too(db: None) -> None:
    superuser: User = UserFactory(email="root@tierline.test", is_superuser=True, is_staff=True)
    for _ in range(5):
        attempt("localhost", superuser.email, WRONG, ip="198.51.100.30", path="/accounts/login/?next=/admin/")
    response = attempt("localhost", superuser.email, PASSWORD, ip="198.51.100.31", path="/accounts/login/?next=/admin/")
    assert TOO_MANY in response.content.decode()
    assert Client(HTTP_HOST="localhost").get("/admin/").status_code == 302


def test_platform_admin_signs_in_through_allauth(db: None) -> None:
    superuser: User = UserFactory(email="root@tierline.test", is_superuser=True, is_staff=True)
    client = Client(HTTP_HOST="localhost")
    response = client.post("/accounts/login/?next=/admin/", {"login": superuser.email, "password": PASSWORD})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Sh0rt-pw", "too short"),
        ("qwertyuiop", "too common"),
        ("8203948571", "entirely numeric"),
        ("member.acme.example", "too similar"),
    ],
)
def test_password_validators_refuse(password: str, rule: str) -> None:
    user = User(email="member@acme.example")
    with pytest.raises(ValidationError) as raised:
        validate_password(password, user)
    assert any(rule in message for message in raised.value.messages)


def test_password_validators_accept_a_long_unusual_password() -> None:
    validate_password("sturdy-lantern-orbit-42", User(email="member@acme.example"))


def test_changing_email_addresses_asks_for_the_password_again(acme: World, client_for) -> None:
    """A session alone (a stolen one) cannot add an address of its own to the account: allauth asks for the
    password first, and a wrong one adds nothing."""
    client = client_for(acme, acme.partner_user)
    new = {"action_add": "", "email": "elsewhere@example.com"}
    response = client.post("/accounts/email/", new)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauthenticate/")
    assert client.post("/accounts/reauthenticate/", {"password": WRONG}).status_code == 200
    assert not EmailAddress.objects.filter(email="elsewhere@example.com").exists()
    assert client.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302
    assert client.post("/accounts/email/", new).status_code == 302
    added = EmailAddress.objects.get(email="elsewhere@example.com")
    assert (added.user, added.verified, added.primary) == (acme.partner_user, False, False)
