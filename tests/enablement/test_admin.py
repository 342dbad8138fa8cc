"""Program staff manage the library and the checklist in the tenant admin; files are scanned like evidence."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from enablement.models import Course, Onboarding, QuizQuestion, Resource
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from tests.conftest import World
from tests.enablement.factories import ladder, resource
from tests.partners.helpers import PDF_BYTES

ADD_RESOURCE = "/admin/enablement/resource/add/"


def resources(world: World) -> list[tuple[str, str, int | None]]:
    with tenant_context(world.tenant):
        return list(Resource.objects.values_list("title", "file_name", "minimum_tier_rank"))


def test_a_manager_uploads_a_gated_file_scanned_by_content(acme: World, client_for) -> None:
    ladder(acme)
    client = client_for(acme, acme.manager)
    form = client.get(ADD_RESOURCE)
    assert form.status_code == 200
    assert ("3", "Gold") in [
        (str(value), str(label)) for value, label in form.context["adminform"].form.fields["minimum_tier_rank"].choices
    ]

    response = client.post(
        ADD_RESOURCE,
        {
            "title": "Gold playbook",
            "file": SimpleUploadedFile("Playbook.pdf", PDF_BYTES, content_type="application/pdf"),
            "minimum_tier_rank": "3",
            "partner_types": [acme.partner_type.pk],
            "is_published": "on",
            "position": "0",
        },
    )

    assert response.status_code == 302
    assert resources(acme) == [("Gold playbook", "Playbook.pdf", 3)]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("page.pdf", b"<html><script>alert(1)</script></html>"),
        ("script.pdf", PDF_BYTES.replace(b"<<>>", b"<< /JavaScript (x) >>", 1)),
        ("empty.pdf", b""),
        ("archive.zip", b"PK\x03\x04rest"),
    ],
)
def test_a_file_that_is_not_what_it_claims_is_refused_and_nothing_stored(
    acme: World, client_for, name: str, content: bytes
) -> None:
    response = client_for(acme, acme.manager).post(
        ADD_RESOURCE,
        {"title": "Bad", "file": SimpleUploadedFile(name, content), "is_published": "on", "position": "0"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert resources(acme) == []


def test_a_resource_needs_a_file_or_a_link_not_both_nor_neither(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    neither = client.post(ADD_RESOURCE, {"title": "Nothing", "is_published": "on", "position": "0"})
    both = client.post(
        ADD_RESOURCE,
        {
            "title": "Both",
            "url": "https://example.com",
            "file": SimpleUploadedFile("a.pdf", PDF_BYTES),
            "is_published": "on",
            "position": "0",
        },
    )
    assert neither.status_code == both.status_code == 200
    assert "Give either a file or a link, not both." in neither.content.decode()
    assert "Give either a file or a link, not both." in both.content.decode()
    assert resources(acme) == []


def test_a_course_with_a_quiz_is_added_with_its_questions_checked(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    data = {
        "title": "Basics",
        "code": "basics-101",
        "pass_percent": "80",
        "is_published": "on",
        "position": "0",
        "questions-TOTAL_FORMS": "1",
        "questions-INITIAL_FORMS": "0",
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
        "questions-0-prompt": "Two plus two?",
        "questions-0-choices": "3\n4",
        "questions-0-correct_choice": "3",
        "questions-0-position": "0",
    }
    refused = client.post("/admin/enablement/course/add/", data)
    assert refused.status_code == 200
    assert "Give the number of one of the choices (1 to 2)." in refused.content.decode()

    accepted = client.post("/admin/enablement/course/add/", data | {"questions-0-correct_choice": "2"})
    assert accepted.status_code == 302
    with tenant_context(acme.tenant):
        assert Course.objects.get().code == "basics-101"
        assert QuizQuestion.objects.get().choice_list == ["3", "4"]

    duplicate = client.post("/admin/enablement/course/add/", data | {"questions-0-correct_choice": "2"})
    assert duplicate.status_code == 200  # the code is taken: a form error, not a crash
    with tenant_context(acme.tenant):
        assert Course.objects.count() == 1


def test_the_checklist_is_set_up_once_with_its_steps_in_order(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    data = {
        "is_active": "on",
        "steps": ["deal", "profile"],
        "window_days": "180",
        "welcome_texts-TOTAL_FORMS": "1",
        "welcome_texts-INITIAL_FORMS": "0",
        "welcome_texts-MIN_NUM_FORMS": "0",
        "welcome_texts-MAX_NUM_FORMS": "1000",
        "welcome_texts-0-language": "es",
        "welcome_texts-0-text": "¡Bienvenidos!",
    }
    assert client.post("/admin/enablement/onboarding/add/", data).status_code == 302
    with tenant_context(acme.tenant):
        assert Onboarding.objects.get().steps == ["profile", "deal"]
    assert client.get("/admin/enablement/onboarding/add/").status_code == 403  # one per program


@pytest.mark.parametrize("role", [Role.PARTNER_ADMIN, Role.PARTNER_USER, Role.ACCOUNT_MANAGER, Role.FINANCE])
def test_only_program_staff_reach_the_library_admin(acme: World, client_for, role: Role) -> None:
    response = client_for(acme, acme.user_for(role)).get("/admin/enablement/resource/")
    assert response.status_code in (302, 403)


def test_another_tenants_resources_are_not_in_this_admin(acme: World, globex: World, client_for) -> None:
    theirs = resource(globex, "Globex secret", url="https://globex.example")
    client = client_for(acme, acme.manager)
    assert "Globex secret" not in client.get("/admin/enablement/resource/").content.decode()
    assert client.get(f"/admin/enablement/resource/{theirs.pk}/change/").status_code == 302
