"""The partner page of the tenant admin: members, points, current tier and score history in one place."""

from datetime import timedelta

from loyalty.ledger.services import points_account_for, points_adjust
from loyalty.tenancy.context import tenant_context
from partners.models import Partner
from tests.conftest import World
from tests.factories import PartnerFactory
from tests.tiers.factories import revenue_program, sale, today
from tiers.models import TierModel
from tiers.services import partner_rescore, tier_model_publish


def scored_partner(world: World) -> None:
    """acme's partner: 1,200 adjusted points (not "earned"); Silver on 45,000 of sales (score 45)."""
    with tenant_context(world.tenant):
        program = revenue_program()
        tier_model_publish(model=program.model, actor=world.manager)
        sale(world.partner, today() - timedelta(days=3), "45000")
        partner_rescore(partner=world.partner)
        points_adjust(partner=world.partner, points=1200, reason="Welcome", actor=world.manager, idempotency_key="w-1")


def test_partner_page_shows_members_points_tier_and_scores(acme: World, client_for) -> None:
    scored_partner(acme)

    page = client_for(acme, acme.manager).get(f"/admin/partners/partner/{acme.partner.pk}/change/")

    content = page.content.decode()
    assert page.status_code == 200
    assert "1,200 points (earned 0, redeemed 0)" in content
    assert "Silver since" in content
    assert "<td>45.00</td><td>Silver</td>" in content
    [members] = page.context["inline_admin_formsets"]
    assert {form.original.user for form in members} == {acme.partner_admin, acme.partner_user}


def test_new_partner_page_has_no_members_yet(acme: World, client_for) -> None:
    page = client_for(acme, acme.manager).get("/admin/partners/partner/add/")

    assert page.context["inline_admin_formsets"] == []
    assert b"Points, tier and scores" in page.content


def test_partner_list_shows_tier_and_balance_in_constant_queries(
    acme: World, client_for, django_assert_max_num_queries
) -> None:
    scored_partner(acme)
    client = client_for(acme, acme.manager)

    listing = client.get("/admin/partners/partner/")
    row = next(partner for partner in listing.context["cl"].result_list if partner.pk == acme.partner.pk)
    assert (row.tier_name, row.points_balance) == ("Silver", 1200)

    with tenant_context(acme.tenant):
        PartnerFactory.create_batch(20, tenant=acme.tenant, partner_type=acme.partner_type)
    # tenant, session, user, membership, count, page of partners (tier and balance as subqueries),
    # filter choices (partner types, account managers, regions, segments), date hierarchy
    with django_assert_max_num_queries(14):
        assert client.get("/admin/partners/partner/").status_code == 200


def test_another_tenants_partner_page_is_not_found(acme: World, globex: World, client_for) -> None:
    response = client_for(acme, acme.manager).get(f"/admin/partners/partner/{globex.partner.pk}/change/")

    assert response.status_code == 302  # the admin's "does not exist" redirect, never the page
    with tenant_context(globex.tenant):
        assert Partner.objects.filter(pk=globex.partner.pk).exists()


def test_points_and_tier_links_lead_to_this_partners_rows(acme: World, client_for) -> None:
    scored_partner(acme)
    with tenant_context(acme.tenant):
        account = points_account_for(partner=acme.partner)
        assert TierModel.objects.filter(status=TierModel.Status.ACTIVE).count() == 1

    content = client_for(acme, acme.manager).get(f"/admin/partners/partner/{acme.partner.pk}/change/").content.decode()

    assert f"/admin/ledger/ledgerentry/?account__id__exact={account.pk}" in content
    assert f"/admin/tiers/partnerscore/?partner__id__exact={acme.partner.pk}" in content
