"""The notification centre and email settings of partner members: their own notifications only."""

import pytest

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from notifications.models import Kind, Notification, Preference, kinds_for
from notifications.services import Event, notifications_raise
from tests.conftest import World

PAGES = ["/notifications/", "/notifications/settings/"]


def raise_expiring(world: World, count: int = 1, partner=None) -> None:  # noqa: ANN001 - a Partner
    partner = partner or world.partner
    with tenant_context(world.tenant):
        notifications_raise(
            events=[
                Event(
                    partner_id=partner.pk,
                    kind=Kind.POINTS_EXPIRING,
                    subject="points_expiring",
                    period=f"2026-12-{day:02d}",
                    context={"points": 1250, "expires_on": f"2026-12-{day:02d}", "link": "/statement/"},
                )
                for day in range(1, count + 1)
            ]
        )


def test_inbox_lists_the_members_notifications_with_the_unread_count(acme: World, client_for) -> None:
    raise_expiring(acme, 2)
    raise_expiring(acme, 3, partner=acme.unmanaged_partner)

    page = client_for(acme, acme.partner_user).get("/notifications/")

    content = page.content.decode()
    assert page.status_code == 200
    assert [item["subject"] for item in page.context["items"]] == ["1,250 points expire soon"] * 2
    assert "1,250 points expire in the next 30 days (the first on Dec. 2, 2026)." in content
    assert 'aria-label="2 unread">2</span>' in content


def test_opening_marks_read_and_follows_the_link(acme: World, client_for) -> None:
    raise_expiring(acme)
    with tenant_context(acme.tenant):
        notification = Notification.objects.get(recipient=acme.partner_user)
    client = client_for(acme, acme.partner_user)

    response = client.post(f"/notifications/{notification.pk}/open/")

    assert response.status_code == 302
    assert response["Location"] == "/statement/"
    notification.refresh_from_db()
    assert notification.read_at is not None
    assert "unread" not in client.get("/notifications/").content.decode().split("<main", 1)[0]


def test_mark_all_as_read_is_the_members_own(acme: World, client_for) -> None:
    raise_expiring(acme, 3)

    client_for(acme, acme.partner_user).post("/notifications/read/")

    with tenant_context(acme.tenant):
        assert not Notification.objects.filter(recipient=acme.partner_user, read_at=None).exists()
        assert Notification.objects.filter(recipient=acme.partner_admin, read_at=None).count() == 3


def test_another_members_notification_cannot_be_opened(acme: World, globex: World, client_for) -> None:
    raise_expiring(acme)
    raise_expiring(globex)
    with tenant_context(acme.tenant):
        colleagues = Notification.objects.get(recipient=acme.partner_admin)
    with tenant_context(globex.tenant):
        foreign = Notification.objects.get(recipient=globex.partner_user)
    client = client_for(acme, acme.partner_user)

    assert client.post(f"/notifications/{colleagues.pk}/open/").status_code == 404
    assert client.post(f"/notifications/{foreign.pk}/open/").status_code == 404
    colleagues.refresh_from_db()
    assert colleagues.read_at is None


@pytest.mark.parametrize("path", PAGES)
def test_other_tenants_and_anonymous_are_refused(acme: World, globex: World, client_for, path: str) -> None:
    assert client_for(acme, globex.partner_user).get(path).status_code == 403
    assert client_for(acme, globex.manager).get(path).status_code == 403
    assert client_for(acme).get(path).status_code == 302


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PROGRAM_MANAGER, Role.OWNER])
def test_staff_reach_their_notifications_and_settings(acme: World, client_for, path: str, role: Role) -> None:
    """Issue 17, item 21: staff had 403 on notification settings and no way to their sign-in settings."""
    page = client_for(acme, acme.user_for(role)).get(path)
    assert page.status_code == 200
    assert 'href="/notifications/settings/">Settings</a>' in page.content.decode()


def test_inbox_query_count_does_not_grow(acme: World, client_for, django_assert_max_num_queries) -> None:
    client = client_for(acme, acme.partner_user)
    raise_expiring(acme, 2)
    client.get("/notifications/")
    raise_expiring(acme, 25)
    # session, user, membership (+partner), page count, page rows, unread count in the header
    with django_assert_max_num_queries(7):
        client.get("/notifications/")


def test_settings_save_kinds_digest_and_language(acme: World, client_for) -> None:
    client = client_for(acme, acme.partner_user)
    emailed = [kind for kind, _label in kinds_for(is_partner_member=True) if kind != Kind.MONTHLY_STATEMENT]

    response = client.post("/notifications/settings/", {"emailed_kinds": emailed, "digest": "on", "language": "es"})

    assert response.status_code == 302
    with tenant_context(acme.tenant):
        preference = Preference.objects.get(user=acme.partner_user)
    assert (preference.muted_kinds, preference.digest) == ([Kind.MONTHLY_STATEMENT], True)
    acme.partner_user.refresh_from_db()
    assert acme.partner_user.language == "es"
    assert '<html lang="es">' in client.get("/notifications/settings/").content.decode()


def test_settings_refuse_an_unknown_language_and_write_nothing(acme: World, client_for) -> None:
    response = client_for(acme, acme.partner_user).post("/notifications/settings/", {"language": "xx"})

    assert response.status_code == 200
    assert response.context["form"].errors["language"]
    with tenant_context(acme.tenant):
        assert not Preference.objects.exists()


def test_staff_are_told_of_a_claim_waiting_and_offered_their_own_kinds(acme: World, client_for) -> None:
    """Issue 17, item 22: a claim waiting for review reaches the program staff and the partner's account manager,
    with its reason; the settings offer staff the staff's kinds only, and saving them leaves the others alone."""
    with tenant_context(acme.tenant):
        notifications_raise(
            events=[
                Event(
                    partner_id=acme.partner.pk,
                    kind=Kind.CLAIM_TO_REVIEW,
                    subject="claim:1",
                    audience="staff",
                    context={"partner": acme.partner.name, "reference": "INV-7", "reasons": ["duplicate"], "link": "/"},
                )
            ]
        )
    client = client_for(acme, acme.account_manager)
    inbox = client.get("/notifications/").content.decode()
    assert "Claim INV-7 from Acme Partner One waits for review" in inbox
    assert 'aria-label="1 unread">1</span>' in inbox
    settings_page = client.get("/notifications/settings/")
    assert [value for value, _label in settings_page.context["form"].fields["emailed_kinds"].choices] == [
        Kind.CLAIM_TO_REVIEW,
        Kind.REDEMPTION_TO_REVIEW,
        Kind.DEAL_TO_REVIEW,
    ]
    for link in ("/accounts/password/change/", "/accounts/2fa/", "/accounts/email/"):
        assert f'href="{link}"' in settings_page.content.decode()
    client.post("/notifications/settings/", {"emailed_kinds": [Kind.REDEMPTION_TO_REVIEW], "language": ""})
    with tenant_context(acme.tenant):
        assert Preference.objects.get(user=acme.account_manager).muted_kinds == [
            Kind.CLAIM_TO_REVIEW,
            Kind.DEAL_TO_REVIEW,
        ]
    assert client_for(acme, acme.partner_user).get("/notifications/").context["items"] == []
