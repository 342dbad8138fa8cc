"""Conflict detection on submission: name variants, domain, tax id, own duplicates; first-come protection."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from deals.matching import name_similarity, normalise_domain, normalise_name
from deals.models import DealConflict, DealRegistration, DealSettings
from deals.services import deal_approve, deal_mark_lost, deal_mark_won, deal_reject
from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.deals.factories import register

pytestmark = pytest.mark.django_db


def conflicts(deal: DealRegistration) -> list[tuple[int, str, Decimal, bool]]:
    return list(DealConflict.objects.filter(deal=deal).values_list("other_id", "rule", "score", "is_same_partner"))


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("ACME Corp.", "acme"),
        ("Acme Corporation", "acme"),
        ("acme, inc", "acme"),
        ("The Acme Company Ltd.", "acme"),
        ("Acmé S.A. de C.V.", "acme"),
        ("Procter & Gamble Co.", "procter and gamble"),
        ("Corp", "corp"),  # a name that is only a legal form keeps it
    ],
)
def test_names_normalise_without_case_accents_punctuation_or_legal_form(name: str, key: str) -> None:
    assert normalise_name(name) == key


@pytest.mark.parametrize(
    ("typed", "domain"),
    [("https://www.Acme.com/about", "acme.com"), ("sales@acme.com", "acme.com"), ("acme.com.", "acme.com")],
)
def test_domains_normalise_from_urls_and_addresses(typed: str, domain: str) -> None:
    assert normalise_domain(typed) == domain


def test_acme_corp_and_acme_corporation_by_another_partner_conflict_on_the_name(acme: World) -> None:
    with tenant_context(acme.tenant):
        first = register(acme.partner, customer_name="ACME Corp.")
        second = register(acme.unmanaged_partner, customer_name="Acme Corporation")
        assert conflicts(first) == []
        assert conflicts(second) == [(first.pk, "name", Decimal("1.000"), False)]


def test_the_same_domain_under_another_name_conflicts_on_the_domain(acme: World) -> None:
    with tenant_context(acme.tenant):
        first = register(acme.partner, customer_name="Initech", customer_domain="initech.com")
        second = register(
            acme.unmanaged_partner, customer_name="Initech Software Holdings", customer_domain="www.initech.com"
        )
        assert conflicts(second) == [(first.pk, "domain", Decimal("1.000"), False)]


def test_the_same_tax_id_conflicts_whatever_the_name(acme: World) -> None:
    with tenant_context(acme.tenant):
        first = register(acme.partner, customer_name="Umbrella", customer_tax_id="DE 123 456 789")
        second = register(acme.unmanaged_partner, customer_name="Umbrella Pharma", customer_tax_id="de123456789")
        assert conflicts(second) == [(first.pk, "tax_id", Decimal("1.000"), False)]


def test_a_similar_name_conflicts_with_its_score_and_a_different_one_does_not(acme: World) -> None:
    with tenant_context(acme.tenant):
        first = register(acme.partner, customer_name="Globex International")
        similar = register(acme.unmanaged_partner, customer_name="Globex Internacional SA")
        different = register(acme.unmanaged_partner, customer_name="Globetrotters")
        score = name_similarity("globex internacional", "globex international")
        assert score >= Decimal("0.85")
        assert conflicts(similar) == [(first.pk, "similar_name", score, False)]
        assert conflicts(different) == []


def test_the_partners_own_duplicate_is_flagged_as_its_own(acme: World) -> None:
    with tenant_context(acme.tenant):
        first = register(acme.partner, customer_name="Hooli")
        duplicate = register(acme.partner, customer_name="HOOLI Inc.")
        assert conflicts(duplicate) == [(first.pk, "name", Decimal("1.000"), True)]


def test_closed_registrations_do_not_conflict_but_a_recently_won_one_does(acme: World) -> None:
    with tenant_context(acme.tenant):
        rejected = register(acme.partner, customer_name="Soylent")
        deal_reject(deal=rejected, actor=acme.manager, reason="No")
        lost = register(acme.partner, customer_name="Soylent")
        deal_mark_lost(deal=lost, actor=acme.manager, reason="No")
        assert conflicts(register(acme.unmanaged_partner, customer_name="Soylent Corp")) == []

        won = deal_mark_won(
            deal=deal_approve(deal=register(acme.partner, customer_name="Wonka"), actor=acme.manager), actor=None
        )
        assert [row[:2] for row in conflicts(register(acme.unmanaged_partner, customer_name="Wonka"))] == [
            (won.pk, "name")
        ]
        DealRegistration.objects.filter(pk=won.pk).update(closed_at=timezone.now() - timedelta(days=181))
        later = register(acme.unmanaged_partner, customer_name="Wonka Ltd")
        assert [row[0] for row in conflicts(later)] == [later.pk - 1]  # only its own earlier one, not the old win


def test_first_come_keeps_the_customer_for_the_earlier_registration(acme: World) -> None:
    with tenant_context(acme.tenant):
        first = register(acme.partner, customer_name="ACME Corp.")
        second = register(acme.unmanaged_partner, customer_name="Acme Corporation")
        with pytest.raises(ValidationError) as raised:
            deal_approve(deal=second, actor=acme.manager)
        assert raised.value.messages == [
            f"{first.reference} by Acme Partner One was registered first and is submitted: the first registration "
            "keeps the customer (first-come protection)."
        ]
        first = deal_approve(deal=first, actor=acme.manager)
        with pytest.raises(ValidationError) as raised:
            deal_approve(deal=second, actor=acme.manager)
        assert raised.value.messages == [
            f"{first.reference} already protects this customer for Acme Partner One until {first.protected_until}."
        ]
        second.refresh_from_db()
        assert second.status == DealRegistration.Status.SUBMITTED
        # Once the first is lost, the second may be protected.
        deal_mark_lost(deal=first, actor=acme.manager, reason="Customer chose to wait")
        assert deal_approve(deal=second, actor=acme.manager).status == DealRegistration.Status.APPROVED


def test_when_the_reviewer_decides_the_later_one_may_win_but_never_both(acme: World) -> None:
    with tenant_context(acme.tenant):
        DealSettings.objects.create(conflict_policy=DealSettings.Policy.REVIEWER)
        first = register(acme.partner, customer_name="ACME Corp.")
        second = register(acme.unmanaged_partner, customer_name="Acme Corporation")
        assert deal_approve(deal=second, actor=acme.manager).status == DealRegistration.Status.APPROVED
        with pytest.raises(ValidationError, match="already protects this customer"):
            deal_approve(deal=first, actor=acme.manager)


def test_conflicts_stay_inside_their_tenant(acme: World, globex: World) -> None:
    with tenant_context(acme.tenant):
        register(acme.partner, customer_name="ACME Corp.", customer_domain="acme.com")
    with tenant_context(globex.tenant):
        theirs = register(globex.partner, customer_name="ACME Corp.", customer_domain="acme.com")
        assert conflicts(theirs) == []
