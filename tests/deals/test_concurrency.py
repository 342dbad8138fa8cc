"""Two partners registering the same customer at the same instant on PostgreSQL: one keeps it, one is flagged."""

from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from deals.models import DealConflict, DealRegistration
from deals.services import deal_approve
from earning.services import deal_win_claim
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, Claim
from tests.conftest import World
from tests.deals.factories import register
from tests.factories import PartnerFactory
from tests.partners.helpers import pdf
from tests.support import outcomes, run_concurrently

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="Needs PostgreSQL: real concurrent transactions"),
    pytest.mark.django_db(transaction=True),
]


def test_two_partners_registering_one_customer_at_once_one_is_protected_the_other_flagged(acme: World) -> None:
    partners = [acme.partner, acme.unmanaged_partner]
    names = ["ACME Corp.", "Acme Corporation"]

    results = run_concurrently(acme.tenant, 2, lambda index: register(partners[index], customer_name=names[index]))

    assert outcomes(results) == Counter({"DealRegistration": 2})
    with tenant_context(acme.tenant):
        conflicts = list(DealConflict.objects.values_list("deal_id", "other_id", "rule"))
        assert len(conflicts) == 1  # exactly one saw the other: the submissions took turns
        flagged_id, first_id, rule = conflicts[0]
        assert rule == "name"
        first, flagged = DealRegistration.objects.get(pk=first_id), DealRegistration.objects.get(pk=flagged_id)
        assert first.submitted_at < flagged.submitted_at

    # Both reviewers approve at the same instant: only the first-come registration is protected.
    def approve(index: int) -> object:
        return deal_approve(deal=[first, flagged][index], actor=acme.manager)

    results = run_concurrently(acme.tenant, 2, approve)
    assert isinstance(results[0], DealRegistration)
    assert isinstance(results[1], ValidationError)
    with tenant_context(acme.tenant):
        assert dict(DealRegistration.objects.values_list("pk", "status")) == {
            first.pk: "approved",
            flagged.pk: "submitted",
        }


def test_many_partners_racing_for_one_domain_leave_one_unflagged(acme: World) -> None:
    with tenant_context(acme.tenant):
        partners = PartnerFactory.create_batch(8, tenant=acme.tenant, partner_type=acme.partner_type)

    results = run_concurrently(
        acme.tenant,
        8,
        lambda index: register(partners[index], customer_name=f"Initech {index}", customer_domain="initech.com"),
    )

    assert outcomes(results) == Counter({"DealRegistration": 8})
    with tenant_context(acme.tenant):
        flagged = set(DealConflict.objects.values_list("deal_id", flat=True))
        assert len(flagged) == 7
        # The k-th to submit conflicts with the k-1 before it: 0 + 1 + … + 7.
        assert DealConflict.objects.count() == 28


def test_two_won_posts_at_once_record_one_sale(acme: World) -> None:
    with tenant_context(acme.tenant):
        deal = deal_approve(deal=register(acme.partner, acme.partner_user), actor=acme.manager)

    def win(index: int) -> object:
        return deal_win_claim(
            deal=deal,
            submitted_by=acme.partner_user,
            invoice_number=f"INV-{index}",
            invoice_date=timezone.localdate(),
            amount=Decimal(1000),
            evidence=pdf(),
        )

    results = run_concurrently(acme.tenant, 2, win)

    assert outcomes(results) == Counter({"DealRegistration": 2})
    with tenant_context(acme.tenant):
        claim = Claim.objects.get()
        assert DealRegistration.objects.get(pk=deal.pk).sale_activity_id == claim.activity_id
        assert Activity.objects.count() == 1
