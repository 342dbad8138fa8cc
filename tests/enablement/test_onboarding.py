"""The onboarding checklist: each step detected from what the partner did, shown until done with the program's
welcome in the member's language, and the completion rate on the program dashboard."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.translation import override

from enablement.models import Onboarding
from enablement.selectors import onboarding_rate, partner_checklist
from enablement.services import partner_profile_save
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Invitation, Role
from partners.models import Activity, ActivityKind, Partner
from tests.conftest import World
from tests.deals.factories import register
from tests.enablement.factories import onboarding
from tests.factories import MembershipFactory, PartnerFactory
from tests.tiers.factories import activity

WELCOME = {"en": "Welcome to the Acme program!", "es": "¡Bienvenidos al programa de Acme!"}


@pytest.fixture
def new_partner(acme: World) -> World:
    """Acme's partner joined a week ago; the program asks all four steps. Its admin and user make a team of two,
    so that step is done; the other world's partner is old."""
    with tenant_context(acme.tenant):
        Partner.objects.filter(pk=acme.partner.pk).update(joined_at=timezone.localdate() - timedelta(days=7))
        acme.partner.refresh_from_db()
        Partner.objects.filter(pk=acme.unmanaged_partner.pk).update(
            joined_at=timezone.localdate() - timedelta(days=800)
        )
    onboarding(acme, **WELCOME)
    return acme


def checklist(world: World, language: str = "en"):  # noqa: ANN201 - a Checklist or None
    with tenant_context(world.tenant), override(language):
        return partner_checklist(partner=world.partner)


def done(world: World) -> dict[str, bool]:
    return {state.step: state.is_done for state in checklist(world).steps}


def save_profile(world: World) -> None:
    with tenant_context(world.tenant):
        partner_profile_save(
            partner=world.partner, user=world.partner_admin, website="https://x.example", phone="1", description="We"
        )


def test_each_step_is_detected_from_what_the_partner_did_and_the_list_goes_when_done(
    new_partner: World,
) -> None:
    assert done(new_partner) == {"profile": False, "invite": True, "training": False, "deal": False}

    save_profile(new_partner)
    with tenant_context(new_partner.tenant):
        activity(new_partner.partner, ActivityKind.TRAINING, timezone.now(), status=Activity.Status.PENDING)
    assert done(new_partner)["training"] is False  # pending does not count yet
    with tenant_context(new_partner.tenant):
        activity(new_partner.partner, ActivityKind.TRAINING, timezone.now())
        draft = register(new_partner.partner, new_partner.partner_user, submit=False)
    assert done(new_partner) == {"profile": True, "invite": True, "training": True, "deal": False}
    assert draft.status == "draft"  # a draft is not a registration yet

    with tenant_context(new_partner.tenant):
        register(new_partner.partner, new_partner.partner_user, customer_name="Initech")
    assert checklist(new_partner) is None


def test_a_lone_member_completes_the_invite_step_by_inviting_someone(acme: World) -> None:
    with tenant_context(acme.tenant):
        solo = PartnerFactory(tenant=acme.tenant, partner_type=acme.partner_type)
        member = MembershipFactory(tenant=acme.tenant, role=Role.PARTNER_ADMIN, partner=solo).user
    onboarding(acme, steps=("invite",))
    with tenant_context(acme.tenant):
        assert [state.is_done for state in partner_checklist(partner=solo).steps] == [False]
        Invitation.objects.create(
            email="colleague@example.com",
            role=Role.PARTNER_USER,
            partner=solo,
            invited_by=member,
            expires_at=timezone.now() + timedelta(days=7),
        )
        assert partner_checklist(partner=solo) is None


def test_the_welcome_is_the_programs_own_in_the_members_language(new_partner: World) -> None:
    assert checklist(new_partner, "en").welcome == WELCOME["en"]
    assert checklist(new_partner, "es").welcome == WELCOME["es"]
    assert checklist(new_partner, "fr").welcome == WELCOME["en"]  # the program's language when there is none


def test_an_old_partner_or_a_switched_off_checklist_shows_nothing(new_partner: World) -> None:
    with tenant_context(new_partner.tenant):
        new_partner.unmanaged_partner.refresh_from_db()
        assert partner_checklist(partner=new_partner.unmanaged_partner) is None
        settings = Onboarding.objects.get()
        settings.is_active = False
        settings.save(update_fields=["is_active"])
    assert checklist(new_partner) is None


def test_no_checklist_without_settings(acme: World) -> None:
    with tenant_context(acme.tenant):
        assert partner_checklist(partner=acme.partner) is None
        assert onboarding_rate() is None


def test_the_rate_counts_new_active_partners_and_each_step(new_partner: World, django_assert_num_queries) -> None:
    with tenant_context(new_partner.tenant):
        finished = PartnerFactory(tenant=new_partner.tenant, partner_type=new_partner.partner_type)
        PartnerFactory(tenant=new_partner.tenant, partner_type=new_partner.partner_type, status=Partner.Status.LEFT)
    onboarding_steps = ("profile", "training")
    with tenant_context(new_partner.tenant):
        settings = Onboarding.objects.get()
        settings.steps = list(onboarding_steps)
        settings.save(update_fields=["steps"])
        from enablement.services import partner_profile_save

        partner_profile_save(
            partner=finished, user=new_partner.manager, website="https://f.example", phone="1", description="F"
        )
        activity(finished, ActivityKind.TRAINING, timezone.now())
        activity(new_partner.partner, ActivityKind.TRAINING, timezone.now())
        # settings, partners, one query per step
        with django_assert_num_queries(4):
            rate = onboarding_rate()

    assert (rate.partners, rate.completed, rate.percent) == (2, 1, 50)
    assert [(step.step, step.done) for step in rate.steps] == [("profile", 1), ("training", 2)]


def test_the_dashboard_shows_the_checklist_until_done_and_the_program_dashboard_the_rate(
    new_partner: World, client_for
) -> None:
    page = client_for(new_partner, new_partner.partner_user).get("/").content.decode()
    assert "Getting started" in page
    assert WELCOME["en"] in page
    assert "1 of 4 steps done" in page
    assert 'href="/enablement/profile/"' in page
    assert "(your partner admin invites)" not in page  # the invite step is done already

    new_partner.partner_user.language = "es"
    new_partner.partner_user.save(update_fields=["language"])
    spanish = client_for(new_partner, new_partner.partner_user).get("/").content.decode()
    assert WELCOME["es"] in spanish
    assert "1 de 4 pasos hechos" in spanish

    program = client_for(new_partner, new_partner.manager).get("/program/")
    assert program.status_code == 200
    assert program.context["onboarding"].partners == 1
    assert "finished the checklist (0%)" in program.content.decode()


def test_another_tenants_settings_and_partners_are_not_counted(new_partner: World, globex: World) -> None:
    onboarding(globex, steps=("profile",))
    with tenant_context(globex.tenant):
        rate = onboarding_rate()
    assert [step.step for step in rate.steps] == ["profile"]
    assert rate.partners == 2  # globex's own two partners, joined today
