"""Issue 17, item 8: sanity limits on points and amounts, and four eyes on large adjustments.

An adjustment of +99,999,999,999,999 points was accepted without confirmation through the admin; a claim of
999,999,999,999.99 USD too. Now: one bound for every adjustment (10⁹), a per-program limit above which a second
program manager or owner approves, a confirmation step that shows the consequence first, and a per-program
largest amount for activities and claims.
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from loyalty.ledger.models import AdjustmentRequest, EntryKind, LedgerEntry
from loyalty.ledger.selectors import ledger_verify
from loyalty.ledger.services import (
    adjustment_approve,
    adjustment_reject,
    points_account_for,
    points_adjust_or_request,
)
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry
from partners.models import Activity
from tests.api.conftest import api_client, make_key
from tests.conftest import World
from tests.factories import MembershipFactory
from tests.rewards.factories import give_points
from tests.support import run_concurrently


@pytest.fixture
def account(acme: World):
    acme.tenant.adjustment_approval_points = 1_000
    acme.tenant.save(update_fields=["adjustment_approval_points"])
    with tenant_context(acme.tenant):
        give_points(acme.partner, 500, "four-eyes-seed")
        return points_account_for(partner=acme.partner)


def adjust_url(account) -> str:
    return f"/admin/ledger/pointsaccount/{account.pk}/adjust/"


def adjustments(world: World) -> list[tuple[int, str]]:
    with tenant_context(world.tenant):
        return list(LedgerEntry.objects.filter(kind=EntryKind.ADJUST).values_list("points", "memo"))


def test_the_admin_shows_the_consequence_before_posting(acme: World, client_for, account) -> None:
    client = client_for(acme, acme.manager)
    key = client.get(adjust_url(account)).context["form"]["idempotency_key"].value()
    data = {"points": "250", "reason": "Goodwill", "idempotency_key": key}

    preview = client.post(adjust_url(account), data)
    assert preview.status_code == 200
    assert "Balance: 500 → 750 points." in preview.content.decode()
    assert "second program manager" not in preview.content.decode()
    assert adjustments(acme) == []  # nothing moves before the confirmation

    assert client.post(adjust_url(account), {**data, "confirm": "1"}).status_code == 302
    assert client.post(adjust_url(account), {**data, "confirm": "1"}).status_code == 302  # back + resubmit
    assert adjustments(acme) == [(250, "Goodwill")]


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ("99999999999999", "Ensure this value is less than or equal to 1000000000."),
        ("-501", "The account holds 500 points; it cannot lose 501."),
        ("0", "An adjustment moves at least one point."),
    ],
)
def test_nonsense_adjustments_are_form_errors(acme: World, client_for, account, points: str, message: str) -> None:
    response = client_for(acme, acme.manager).post(
        adjust_url(account), {"points": points, "reason": "Typo", "idempotency_key": "adjust:x", "confirm": "1"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["points"] == [message]
    assert adjustments(acme) == []


def test_a_large_adjustment_waits_for_a_second_person(acme: World, client_for, account) -> None:
    second = MembershipFactory(tenant=acme.tenant, role="program_manager").user
    client = client_for(acme, acme.manager)
    data = {"points": "5000", "reason": "Trade show bonus", "idempotency_key": "adjust:big"}

    preview = client.post(adjust_url(account), data).content.decode()
    assert "This is more than 1,000 points: it waits for a second program manager or owner" in preview
    response = client.post(adjust_url(account), {**data, "confirm": "1"})
    client.post(adjust_url(account), {**data, "confirm": "1"})  # a double click asks once
    with tenant_context(acme.tenant):
        request = AdjustmentRequest.objects.get()
    assert response.url == f"/admin/ledger/adjustmentrequest/{request.pk}/change/"
    assert (request.points, request.status, request.requested_by) == (5000, "pending", acme.manager)
    assert adjustments(acme) == []

    # The queue shows the points at stake; the requester cannot approve their own request.
    index = client.get("/admin/").content.decode()
    assert "Adjustment requests" in index
    listing = client.get("/admin/ledger/adjustmentrequest/?status__exact=pending").content.decode()
    assert "+5,000" in listing
    client.post(f"/admin/ledger/adjustmentrequest/{request.pk}/review/", {"decision": "approve"})
    assert adjustments(acme) == []

    other = client_for(acme, second)
    other.post(f"/admin/ledger/adjustmentrequest/{request.pk}/review/", {"decision": "approve"})
    reload = other.post(f"/admin/ledger/adjustmentrequest/{request.pk}/review/", {"decision": "approve"}, follow=True)
    assert f"{second} already decided this adjustment: approved and posted." in reload.content.decode()
    # The memo keeps the reason as typed; the statement names who approved it, from the request.
    assert adjustments(acme) == [(5000, "Trade show bonus")]
    statement = client_for(acme, acme.partner_admin).get("/statement/").content.decode()
    assert f"Trade show bonus (adjusted by {acme.manager}, approved by {second})" in statement
    with tenant_context(acme.tenant):
        request.refresh_from_db()
        assert (request.status, request.decided_by, request.entry.actor) == ("approved", second, acme.manager)
        assert ledger_verify().breaches == []
        assert AuditEntry.objects.filter(category=AuditEntry.Category.POINTS).count() == 2  # asked, approved


def test_a_rejected_request_posts_nothing_and_cannot_be_approved_later(acme: World, account) -> None:
    second = MembershipFactory(tenant=acme.tenant, role="owner").user
    with tenant_context(acme.tenant):
        request = points_adjust_or_request(
            partner=acme.partner, points=2000, reason="Typo", actor=acme.manager, idempotency_key="k"
        )
        adjustment_reject(request=request, approver=second, note="Wrong partner")
        with pytest.raises(ValidationError, match="already decided this adjustment: rejected"):
            adjustment_approve(request=request, approver=second)
    assert adjustments(acme) == []


def test_a_deduction_larger_than_the_balance_is_refused_when_asked_and_when_approved(acme: World, account) -> None:
    second = MembershipFactory(tenant=acme.tenant, role="owner").user
    with tenant_context(acme.tenant):
        with pytest.raises(ValidationError, match="holds 500 points"):
            points_adjust_or_request(
                partner=acme.partner, points=-1500, reason="x", actor=acme.manager, idempotency_key="k1"
            )
        give_points(acme.partner, 2000, "four-eyes-more")
        request = points_adjust_or_request(
            partner=acme.partner, points=-1500, reason="Clawback", actor=acme.manager, idempotency_key="k2"
        )
        for key in ("k3", "k4"):  # within the limit: posted at once, leaving 502
            points_adjust_or_request(
                partner=acme.partner, points=-999, reason="x", actor=acme.manager, idempotency_key=key
            )
        with pytest.raises(ValidationError, match="Not enough points"):
            adjustment_approve(request=request, approver=second)  # the balance fell meanwhile
        assert AdjustmentRequest.objects.get().status == "pending"


def test_the_api_asks_for_approval_above_the_limit(acme: World, account) -> None:
    _key, token = make_key(acme)
    api = api_client(acme, token)
    body = {"partner": acme.partner.external_id, "points": 5000, "reason": "Migration"}
    response = api.post("/api/v1/ledger/adjustments/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="a")
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["points"]) == ("pending", 5000)
    small = {**body, "points": 1000}
    response = api.post("/api/v1/ledger/adjustments/", small, content_type="application/json", HTTP_IDEMPOTENCY_KEY="b")
    assert response.status_code == 201
    huge = {**body, "points": 10**9 + 1}
    response = api.post("/api/v1/ledger/adjustments/", huge, content_type="application/json", HTTP_IDEMPOTENCY_KEY="c")
    assert response.status_code == 400
    [(points, memo)] = adjustments(acme)
    assert points == 1000
    assert memo.startswith("Migration (via API key ")
    with tenant_context(acme.tenant):
        assert AdjustmentRequest.objects.get().points == 5000


def test_other_tenants_and_other_roles_see_no_request(acme: World, globex: World, client_for, account) -> None:
    with tenant_context(globex.tenant):
        give_points(globex.partner, 100, "g")
        foreign = points_adjust_or_request(
            partner=globex.partner, points=50_000, reason="Globex", actor=globex.manager, idempotency_key="g"
        )
    manager = client_for(acme, acme.manager)
    assert manager.get("/admin/ledger/adjustmentrequest/").context["cl"].result_count == 0
    assert manager.get(f"/admin/ledger/adjustmentrequest/{foreign.pk}/change/").status_code == 302  # not found
    manager.post(f"/admin/ledger/adjustmentrequest/{foreign.pk}/review/", {"decision": "approve"})
    with tenant_context(globex.tenant):
        foreign.refresh_from_db()
        assert foreign.status == "pending"
    for user in (acme.account_manager, acme.partner_admin, acme.finance):
        assert client_for(acme, user).get("/admin/ledger/adjustmentrequest/").status_code == 403


@pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrent transactions")
@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_post_once(acme: World) -> None:
    acme.tenant.adjustment_approval_points = 10
    acme.tenant.save(update_fields=["adjustment_approval_points"])
    approvers = [MembershipFactory(tenant=acme.tenant, role="owner").user for _ in range(4)]
    with tenant_context(acme.tenant):
        request = points_adjust_or_request(
            partner=acme.partner, points=777, reason="Race", actor=acme.manager, idempotency_key="race"
        )

    def approve(index: int) -> object:
        return adjustment_approve(request=request, approver=approvers[index])

    results = run_concurrently(acme.tenant, 4, approve)

    assert Counter(type(result).__name__ for result in results) == Counter(
        {"AdjustmentRequest": 1, "ValidationError": 3}
    )
    with tenant_context(acme.tenant):
        assert list(LedgerEntry.objects.filter(kind=EntryKind.ADJUST).values_list("points", flat=True)) == [777]
        assert ledger_verify().breaches == []


def test_an_amount_above_the_programs_largest_is_refused_everywhere(acme: World, client_for, account) -> None:
    acme.tenant.activity_max_amount = 50_000
    acme.tenant.save(update_fields=["activity_max_amount"])
    message = "The program accepts amounts up to 50,000.00 USD; check the figure."
    response = client_for(acme, acme.partner_user).post(
        "/claims/new/",
        {
            "claim_type": "sale",
            "occurred_on": (timezone.localdate() - timedelta(days=3)).isoformat(),
            "invoice_number": "INV-HUGE",
            "amount": "999999999999.99",
            "evidence": SimpleUploadedFile("i.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf"),
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["amount"] == [message]
    _key, token = make_key(acme)
    row = {
        "partner": acme.partner.external_id,
        "external_id": "HUGE-1",
        "kind": "sale",
        "occurred_at": (timezone.now() - timedelta(days=3)).isoformat(),
        "amount": "50000.01",
        "currency": "USD",
    }
    response = api_client(acme, token).post(
        "/api/v1/activities/", {"activities": [row]}, content_type="application/json"
    )
    assert response.json()["results"][0]["errors"] == {"amount": [message]}
    assert not Activity.all_tenants.filter(amount__gt=50_000).exists()
