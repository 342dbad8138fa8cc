"""Review queues: counts on the admin index, and one decision at a time from a row's own page."""

import pytest

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry, Role
from partners.models import Activity, Claim
from tests.conftest import World
from tests.partners.helpers import PNG_BYTES, balance_of, pdf, sales_rule
from tests.partners.test_review_admin import pending_activity, pending_claim


def review_url(claim: Claim) -> str:
    return f"/admin/partners/claim/{claim.pk}/review/"


def test_index_counts_what_waits_in_each_queue_of_this_tenant_only(acme: World, globex: World, client_for) -> None:
    pending_claim(acme)
    pending_activity(acme, "A-1")
    pending_claim(globex)

    page = client_for(acme, acme.manager).get("/admin/")

    assert page.status_code == 200
    # A claim records its pending activity too: 2 pending activities (one from the claim), 1 claim, 0 redemptions.
    assert {queue["label"]: queue["count"] for queue in page.context["review_queues"]} == {
        "Activities": 2,
        "Adjustment requests": 0,
        "Claims": 1,
        "Deal registrations": 0,
        "Redemptions": 0,
    }
    assert b'href="/admin/partners/claim/?status__exact=pending"' in page.content


def test_index_query_count_is_constant(acme: World, client_for, django_assert_max_num_queries) -> None:
    client = client_for(acme, acme.manager)
    client.get("/admin/")
    for number in range(5):
        pending_activity(acme, f"A-{number}")
    # tenant, session, user, membership, one count per queue (activities, adjustment requests, claims, deal
    # registrations, redemptions), whether the onboarding settings exist (once per request),
    # recent changes
    with django_assert_max_num_queries(11):
        client.get("/admin/")


def test_claim_page_shows_the_evidence_and_the_decision_box(acme: World, client_for) -> None:
    claim = pending_claim(acme)

    page = client_for(acme, acme.manager).get(f"/admin/partners/claim/{claim.pk}/change/")

    content = page.content.decode()
    assert f'href="/evidence/{claim.activity_id}/" target="_blank"' in content
    assert "Open invoice.pdf (PDF) in a new tab" in content
    assert f'action="{review_url(claim)}"' in content
    assert 'name="_save"' not in content  # decisions only, no Save button


def test_image_evidence_is_previewed_inline(acme: World, client_for) -> None:
    claim = pending_claim(acme, evidence=pdf("receipt.png", PNG_BYTES))

    content = client_for(acme, acme.manager).get(f"/admin/partners/claim/{claim.pk}/change/").content.decode()

    assert f'<img src="/evidence/{claim.activity_id}/" alt="Evidence: receipt.png" width="320">' in content


def test_approving_from_the_page_posts_points_and_is_audited(acme: World, client_for) -> None:
    sales_rule(acme)
    claim = pending_claim(acme)

    response = client_for(acme, acme.manager).post(review_url(claim), {"decision": "approve"})

    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == Claim.Status.APPROVED
    assert balance_of(acme) == 250
    with tenant_context(acme.tenant):
        assert list(AuditEntry.objects.values_list("summary", "target_id")) == [("Approved", str(claim.pk))]
    page = client_for(acme, acme.manager).get(f"/admin/partners/claim/{claim.pk}/change/")
    assert b'id="review-box"' not in page.content  # nothing left to decide


def test_rejecting_needs_a_reason_and_writes_nothing_without_one(acme: World, client_for) -> None:
    claim = pending_claim(acme)
    client = client_for(acme, acme.manager)

    refused = client.post(review_url(claim), {"decision": "reject", "reason": "  "}, follow=True)

    assert "Give a reason to reject" in refused.content.decode()
    claim.refresh_from_db()
    assert claim.status == Claim.Status.PENDING
    with tenant_context(acme.tenant):
        assert not AuditEntry.objects.exists()

    client.post(review_url(claim), {"decision": "reject", "reason": "Invoice is from another vendor"})
    claim.refresh_from_db()
    assert (claim.status, claim.review_note) == (Claim.Status.REJECTED, "Invoice is from another vendor")


def test_an_unknown_decision_or_a_get_is_refused(acme: World, client_for) -> None:
    claim = pending_claim(acme)
    client = client_for(acme, acme.manager)

    assert client.post(review_url(claim), {"decision": "maybe"}).status_code == 400
    assert client.get(review_url(claim)).status_code == 405
    claim.refresh_from_db()
    assert claim.status == Claim.Status.PENDING


def test_another_tenants_row_cannot_be_decided(acme: World, globex: World, client_for) -> None:
    sales_rule(globex)
    foreign = pending_activity(globex)

    response = client_for(acme, acme.manager).post(
        f"/admin/partners/activity/{foreign.pk}/review/", {"decision": "approve"}
    )

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == Activity.Status.PENDING
    assert balance_of(globex) == 0


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER])
def test_only_program_staff_decide(acme: World, client_for, role: Role) -> None:
    claim = pending_claim(acme)

    assert client_for(acme, acme.user_for(role)).post(review_url(claim), {"decision": "approve"}).status_code == 403
    claim.refresh_from_db()
    assert claim.status == Claim.Status.PENDING
