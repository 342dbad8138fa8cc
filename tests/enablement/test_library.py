"""Gating of the library by tier and partner type: what opens, what the next tier unlocks (greyed), a downgrade."""

import pytest

from enablement.models import Resource
from enablement.selectors import library_get, partner_audience, resource_for_member
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Membership
from partners.models import PartnerType
from tests.conftest import World
from tests.enablement.factories import course, ladder, place, resource
from tests.factories import PartnerTypeFactory
from tiers.models import Tier


@pytest.fixture
def library_world(acme: World) -> World:
    """Acme's partner (a reseller) on Silver; items for everyone, Silver, Gold, Platinum and installers only."""
    tiers = ladder(acme)
    place(acme, acme.partner, tiers["Silver"])
    installer = PartnerTypeFactory(tenant=acme.tenant, code="installer", name="Installer")
    resource(acme, "Brand book")
    resource(acme, "Silver price list", rank=2)
    resource(acme, "Gold playbook", rank=3)
    resource(acme, "Platinum roadmap", rank=4)
    resource(acme, "Installer wiring guide", types=(installer,))
    resource(acme, "Reseller pitch deck", types=(acme.partner_type,), url="https://example.com/deck")
    resource(acme, "Draft deck", published=False)
    course(acme, "Basics")
    course(acme, "Gold selling", rank=3)
    course(acme, "Installer safety", types=(installer,), rank=1)
    return acme


def titles(items) -> list[str]:  # noqa: ANN001 - resources, courses or rows
    return sorted(getattr(item, "course", item).title for item in items)


def test_a_partner_opens_what_its_tier_and_type_allow_and_sees_the_next_tier_greyed(library_world: World) -> None:
    with tenant_context(library_world.tenant):
        library = library_get(partner=library_world.partner, user_id=library_world.partner_user.pk)

    assert titles(library.resources) == ["Brand book", "Reseller pitch deck", "Silver price list"]
    assert titles(library.courses) == ["Basics"]
    # Gold is next: its items are listed greyed; Platinum's and other types' are not listed at all.
    assert library.audience.next_tier_name == "Gold"
    assert titles(library.next_resources) == ["Gold playbook"]
    assert titles(library.next_courses) == ["Gold selling"]


def test_an_upgrade_opens_the_next_tier_and_a_downgrade_hides_it_again(library_world: World) -> None:
    tiers = ladder_tiers(library_world)
    place(library_world, library_world.partner, tiers["Gold"])
    with tenant_context(library_world.tenant):
        gold = library_get(partner=library_world.partner, user_id=library_world.partner_user.pk)
    assert "Gold playbook" in titles(gold.resources)
    assert titles(gold.next_resources) == ["Platinum roadmap"]

    place(library_world, library_world.partner, tiers["Registered"])
    with tenant_context(library_world.tenant):
        registered = library_get(partner=library_world.partner, user_id=library_world.partner_user.pk)
        membership = Membership.objects.get(user=library_world.partner_user)
        gold_playbook = Resource.objects.get(title="Gold playbook")
        with pytest.raises(Resource.DoesNotExist):
            resource_for_member(membership=membership, resource_id=gold_playbook.pk)
    assert titles(registered.resources) == ["Brand book", "Reseller pitch deck"]
    assert titles(registered.next_resources) == ["Silver price list"]
    assert titles(registered.courses) == ["Basics"]


def test_a_partner_without_a_tier_sees_only_ungated_items_and_the_entry_tier_next(library_world: World) -> None:
    with tenant_context(library_world.tenant):
        audience = partner_audience(partner=library_world.unmanaged_partner)
        library = library_get(partner=library_world.unmanaged_partner, user_id=library_world.partner_user.pk)
    assert (audience.tier_rank, audience.next_rank, audience.next_tier_name) == (0, 1, "Registered")
    assert titles(library.resources) == ["Brand book", "Reseller pitch deck"]
    assert library.next_resources == []  # nothing is gated at the entry tier itself


def test_a_partner_type_not_chosen_never_sees_the_item_even_greyed(library_world: World) -> None:
    with tenant_context(library_world.tenant):
        installer_type = PartnerType.objects.get(code="installer")
        library_world.partner.partner_type = installer_type
        library_world.partner.save(update_fields=["partner_type"])
        library = library_get(partner=library_world.partner, user_id=library_world.partner_user.pk)
    assert titles(library.resources) == ["Brand book", "Installer wiring guide", "Silver price list"]
    assert titles(library.courses) == ["Basics", "Installer safety"]


def test_program_staff_may_open_any_resource_to_check_it_and_an_account_manager_none(library_world: World) -> None:
    with tenant_context(library_world.tenant):
        platinum = Resource.objects.get(title="Platinum roadmap")
        manager = Membership.objects.get(user=library_world.manager)
        account_manager = Membership.objects.get(user=library_world.account_manager)
        assert resource_for_member(membership=manager, resource_id=platinum.pk) == platinum
        with pytest.raises(Resource.DoesNotExist):
            resource_for_member(membership=account_manager, resource_id=platinum.pk)


def test_the_library_reads_in_constant_queries(library_world: World, django_assert_num_queries) -> None:
    for index in range(5):
        resource(library_world, f"Extra {index}", rank=2)
        course(library_world, f"Extra course {index}")
    with tenant_context(library_world.tenant), django_assert_num_queries(5):
        # tier state, tier names, resources, courses, the member's completions
        library_get(partner=library_world.partner, user_id=library_world.partner_user.pk)


def ladder_tiers(world: World) -> dict[str, Tier]:
    with tenant_context(world.tenant):
        return {tier.name: tier for tier in Tier.objects.filter(model__status="active")}
