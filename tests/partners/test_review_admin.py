"""Reviewing activities and claims in the tenant admin: approve, reject with a reason, scoped to the tenant."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from earning.services import claim_submit
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from partners.models import Activity, Claim
from partners.services import activity_record
from tests.conftest import World
from tests.partners.helpers import balance_of, pdf, sales_rule


def pending_activity(world: World, external_id: str = "A-1") -> Activity:
    with tenant_context(world.tenant):
        return activity_record(
            partner=world.partner,
            kind="sale",
            occurred_at=timezone.now() - timedelta(days=1),
            source="api",
            amount=Decimal(300),
            currency=world.tenant.currency,
            external_id=external_id,
        ).activity


def pending_claim(world: World, evidence: SimpleUploadedFile | None = None) -> Claim:
    with tenant_context(world.tenant):
        return claim_submit(
            partner=world.partner,
            submitted_by=world.partner_user,
            claim_type="sale",
            occurred_on=timezone.localdate(),
            evidence=evidence or pdf(),
            invoice_number="INV-9",
            amount=Decimal(250),
            currency=world.tenant.currency,
        )


def test_approve_action_posts_points(acme: World, client_for) -> None:
    sales_rule(acme)
    activity = pending_activity(acme)
    response = client_for(acme, acme.manager).post(
        "/admin/partners/activity/", {"action": "approve", ACTION_CHECKBOX_NAME: [activity.pk]}
    )
    assert response.status_code == 302
    activity.refresh_from_db()
    assert activity.status == Activity.Status.APPROVED
    assert balance_of(acme) == 300


def test_reject_action_asks_for_a_reason_first(acme: World, client_for) -> None:
    claim = pending_claim(acme)
    client = client_for(acme, acme.manager)
    ask = client.post("/admin/partners/claim/", {"action": "reject", ACTION_CHECKBOX_NAME: [claim.pk]})
    assert ask.status_code == 200
    assert b"Reason (shown to the partner)" in ask.content
    empty = client.post(
        "/admin/partners/claim/", {"action": "reject", ACTION_CHECKBOX_NAME: [claim.pk], "confirmed": "1", "reason": ""}
    )
    assert b"A reason is required." in empty.content
    claim.refresh_from_db()
    assert claim.status == Claim.Status.PENDING
    done = client.post(
        "/admin/partners/claim/",
        {"action": "reject", ACTION_CHECKBOX_NAME: [claim.pk], "confirmed": "1", "reason": "Wrong vendor"},
    )
    assert done.status_code == 302
    claim.refresh_from_db()
    assert (claim.status, claim.review_note, claim.reviewed_by) == ("rejected", "Wrong vendor", acme.manager)


def test_claims_list_shows_flags_and_evidence_link(acme: World, client_for) -> None:
    claim = pending_claim(acme)
    response = client_for(acme, acme.manager).get("/admin/partners/claim/")
    assert response.status_code == 200
    assert b"all claims are reviewed" in response.content
    assert f'href="/evidence/{claim.activity_id}/"'.encode() in response.content


def test_another_tenants_rows_cannot_be_acted_on(acme: World, globex: World, client_for) -> None:
    sales_rule(globex)
    foreign = pending_activity(globex)
    client_for(acme, acme.manager).post(
        "/admin/partners/activity/", {"action": "approve", ACTION_CHECKBOX_NAME: [foreign.pk]}
    )
    foreign.refresh_from_db()
    assert foreign.status == Activity.Status.PENDING
    assert balance_of(globex) == 0


@pytest.mark.parametrize("path", ["/admin/partners/activity/", "/admin/partners/claim/", "/admin/earning/earningrule/"])
def test_review_pages_are_for_program_staff_only(acme: World, client_for, path: str) -> None:
    assert client_for(acme, acme.manager).get(path).status_code == 200
    assert client_for(acme, acme.user_for(Role.ACCOUNT_MANAGER)).get(path).status_code == 403
    assert client_for(acme, acme.partner_admin).get(path).status_code == 403
