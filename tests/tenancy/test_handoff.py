"""One login, many programs (issue 23): "My programs" on the platform host and the single-use hand-off into each."""

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import signing
from django.test import Client
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry, Membership, Role, SignInHandoff
from loyalty.tenancy.services import handoff_issue
from tests.conftest import World
from tests.factories import PASSWORD, MembershipFactory, totp_now, totp_secret
from tests.rewards.factories import give_points

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(acme: World, globex: World):
    """Acme's partner user, who is also the partner admin of Globex's first partner."""
    MembershipFactory(tenant=globex.tenant, user=acme.partner_user, role=Role.PARTNER_ADMIN, partner=globex.partner)
    with tenant_context(acme.tenant):
        give_points(acme.partner, 1250, "acme-1")
    with tenant_context(globex.tenant):
        give_points(globex.partner, 40, "globex-1")
    return acme.partner_user


def platform_client(user) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def open_program(client: Client, world: World, user) -> str:
    """POST "Open" on My programs; return the hand-off URL the platform redirects to."""
    with tenant_context(world.tenant):
        membership = Membership.objects.get(user=user)
    response = client.post(f"/programs/{membership.pk}/open/")
    assert response.status_code == 302
    return response["Location"]


def arrive(world: World, url: str) -> tuple[Client, object]:
    parts = urlsplit(url)
    assert parts.hostname == f"{world.tenant.slug}.localhost"
    client = Client(HTTP_HOST=world.host)
    return client, client.get(f"{parts.path}?{parts.query}")


def test_my_programs_lists_each_membership_with_that_programs_tier_and_balance(acme, globex, person) -> None:
    response = platform_client(person).get("/programs/")
    assert response.status_code == 200
    rows = [(row.membership.tenant, row.membership.role, row.balance) for row in response.context["rows"]]
    assert rows == [
        (acme.tenant, Role.PARTNER_USER, 1250),
        (globex.tenant, Role.PARTNER_ADMIN, 40),
    ]
    assert b"Acme Partner One" in response.content
    assert b"Globex Partner One" in response.content


def test_someone_in_one_program_sees_only_that_one(acme, globex, person) -> None:
    response = platform_client(acme.partner_admin).get("/programs/")
    assert [row.membership.tenant for row in response.context["rows"]] == [acme.tenant]
    assert b"Globex" not in response.content


def test_my_programs_needs_a_sign_in(person) -> None:
    response = Client(HTTP_HOST="localhost").get("/programs/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_hand_off_signs_the_person_into_that_program_only(acme, globex, person) -> None:
    client = platform_client(person)
    acme_client, response = arrive(acme, open_program(client, acme, person))
    assert (response.status_code, response["Location"]) == (302, "/")
    home = acme_client.get("/")
    assert home.status_code == 200
    assert home.context["partner"] == acme.partner
    assert b"Globex Partner One" not in home.content
    # The Acme session is Acme's: the same cookie means nothing on Globex's host.
    globex_client = Client(HTTP_HOST=globex.host)
    globex_client.cookies = acme_client.cookies
    assert globex_client.get("/")["Location"].startswith("/accounts/login/")

    globex_client, response = arrive(globex, open_program(client, globex, person))
    assert globex_client.get("/").context["partner"] == globex.partner
    with tenant_context(acme.tenant):
        [entry] = AuditEntry.objects.filter(category=AuditEntry.Category.SIGN_IN)
    assert (entry.actor, entry.summary) == (person, "Signed in from My programs (hand-off)")


def test_a_hand_off_is_spent_on_first_use(acme, person) -> None:
    url = open_program(platform_client(person), acme, person)
    arrive(acme, url)
    replay_client, response = arrive(acme, url)
    assert response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in replay_client.session


def test_a_hand_off_for_one_program_opens_no_other(acme, globex, person) -> None:
    url = open_program(platform_client(person), acme, person)
    client = Client(HTTP_HOST=globex.host)
    response = client.get(f"/accounts/handoff/?{urlsplit(url).query}")
    assert response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session
    assert SignInHandoff.objects.get().used_at is None  # refused before it was spent


def test_a_forged_or_expired_hand_off_is_refused(acme, person, monkeypatch) -> None:
    token = handoff_issue(user=person, tenant=acme.tenant)
    forged = signing.dumps({"nonce": "guess", "user": person.pk, "tenant": acme.tenant.pk}, salt="another-salt")
    for bad in (forged, token[:-2] + "xx", ""):
        client = Client(HTTP_HOST=acme.host)
        assert client.get("/accounts/handoff/", {"token": bad})["Location"].startswith("/accounts/login/")
        assert "_auth_user_id" not in client.session
    later = timezone.now().timestamp() + 61
    monkeypatch.setattr(signing.time, "time", lambda: later)
    client = Client(HTTP_HOST=acme.host)
    assert client.get("/accounts/handoff/", {"token": token})["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


def test_a_membership_ended_before_arrival_lets_nobody_in(acme, person) -> None:
    url = open_program(platform_client(person), acme, person)
    with tenant_context(acme.tenant):
        Membership.objects.filter(user=person).update(is_active=False)
    client, response = arrive(acme, url)
    assert response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


def test_nobody_opens_a_program_through_someone_elses_membership(acme, globex, person) -> None:
    with tenant_context(globex.tenant):
        not_mine = Membership.objects.get(user=globex.partner_user)
    assert platform_client(person).post(f"/programs/{not_mine.pk}/open/").status_code == 404
    assert not SignInHandoff.objects.exists()


def test_opening_needs_a_post(acme, person) -> None:
    with tenant_context(acme.tenant):
        membership = Membership.objects.get(user=person)
    assert platform_client(person).get(f"/programs/{membership.pk}/open/").status_code == 405


def test_the_program_still_asks_its_staff_for_their_second_factor(acme) -> None:
    manager = acme.manager
    client, response = arrive(acme, open_program(platform_client(manager), acme, manager))
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session
    assert client.post("/accounts/2fa/authenticate/", {"code": totp_now(totp_secret(manager))}).status_code == 302
    assert client.session["_auth_user_id"] == str(manager.pk)
    with tenant_context(acme.tenant):
        [entry] = AuditEntry.objects.filter(category=AuditEntry.Category.SIGN_IN)
    assert entry.summary == "Signed in from My programs (hand-off) and a second factor"


def signed_in_with_password(world: World, user) -> Client:
    client = Client(HTTP_HOST=world.host)
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def test_the_header_offers_a_program_switch_to_a_person_in_two_programs(acme, globex, person) -> None:
    page = signed_in_with_password(acme, person).get("/").content.decode()
    assert 'class="program-switch">Switch program (2)</a>' in page
    assert 'href="http://localhost/programs/" class="program-switch"' in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not settings.REDIS_URL, reason="a write reaches other sessions through the shared cache (Redis)")
def test_the_program_switch_follows_a_membership_ended_in_the_other_program(acme, globex, person) -> None:
    """Counted at sign-in, the switch is counted again once another program's decision changed the memberships:
    the partner admin at Globex removes the person, and Acme's next page no longer offers a switch."""
    client = signed_in_with_password(acme, person)
    assert "Switch program (2)" in client.get("/").content.decode()
    with tenant_context(globex.tenant):
        membership = Membership.objects.get(user=person)
        membership.is_active = False
        membership.save()
    assert "program-switch" not in client.get("/").content.decode()


def test_no_program_switch_for_a_person_in_one_program(acme, globex) -> None:
    page = signed_in_with_password(acme, acme.partner_admin).get("/").content.decode()
    assert "program-switch" not in page
    assert acme.partner_admin.email in page  # the header still links the email to My programs
