"""Evidence files are served only to people who may see the activity; everyone else gets nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from partners.models import Activity
from partners.services import activity_record
from tests.conftest import World
from tests.partners.helpers import PDF_BYTES, pdf


@pytest.fixture
def evidence_activity(acme: World) -> Activity:
    with tenant_context(acme.tenant):
        return activity_record(
            partner=acme.partner,
            kind="sale",
            occurred_at=timezone.now() - timedelta(days=1),
            source=Activity.Source.CLAIM,
            amount=Decimal(10),
            currency="USD",
            evidence=pdf(),
        ).activity


@pytest.mark.parametrize(
    "role", [Role.PARTNER_USER, Role.PARTNER_ADMIN, Role.ACCOUNT_MANAGER, Role.PROGRAM_MANAGER, Role.OWNER]
)
def test_people_who_see_the_activity_get_the_file(acme: World, client_for, evidence_activity, role: Role) -> None:
    response = client_for(acme, acme.user_for(role)).get(f"/evidence/{evidence_activity.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PDF_BYTES


def test_another_partners_member_gets_404(acme: World, client_for, evidence_activity) -> None:
    from tests.factories import MembershipFactory

    stranger = MembershipFactory(tenant=acme.tenant, role=Role.PARTNER_ADMIN, partner=acme.unmanaged_partner).user
    assert client_for(acme, stranger).get(f"/evidence/{evidence_activity.pk}/").status_code == 404


def test_account_manager_of_other_partners_gets_404(acme: World, client_for, evidence_activity) -> None:
    from tests.factories import MembershipFactory

    other_manager = MembershipFactory(tenant=acme.tenant, role=Role.ACCOUNT_MANAGER).user
    assert client_for(acme, other_manager).get(f"/evidence/{evidence_activity.pk}/").status_code == 404


def test_other_tenants_and_outsiders_get_nothing(acme: World, globex: World, outsider, client_for, evidence_activity):
    path = f"/evidence/{evidence_activity.pk}/"
    assert client_for(acme, globex.owner).get(path).status_code == 403
    assert client_for(globex, globex.owner).get(path).status_code == 404
    assert client_for(acme, outsider).get(path).status_code == 403
    assert Client(HTTP_HOST=acme.host).get(path).status_code == 302


def test_activity_without_evidence_is_404(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        activity = activity_record(
            partner=acme.partner, kind="training", occurred_at=timezone.now(), source="api", code="NET-1"
        ).activity
    assert client_for(acme, acme.manager).get(f"/evidence/{activity.pk}/").status_code == 404
