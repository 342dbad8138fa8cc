"""Nightly expiry of lapsed protection: idempotent, and only what has lapsed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deals.models import DealEvent, DealRegistration
from deals.services import deal_approve, deals_expire
from deals.tasks import expire_all_tenants
from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.deals.factories import register

pytestmark = pytest.mark.django_db


def test_expiry_ends_lapsed_protection_once_and_leaves_the_rest(acme: World, globex: World) -> None:
    today = timezone.localdate()
    with tenant_context(acme.tenant):
        lapsed = deal_approve(deal=register(acme.partner, customer_name="Lapsed"), actor=acme.manager)
        last_day = deal_approve(deal=register(acme.partner, customer_name="Last Day"), actor=acme.manager)
        submitted = register(acme.partner, customer_name="Waiting")
        DealRegistration.objects.filter(pk=lapsed.pk).update(protected_until=today - timedelta(days=1))
        DealRegistration.objects.filter(pk=last_day.pk).update(protected_until=today)
    with tenant_context(globex.tenant):
        theirs = deal_approve(deal=register(globex.partner, customer_name="Lapsed"), actor=globex.manager)
        DealRegistration.objects.filter(pk=theirs.pk).update(protected_until=today - timedelta(days=3))

    assert expire_all_tenants() == 2
    assert expire_all_tenants() == 2  # the second night's run finds nothing more to do

    with tenant_context(acme.tenant):
        statuses = dict(DealRegistration.objects.values_list("customer_name", "status"))
        assert statuses == {"Lapsed": "expired", "Last Day": "approved", "Waiting": "submitted"}
        events = DealEvent.objects.filter(deal=lapsed, to_status="expired")
        assert [(event.actor, event.reason) for event in events] == [
            (None, f"Protection ended on {today - timedelta(days=1)}.")
        ]
        assert deals_expire() == 0
        submitted.refresh_from_db()
        assert submitted.status == "submitted"
    with tenant_context(globex.tenant):
        assert DealRegistration.objects.get(pk=theirs.pk).status == "expired"
        assert DealEvent.objects.filter(to_status="expired").count() == 1
