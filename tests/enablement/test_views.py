"""The library pages: who may open what (roles, tiers, types, tenants), file serving, quiz forms and bad input."""

import pytest

from enablement.models import CourseCompletion, PartnerProfile
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from partners.models import Activity, ActivityKind
from tests.conftest import World
from tests.enablement.factories import course, ladder, place, resource
from tests.factories import MembershipFactory
from tests.partners.helpers import PDF_BYTES

PARTNER_ROLES = [Role.PARTNER_USER, Role.PARTNER_ADMIN]
STAFF_WITHOUT_LIBRARY = [Role.ACCOUNT_MANAGER, Role.FINANCE, Role.PROGRAM_MANAGER, Role.OWNER]


@pytest.fixture
def shelf(acme: World) -> World:
    """Acme's partner on Silver: an open file, an open link, a Gold file, an open course and a Gold course."""
    tiers = ladder(acme)
    place(acme, acme.partner, tiers["Silver"])
    acme.tiers = tiers
    acme.open_file = resource(acme, "Silver price list", rank=2)
    acme.open_link = resource(acme, "Pitch deck", url="https://example.com/deck")
    acme.gold_file = resource(acme, "Gold playbook", rank=3)
    acme.basics = course(acme, "Basics", questions=(("Two plus two?", "3\n4\n5", 2),))
    acme.gold_course = course(acme, "Gold selling", rank=3)
    return acme


def trainings(world: World) -> int:
    with tenant_context(world.tenant):
        return Activity.objects.filter(kind=ActivityKind.TRAINING).count()


@pytest.mark.parametrize("role", PARTNER_ROLES)
def test_partner_members_see_the_library_with_the_next_tier_greyed(shelf: World, client_for, role: Role) -> None:
    response = client_for(shelf, shelf.user_for(role)).get("/enablement/")

    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="/enablement/resources/{shelf.open_file.pk}/"' in page
    assert f'href="/enablement/courses/{shelf.basics.pk}/"' in page
    assert "Unlocked at Gold" in page
    assert "Gold playbook" in page
    assert f"/enablement/resources/{shelf.gold_file.pk}/" not in page
    assert f"/enablement/courses/{shelf.gold_course.pk}/" not in page


@pytest.mark.parametrize("role", STAFF_WITHOUT_LIBRARY)
def test_staff_have_no_library_page_of_their_own(shelf: World, client_for, role: Role) -> None:
    assert client_for(shelf, shelf.user_for(role)).get("/enablement/").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in_and_outsiders_refused(shelf: World, client_for, outsider) -> None:
    for path in (
        "/enablement/",
        f"/enablement/resources/{shelf.open_file.pk}/",
        f"/enablement/courses/{shelf.basics.pk}/",
    ):
        assert client_for(shelf).get(path).status_code == 302
        assert client_for(shelf, outsider).get(path).status_code == 403


@pytest.mark.parametrize("role", [*PARTNER_ROLES, Role.PROGRAM_MANAGER, Role.OWNER])
def test_an_entitled_member_downloads_the_file_served_safely(shelf: World, client_for, role: Role) -> None:
    response = client_for(shelf, shelf.user_for(role)).get(f"/enablement/resources/{shelf.open_file.pk}/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert 'filename="Price list.pdf"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == PDF_BYTES


def test_a_link_resource_redirects_to_its_address(shelf: World, client_for) -> None:
    response = client_for(shelf, shelf.partner_user).get(f"/enablement/resources/{shelf.open_link.pk}/")
    assert (response.status_code, response["Location"]) == (302, "https://example.com/deck")


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.FINANCE])
def test_staff_outside_the_program_team_cannot_download(shelf: World, client_for, role: Role) -> None:
    assert (
        client_for(shelf, shelf.user_for(role)).get(f"/enablement/resources/{shelf.open_file.pk}/").status_code == 403
    )


def test_a_file_above_the_partners_tier_is_not_found_and_again_after_a_downgrade(shelf: World, client_for) -> None:
    client = client_for(shelf, shelf.partner_user)
    path = f"/enablement/resources/{shelf.gold_file.pk}/"
    assert client.get(path).status_code == 404

    place(shelf, shelf.partner, shelf.tiers["Gold"])
    assert client.get(path).status_code == 200
    assert "Gold playbook" in client.get("/enablement/").content.decode()

    place(shelf, shelf.partner, shelf.tiers["Silver"])  # a downgrade closes it again at once
    assert client.get(path).status_code == 404


def test_another_tenant_and_its_members_never_reach_this_tenants_files(shelf: World, globex: World, client_for) -> None:
    path = f"/enablement/resources/{shelf.open_file.pk}/"
    # Signed in at globex as globex's partner: acme's resource does not exist there.
    assert client_for(globex, globex.partner_user).get(path).status_code == 404
    assert client_for(globex, globex.owner).get(path).status_code == 404
    # Globex's members at acme's host have no membership there.
    assert client_for(shelf, globex.partner_user).get(path).status_code == 403
    assert client_for(globex, globex.partner_user).get(f"/enablement/courses/{shelf.basics.pk}/").status_code == 404


def test_another_partners_member_of_another_type_gets_404(shelf: World, client_for) -> None:
    from tests.factories import PartnerTypeFactory

    installer = PartnerTypeFactory(tenant=shelf.tenant, code="installer", name="Installer")
    only_installers = resource(shelf, "Wiring", types=(installer,))
    assert client_for(shelf, shelf.partner_user).get(f"/enablement/resources/{only_installers.pk}/").status_code == 404


def test_passing_the_quiz_records_one_training_even_when_posted_twice(shelf: World, client_for) -> None:
    client = client_for(shelf, shelf.partner_user)
    with tenant_context(shelf.tenant):
        name = f"question-{shelf.basics.questions.get().pk}"
    path = f"/enablement/courses/{shelf.basics.pk}/"

    first = client.post(path, {name: "2"})
    second = client.post(path, {name: "2"})  # the back button and submit again, or a double click

    assert (first.status_code, first["Location"]) == (302, path)
    assert second.status_code == 302
    assert trainings(shelf) == 1
    page = client.get(path).content.decode()
    assert "You completed this course on" in page
    assert "Quiz result: 100%." in page


def test_a_wrong_answer_shows_the_score_and_records_nothing(shelf: World, client_for) -> None:
    with tenant_context(shelf.tenant):
        name = f"question-{shelf.basics.questions.get().pk}"
    response = client_for(shelf, shelf.partner_user).post(f"/enablement/courses/{shelf.basics.pk}/", {name: "1"})
    assert response.status_code == 200
    assert "You scored 0%; 80% passes." in response.content.decode()
    assert trainings(shelf) == 0


@pytest.mark.parametrize("answer", ["", "7", "abc", "\x00", "1" * 5000])
def test_bad_answers_are_a_form_error_not_a_crash(shelf: World, client_for, answer: str) -> None:
    with tenant_context(shelf.tenant):
        name = f"question-{shelf.basics.questions.get().pk}"
    response = client_for(shelf, shelf.partner_user).post(f"/enablement/courses/{shelf.basics.pk}/", {name: answer})
    assert response.status_code == 400
    assert "Choose one answer." in response.content.decode()
    assert trainings(shelf) == 0


def test_a_gold_course_is_not_found_for_silver_and_cannot_be_posted(shelf: World, client_for) -> None:
    client = client_for(shelf, shelf.partner_user)
    path = f"/enablement/courses/{shelf.gold_course.pk}/"
    assert client.get(path).status_code == 404
    assert client.post(path, {}).status_code == 404
    with tenant_context(shelf.tenant):
        assert not CourseCompletion.objects.exists()


def test_unknown_ids_are_404(shelf: World, client_for) -> None:
    client = client_for(shelf, shelf.partner_user)
    assert client.get("/enablement/resources/999999/").status_code == 404
    assert client.get("/enablement/courses/999999/").status_code == 404


def test_the_partner_admin_fills_in_the_profile_and_a_partner_user_reads_it(shelf: World, client_for) -> None:
    admin = client_for(shelf, shelf.partner_admin)
    bad = admin.post("/enablement/profile/", {"website": "not a url", "phone": "", "description": "x"})
    assert bad.status_code == 400
    with tenant_context(shelf.tenant):
        assert not PartnerProfile.objects.exists()

    saved = admin.post(
        "/enablement/profile/",
        {"website": "https://example.com", "phone": "+1 555 0100", "description": "Networks for schools."},
    )
    assert saved.status_code == 302
    again = admin.post(
        "/enablement/profile/",
        {"website": "https://example.org", "phone": "+1 555 0100", "description": "Networks for schools."},
    )
    assert again.status_code == 302
    with tenant_context(shelf.tenant):
        assert list(PartnerProfile.objects.values_list("website", flat=True)) == ["https://example.org"]

    user = client_for(shelf, shelf.partner_user)
    assert "https://example.org" in user.get("/enablement/profile/").content.decode()
    refused = user.post("/enablement/profile/", {"website": "https://evil.example", "phone": "1", "description": "x"})
    assert refused.status_code == 403
    with tenant_context(shelf.tenant):
        assert list(PartnerProfile.objects.values_list("website", flat=True)) == ["https://example.org"]


@pytest.mark.parametrize("role", STAFF_WITHOUT_LIBRARY)
def test_staff_have_no_profile_page(shelf: World, client_for, role: Role) -> None:
    assert client_for(shelf, shelf.user_for(role)).get("/enablement/profile/").status_code == 403


def test_a_member_of_another_partner_sees_its_own_profile_only(shelf: World, client_for) -> None:
    client_for(shelf, shelf.partner_admin).post(
        "/enablement/profile/", {"website": "https://example.com", "phone": "1", "description": "Ours."}
    )
    stranger = MembershipFactory(tenant=shelf.tenant, role=Role.PARTNER_ADMIN, partner=shelf.unmanaged_partner).user
    page = client_for(shelf, stranger).get("/enablement/profile/").content.decode()
    assert "https://example.com" not in page


def test_library_page_query_count_is_constant(shelf: World, client_for, django_assert_max_num_queries) -> None:
    client = client_for(shelf, shelf.partner_user)
    client.get("/enablement/")
    for index in range(6):
        resource(shelf, f"More {index}", rank=2)
        course(shelf, f"More course {index}")
    with django_assert_max_num_queries(20):
        assert client.get("/enablement/").status_code == 200
