"""The announcement pages: staff write, schedule, cancel and follow them; partner members read and dismiss them.

Every page: the roles that have no business there get a 403, another tenant's people too, another tenant's or
another member's announcement is a 404; bad input is a form error (nothing written); a repeated POST does nothing
twice; list pages keep a query budget.
"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from engagement.models import Announcement, AnnouncementDelivery
from engagement.services import Audience, announcements_publish_due
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from notifications.models import Kind, Notification
from tests.conftest import World
from tests.engagement.helpers import announce, cast

pytestmark = pytest.mark.django_db
PARTNER_ROLES = (Role.PARTNER_ADMIN, Role.PARTNER_USER)
STAFF_ROLES = (Role.PROGRAM_MANAGER, Role.OWNER)
OTHER_STAFF = (Role.ACCOUNT_MANAGER, Role.FINANCE)


def published(world: World, title: str = "Price list 2027", **fields) -> Announcement:
    with tenant_context(world.tenant):
        announcement = announce(world, title, **fields)
        announcements_publish_due()
        return announcement


def new_post(**overrides) -> dict:
    return {
        "title_en": "Q1 incentives",
        "body_en": "Double points on training until March.",
        "title_es": "",
        "body_es": "",
        "link": "https://acme.example/q1",
        "publish_at": "",
        "form_key": str(uuid.uuid4()),
    } | overrides


def count(world: World) -> int:
    with tenant_context(world.tenant):
        return Announcement.objects.count()


# --- Who may see what --------------------------------------------------------------------------------------------

STAFF_PAGES = ["/program/announcements/", "/program/announcements/new/", "/program/surveys/", "/program/surveys/new/"]


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_staff_pages_are_for_program_managers_and_owners(acme: World, globex: World, outsider, client_for, path):
    for role in STAFF_ROLES:
        assert client_for(acme, acme.user_for(role)).get(path).status_code == 200
    for role in (*PARTNER_ROLES, *OTHER_STAFF):
        assert client_for(acme, acme.user_for(role)).get(path).status_code == 403
    assert client_for(acme, globex.manager).get(path).status_code == 403
    assert client_for(acme, outsider).get(path).status_code == 403
    assert client_for(acme).get(path).status_code == 302


def test_staff_announcement_page_and_cancel_refuse_other_roles_and_tenants(
    acme: World, globex: World, client_for
) -> None:
    with tenant_context(acme.tenant):
        later = announce(acme, publish_at=timezone.now() + timedelta(days=1))
    page, cancel = f"/program/announcements/{later.pk}/", f"/program/announcements/{later.pk}/cancel/"
    for role in (*PARTNER_ROLES, *OTHER_STAFF):
        assert client_for(acme, acme.user_for(role)).get(page).status_code == 403
        assert client_for(acme, acme.user_for(role)).post(cancel).status_code == 403
    assert client_for(acme, globex.manager).post(cancel).status_code == 403
    # On its own host, globex's manager finds no such announcement.
    assert client_for(globex, globex.manager).get(page).status_code == 404
    assert client_for(globex, globex.manager).post(cancel).status_code == 404
    with tenant_context(acme.tenant):
        assert Announcement.objects.get(pk=later.pk).status == Announcement.Status.SCHEDULED
    assert client_for(acme, acme.owner).get(page).status_code == 200


def test_partner_pages_refuse_staff_other_tenants_and_other_members(
    acme: World, globex: World, outsider, client_for
) -> None:
    with tenant_context(acme.tenant):
        people = cast(acme)
    gold_only = published(acme, "Gold only", audience=Audience(tiers=[people.gold]))
    theirs = published(globex, "Globex only")
    pages = ["/announcements/", f"/announcements/{gold_only.pk}/"]
    for path in pages:
        for role in (*STAFF_ROLES, *OTHER_STAFF):
            assert client_for(acme, acme.user_for(role)).get(path).status_code == 403
        assert client_for(acme, globex.partner_user).get(path).status_code == 403
        assert client_for(acme, outsider).get(path).status_code == 403
        assert client_for(acme).get(path).status_code == 302
    # Not in its audience, or another tenant's: no such announcement.
    assert client_for(acme, people.silver_member).get(f"/announcements/{gold_only.pk}/").status_code == 404
    assert client_for(acme, people.silver_member).post(f"/announcements/{gold_only.pk}/dismiss/").status_code == 404
    assert client_for(acme, acme.partner_user).get(f"/announcements/{theirs.pk}/").status_code == 404
    assert client_for(acme, acme.partner_user).get(f"/announcements/{gold_only.pk}/").status_code == 200


# --- Staff: write and follow ----------------------------------------------------------------------------------


def test_writing_an_announcement_due_now_delivers_it_once_even_when_posted_twice(
    acme: World, client_for, django_capture_on_commit_callbacks
) -> None:
    client = client_for(acme, acme.manager)
    data = new_post(title_es="Incentivos T1", body_es="Puntos dobles en formación hasta marzo.")
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/program/announcements/new/", data)
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post("/program/announcements/new/", data)
    with tenant_context(acme.tenant):
        [announcement] = Announcement.objects.all()
        assert first.status_code == second.status_code == 302
        assert first["Location"] == second["Location"] == f"/program/announcements/{announcement.pk}/"
        assert announcement.status == Announcement.Status.PUBLISHED
        assert announcement.texts == {
            "en": {"title": "Q1 incentives", "body": "Double points on training until March."},
            "es": {"title": "Incentivos T1", "body": "Puntos dobles en formación hasta marzo."},
        }
        assert announcement.created_by == acme.manager
        assert AnnouncementDelivery.objects.count() == 2
    page = client.get(f"/program/announcements/{announcement.pk}/")
    assert b"Read by audience" in page.content


def test_a_scheduled_announcement_can_be_cancelled_once(acme: World, client_for) -> None:
    client = client_for(acme, acme.owner)
    later = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/program/announcements/new/", new_post(publish_at=later))
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        announcement = Announcement.objects.get()
        assert announcement.status == Announcement.Status.SCHEDULED
        assert not AnnouncementDelivery.objects.exists()
    cancel = f"/program/announcements/{announcement.pk}/cancel/"
    assert client.post(cancel).status_code == 302
    repeated = client.post(cancel, follow=True)
    assert b"Only a scheduled announcement can be cancelled" in repeated.content
    with tenant_context(acme.tenant):
        assert Announcement.objects.get().status == Announcement.Status.CANCELLED


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title_en": "", "body_en": ""}, "title_en"),
        ({"body_en": "   "}, "body_en"),
        ({"title_en": "x" * 201}, "title_en"),
        ({"body_en": "x" * 4001}, "body_en"),
        ({"title_en": "<script>alert(1)</script>"}, "title_en"),
        ({"body_en": "Hello <b>partners</b>"}, "body_en"),
        ({"title_en": "Price\x00list"}, "title_en"),
        ({"title_es": "Sólo el título"}, "body_es"),
        ({"link": "javascript:alert(1)"}, "link"),
        ({"publish_at": "tomorrow-ish"}, "publish_at"),
        ({"publish_at": "9999-12-31T23:59"}, "publish_at"),
        ({"tiers": ["999999"]}, "tiers"),
        ({"regions": ["Atlantis"]}, "regions"),
        ({"form_key": "not-a-key"}, "form_key"),
    ],
)
def test_bad_input_is_a_form_error_and_writes_nothing(acme: World, client_for, overrides, field) -> None:
    response = client_for(acme, acme.manager).post("/program/announcements/new/", new_post(**overrides))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert count(acme) == 0


def test_a_body_that_mentions_less_than_is_plain_text_and_shown_escaped(acme: World, client_for) -> None:
    response = client_for(acme, acme.manager).post(
        "/program/announcements/new/", new_post(body_en="Orders < 5 units & > 2 boxes ship free.")
    )
    assert response.status_code == 302
    announcements_run(acme)
    page = client_for(acme, acme.partner_user).get("/")
    assert b"Orders &lt; 5 units &amp; &gt; 2 boxes ship free." in page.content


def announcements_run(world: World) -> None:
    with tenant_context(world.tenant):
        announcements_publish_due()


def test_the_staff_list_keeps_its_query_budget(acme: World, client_for, django_assert_max_num_queries) -> None:
    for number in range(3):
        published(acme, f"Note {number}")
    client = client_for(acme, acme.manager)
    client.get("/program/announcements/")
    for number in range(20):
        published(acme, f"More {number}")
    with django_assert_max_num_queries(12):
        response = client.get("/program/announcements/")
    assert response.status_code == 200


# --- Partner members: banner, read, dismiss ------------------------------------------------------------------


def test_the_banner_shows_until_read_and_opening_reads_the_notification_too(acme: World, client_for) -> None:
    announcement = published(acme, "Summit in Madrid")
    client = client_for(acme, acme.partner_user)
    assert b"Summit in Madrid" in client.get("/").content
    page = client.get(f"/announcements/{announcement.pk}/")
    assert page.status_code == 200
    assert b"Summit in Madrid: the details." in page.content
    assert b"Summit in Madrid" not in client.get("/").content
    with tenant_context(acme.tenant):
        mine = Notification.objects.get(kind=Kind.ANNOUNCEMENT, recipient=acme.partner_user)
        theirs = Notification.objects.get(kind=Kind.ANNOUNCEMENT, recipient=acme.partner_admin)
        assert mine.read_at is not None
        assert theirs.read_at is None
    # The colleague still sees it.
    assert b"Summit in Madrid" in client_for(acme, acme.partner_admin).get("/").content


def test_dismissing_reads_it_once_and_goes_back(acme: World, client_for) -> None:
    announcement = published(acme, "Summit in Madrid")
    client = client_for(acme, acme.partner_admin)
    response = client.post(f"/announcements/{announcement.pk}/dismiss/", {"next": "/statement/"})
    assert (response.status_code, response["Location"]) == (302, "/statement/")
    with tenant_context(acme.tenant):
        read_at = AnnouncementDelivery.objects.get(user=acme.partner_admin).read_at
    again = client.post(f"/announcements/{announcement.pk}/dismiss/", {"next": "https://evil.example/"})
    assert (again.status_code, again["Location"]) == (302, "/")
    with tenant_context(acme.tenant):
        assert AnnouncementDelivery.objects.get(user=acme.partner_admin).read_at == read_at
    assert client.get(f"/announcements/{announcement.pk}/dismiss/").status_code == 405
    assert b"Summit in Madrid" not in client.get("/").content
    assert b"Summit in Madrid" in client.get("/announcements/").content


def test_spanish_readers_see_the_spanish_text_or_the_programs(acme: World, client_for) -> None:
    published(
        acme,
        texts={"en": {"title": "Summit", "body": "See you there."}, "es": {"title": "Cumbre", "body": "Nos vemos."}},
    )
    published(acme, texts={"en": {"title": "Only English", "body": "Not translated."}})
    acme.partner_user.language = "es"
    acme.partner_user.save(update_fields=["language"])
    page = client_for(acme, acme.partner_user).get("/").content.decode()
    assert "Cumbre" in page
    assert "Summit" not in page
    assert "Only English" in page


def test_partner_home_keeps_its_query_budget_with_announcements(
    acme: World, client_for, django_assert_max_num_queries
) -> None:
    client = client_for(acme, acme.partner_user)
    published(acme, "One")
    with django_assert_max_num_queries(60) as baseline:
        client.get("/")
    for number in range(10):
        published(acme, f"More {number}")
    with django_assert_max_num_queries(len(baseline.captured_queries)):
        response = client.get("/")
    assert response.content.count(b'announcement-banner"') == 3
