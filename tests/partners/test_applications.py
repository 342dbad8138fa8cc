"""Applying to join a program: the public page, the emailed confirmation, staff review, look-alikes, refusals."""

import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry, Invitation, Role
from partners.applications import company_name_key, website_domain
from partners.models import Partner, PartnerApplication
from tests.conftest import World
from tests.factories import MembershipFactory

APPLY = "/apply/"
QUEUE = "/program/applications/"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


@pytest.fixture(autouse=True)
def _emails_sent_on_commit(monkeypatch, django_capture_on_commit_callbacks):
    """Each request's tasks run when its transaction would commit (the test's transaction never does)."""
    original = Client.request

    def request(self, **request):
        with django_capture_on_commit_callbacks(execute=True):
            return original(self, **request)

    monkeypatch.setattr(Client, "request", request)


def open_applications(world: World) -> None:
    world.tenant.applications_open = True
    world.tenant.save(update_fields=["applications_open"])


def form(world: World, **changes: str) -> dict[str, str]:
    return {
        "company_name": "Northwind Traders, S.L.",
        "website": "https://www.northwind.example/",
        "country": "ES",
        "partner_type": str(world.partner_type.pk),
        "contact_name": "Nora Díaz",
        "contact_email": "Nora@Northwind.example",
        "message": "We resell in Spain.",
        "terms": "on",
        "fax": "",
        **changes,
    }


def confirm_link(index: int = -1) -> str:
    return re.search(r"https?://[^/\s]+(/apply/confirm/\S+/)", mail.outbox[index].body).group(1)


def applied(client_for, world: World, **changes: str) -> PartnerApplication:
    """Apply on the public page and follow the emailed link: an application waiting for review."""
    response = client_for(world).post(APPLY, form(world, **changes))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert client_for(world).get(confirm_link()).status_code == 200
    with tenant_context(world.tenant):
        return PartnerApplication.objects.latest("pk")


def test_names_are_compared_without_legal_suffixes_or_accents():
    assert company_name_key("Northwind Traders, S.L.") == "northwind traders"
    assert company_name_key("NORTHWIND TRADERS LTD") == "northwind traders"
    assert company_name_key("Ñandú Systems GmbH") == "nandu systems"
    assert company_name_key("Inc") == "inc"  # a name is never emptied
    assert website_domain("https://www.Northwind.example/about") == "northwind.example"


def test_apply_confirm_and_the_application_waits_for_review(acme: World, client_for):
    open_applications(acme)
    page = client_for(acme).get(APPLY)
    assert page.status_code == 200
    assert "Apply to join Acme Program" in page.content.decode()
    response = client_for(acme).post(APPLY, form(acme))
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        application = PartnerApplication.objects.get()
    assert application.status == PartnerApplication.Status.UNVERIFIED
    assert application.domain == "northwind.example"
    assert application.contact_email == "nora@northwind.example"
    assert mail.outbox[-1].to == ["nora@northwind.example"]
    # Unconfirmed: not in the staff queue, and its page is a 404.
    staff = client_for(acme, acme.manager)
    assert "Northwind" not in staff.get(QUEUE).content.decode()
    assert staff.get(f"{QUEUE}{application.pk}/").status_code == 404

    link = confirm_link()
    assert client_for(acme).get(link).status_code == 200
    assert client_for(acme).get(link).status_code == 200  # a second visit changes nothing
    with tenant_context(acme.tenant):
        application.refresh_from_db()
    assert application.status == PartnerApplication.Status.PENDING
    assert "Northwind Traders, S.L." in staff.get(QUEUE).content.decode()


def test_closed_programs_take_no_applications(acme: World, client_for):
    assert client_for(acme).get(APPLY).status_code == 404
    assert client_for(acme).post(APPLY, form(acme)).status_code == 404
    with tenant_context(acme.tenant):
        assert not PartnerApplication.objects.exists()


def test_bad_input_is_a_form_error_and_nothing_is_written(acme: World, client_for):
    open_applications(acme)
    cases = [
        {"terms": ""},
        {"website": "not a site"},
        {"country": "XX"},
        {"contact_email": "nora"},
        {"company_name": ""},
        {"company_name": "x" * 201},
        {"partner_type": "999999"},
    ]
    for changes in cases:
        data = form(acme, **changes)
        if changes.get("terms") == "":
            del data["terms"]
        assert client_for(acme).post(APPLY, data).status_code == 400, changes
    with tenant_context(acme.tenant):
        assert not PartnerApplication.objects.exists()
    assert mail.outbox == []


def test_another_programs_partner_type_is_refused(acme: World, globex: World, client_for):
    open_applications(acme)
    response = client_for(acme).post(APPLY, form(acme, partner_type=str(globex.partner_type.pk)))
    assert response.status_code == 400
    with tenant_context(acme.tenant):
        assert not PartnerApplication.objects.exists()


def test_the_honeypot_records_nothing_but_answers_as_for_a_person(acme: World, client_for):
    open_applications(acme)
    response = client_for(acme).post(APPLY, form(acme, fax="+1 555 0100"))
    assert response.status_code == 302
    assert response.url == "/apply/sent/"
    with tenant_context(acme.tenant):
        assert not PartnerApplication.objects.exists()
    assert mail.outbox == []


def test_one_address_applies_at_most_three_times_a_day(acme: World, client_for):
    open_applications(acme)
    for number in range(3):
        assert client_for(acme).post(APPLY, form(acme, company_name=f"Northwind {number}")).status_code == 302
    response = client_for(acme).post(APPLY, form(acme, company_name="Northwind 4"))
    assert response.status_code == 429
    assert "Too many applications from this address" in response.content.decode()
    with tenant_context(acme.tenant):
        assert PartnerApplication.objects.count() == 3


def test_a_forged_or_other_programs_link_is_a_404(acme: World, globex: World, client_for):
    open_applications(acme)
    client_for(acme).post(APPLY, form(acme))
    link = confirm_link()
    assert client_for(globex).get(link).status_code == 404
    assert client_for(acme).get(link[:-3] + "xx/").status_code == 404
    with tenant_context(acme.tenant):
        assert PartnerApplication.objects.get().status == PartnerApplication.Status.UNVERIFIED


def test_approving_shows_what_happens_then_creates_the_partner_and_invites_the_contact(acme: World, client_for):
    open_applications(acme)
    application = applied(client_for, acme)
    staff = client_for(acme, acme.manager)
    confirm = staff.get(f"{QUEUE}{application.pk}/approve/").content.decode()
    assert f"with the id APP-{application.pk}" in confirm
    assert "emails nora@northwind.example an invitation" in confirm
    with tenant_context(acme.tenant):
        assert not Partner.objects.filter(external_id=f"APP-{application.pk}").exists()

    response = staff.post(f"{QUEUE}{application.pk}/approve/")
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        partner = Partner.objects.get(external_id=f"APP-{application.pk}")
        invitation = Invitation.objects.get(email="nora@northwind.example")
        application.refresh_from_db()
        audit = AuditEntry.objects.filter(target_type="partners.partnerapplication").get()
    assert (partner.name, partner.partner_type, partner.region) == (
        "Northwind Traders, S.L.",
        acme.partner_type,
        "Spain",
    )
    assert (invitation.role, invitation.partner) == (Role.PARTNER_ADMIN, partner)
    assert (application.status, application.partner, application.reviewed_by) == ("approved", partner, acme.manager)
    assert audit.actor == acme.manager
    assert "/invitations/" in mail.outbox[-1].body

    # Back and submit again (or a second tab): nothing more is created.
    again = staff.post(f"{QUEUE}{application.pk}/approve/", follow=True)
    assert "already decided" in again.content.decode()
    with tenant_context(acme.tenant):
        assert Partner.objects.filter(name="Northwind Traders, S.L.").count() == 1
        assert Invitation.objects.filter(email="nora@northwind.example").count() == 1


def test_rejecting_needs_a_reason_and_emails_it(acme: World, client_for):
    open_applications(acme)
    application = applied(client_for, acme)
    staff = client_for(acme, acme.owner)
    assert staff.post(f"{QUEUE}{application.pk}/reject/", {"reason": "  "}).status_code == 400
    with tenant_context(acme.tenant):
        application.refresh_from_db()
    assert application.status == PartnerApplication.Status.PENDING

    response = staff.post(f"{QUEUE}{application.pk}/reject/", {"reason": "We cover Spain with <b>two</b> partners."})
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        application.refresh_from_db()
        assert not Partner.objects.filter(name__startswith="Northwind").exists()
    assert application.status == PartnerApplication.Status.REJECTED
    assert "We cover Spain with <b>two</b> partners." in mail.outbox[-1].body  # plain text, not escaped
    page = staff.get(f"{QUEUE}{application.pk}/").content.decode()
    assert "&lt;b&gt;two&lt;/b&gt;" in page
    # A decided application cannot be approved afterwards.
    staff.post(f"{QUEUE}{application.pk}/approve/")
    with tenant_context(acme.tenant):
        assert not Partner.objects.filter(name__startswith="Northwind").exists()


def test_look_alikes_by_name_member_domain_and_earlier_application(acme: World, client_for):
    open_applications(acme)
    with tenant_context(acme.tenant):
        acme.partner.name = "NORTHWIND TRADERS LTD"
        acme.partner.save(update_fields=["name"])
    MembershipFactory(
        tenant=acme.tenant, user__email="sam@northwind.example", role=Role.PARTNER_USER, partner=acme.unmanaged_partner
    )
    first = applied(client_for, acme, contact_email="a@northwind.example")
    second = applied(client_for, acme, company_name="Other name", contact_email="b@northwind.example")
    page = client_for(acme, acme.manager).get(f"{QUEUE}{second.pk}/").content.decode()
    assert f"{acme.unmanaged_partner.name}</strong> — a member signs in from northwind.example" in page
    assert "Northwind Traders, S.L.</strong> — earlier application (Waiting for review)" in page
    page = client_for(acme, acme.manager).get(f"{QUEUE}{first.pk}/").content.decode()
    assert "NORTHWIND TRADERS LTD</strong> — same company name" in page


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER])
def test_only_program_managers_and_owners_review(acme: World, client_for, role):
    open_applications(acme)
    application = applied(client_for, acme)
    client = client_for(acme, acme.user_for(role))
    assert client.get(QUEUE).status_code == 403
    assert client.get(f"{QUEUE}{application.pk}/").status_code == 403
    assert client.post(f"{QUEUE}{application.pk}/approve/").status_code == 403
    assert client.post(f"{QUEUE}{application.pk}/reject/", {"reason": "no"}).status_code == 403
    with tenant_context(acme.tenant):
        application.refresh_from_db()
    assert application.status == PartnerApplication.Status.PENDING


def test_another_programs_staff_and_outsiders_cannot_see_or_decide(acme: World, globex: World, outsider, client_for):
    open_applications(acme)
    application = applied(client_for, acme)
    other = client_for(globex, globex.manager)
    assert other.get(f"{QUEUE}{application.pk}/").status_code == 404
    assert other.post(f"{QUEUE}{application.pk}/approve/").status_code == 404
    assert "Northwind" not in other.get(QUEUE).content.decode()
    assert client_for(acme, outsider).get(QUEUE).status_code == 403
    assert client_for(acme).get(QUEUE).status_code == 302  # anonymous: to the sign-in page
    with tenant_context(acme.tenant):
        application.refresh_from_db()
    assert application.status == PartnerApplication.Status.PENDING
