"""The partner's claim pages: the list (own partner only, constant queries) and the sale/training claim form."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from earning.services import claim_reject, claim_submit
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from partners.models import Activity, Claim
from tests.conftest import World
from tests.factories import MembershipFactory
from tests.partners.helpers import balance_of, pdf, sales_rule

YESTERDAY = timezone.localdate() - timedelta(days=1)
TOMORROW = timezone.localdate() + timedelta(days=1)


def make_claim(world: World, partner=None, **overrides) -> Claim:  # noqa: ANN001 - a Partner
    fields = {
        "partner": partner or world.partner,
        "submitted_by": world.partner_user,
        "claim_type": Claim.Type.SALE,
        "occurred_on": YESTERDAY,
        "evidence": pdf(),
        "invoice_number": "INV-100",
        "amount": Decimal("800.00"),
        "currency": world.tenant.currency,
    } | overrides
    with tenant_context(world.tenant):
        return claim_submit(**fields)


def counts(world: World) -> tuple[int, int]:
    with tenant_context(world.tenant):
        return Claim.objects.count(), Activity.objects.count()


def sale_post(**overrides) -> dict:
    return {
        "claim_type": "sale",
        "occurred_on": YESTERDAY.isoformat(),
        "invoice_number": "INV-7",
        "amount": "1250.50",
        "product_sku": "SKU-1",
        "product_category": "Servers",
        "evidence": pdf(),
    } | overrides


# --- List --------------------------------------------------------------------------------------------------------


def test_list_shows_the_partners_claims_with_their_review(acme: World, client_for) -> None:
    pending = make_claim(acme, invoice_number="INV-PENDING", amount=Decimal("1234.50"))
    rejected = make_claim(acme, invoice_number="INV-REJECTED", amount=Decimal("99.00"))
    with tenant_context(acme.tenant):
        claim_reject(claim=rejected, actor=acme.manager, reason="The invoice is unreadable.")
    training = make_claim(
        acme, claim_type=Claim.Type.TRAINING, invoice_number="", amount=None, code="COURSE-42", evidence=pdf("c.pdf")
    )
    make_claim(acme, partner=acme.unmanaged_partner, invoice_number="INV-OTHER", amount=Decimal("5.00"))

    response = client_for(acme, acme.partner_user).get("/claims/")
    assert response.status_code == 200
    assert [claim.pk for claim in response.context["page"]] == [training.pk, rejected.pk, pending.pk]
    page = response.content.decode()
    assert "INV-PENDING" in page
    assert "1,234.50 USD" in page
    assert "COURSE-42" in page
    assert "The invoice is unreadable." in page
    assert "Waiting for review" in page
    assert f'href="/evidence/{pending.activity_id}/"' in page
    assert "INV-OTHER" not in page
    assert 'class="overflow-auto"' in page


def test_another_partners_member_does_not_see_them(acme: World, client_for) -> None:
    make_claim(acme, invoice_number="INV-MINE")
    other = MembershipFactory(tenant=acme.tenant, role=Role.PARTNER_ADMIN, partner=acme.unmanaged_partner).user
    response = client_for(acme, other).get("/claims/")
    assert response.status_code == 200
    assert list(response.context["page"]) == []
    assert "INV-MINE" not in response.content.decode()


@pytest.mark.parametrize("path", ["/claims/", "/claims/new/"])
def test_other_tenants_staff_and_anonymous_are_refused(acme: World, globex: World, client_for, path: str) -> None:
    assert client_for(acme, globex.partner_user).get(path).status_code == 403
    for role in (Role.OWNER, Role.PROGRAM_MANAGER, Role.ACCOUNT_MANAGER):
        assert client_for(acme, acme.user_for(role)).get(path).status_code == 403
    response = client_for(acme).get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_list_query_count_does_not_grow(acme: World, client_for, django_assert_num_queries) -> None:
    for index in range(3):
        make_claim(acme, invoice_number=f"INV-{index}", amount=Decimal(100 + index))
    client = client_for(acme, acme.partner_user)
    client.get("/claims/")  # warm caches (content types, site) outside the measure
    with CaptureQueriesContext(connection) as few:
        assert len(client.get("/claims/").context["page"]) == 3
    for index in range(3, 20):
        make_claim(acme, invoice_number=f"INV-{index}", amount=Decimal(100 + index))
    with django_assert_num_queries(len(few)):
        assert len(client.get("/claims/").context["page"]) == 20


def test_list_is_paginated(acme: World, client_for) -> None:
    for index in range(26):
        make_claim(acme, invoice_number=f"INV-{index}", amount=Decimal(100 + index))
    client = client_for(acme, acme.partner_user)
    first = client.get("/claims/")
    assert len(first.context["page"]) == 25
    assert "Page 1 of 2" in first.content.decode()
    assert '<a href="?page=2" rel="next">' in first.content.decode()
    second = client.get("/claims/", {"page": 2})
    assert len(second.context["page"]) == 1
    assert '<a href="?page=1" rel="prev">' in second.content.decode()


# --- New claim ---------------------------------------------------------------------------------------------------


def test_form_renders_as_multipart(acme: World, client_for) -> None:
    response = client_for(acme, acme.partner_user).get("/claims/new/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert 'name="evidence"' in page
    assert 'name="valid_until"' in page


def test_sale_claim_waits_for_review(acme: World, client_for) -> None:
    response = client_for(acme, acme.partner_user).post("/claims/new/", sale_post(), follow=True)
    assert response.redirect_chain == [("/claims/", 302)]
    assert "Your sale claim was submitted: it waits for the program team&#x27;s review." in (response.content.decode())
    with tenant_context(acme.tenant):
        claim = Claim.objects.select_related("activity").get()
    assert (claim.partner, claim.submitted_by, claim.status) == (acme.partner, acme.partner_user, Claim.Status.PENDING)
    assert (claim.invoice_number, claim.invoice_date, claim.amount) == ("INV-7", YESTERDAY, Decimal("1250.50"))
    assert (claim.activity.currency, claim.activity.product_sku, claim.activity.product_category) == (
        "USD",
        "SKU-1",
        "Servers",
    )
    assert claim.activity.evidence.read().startswith(b"%PDF")


def test_sale_claim_approved_at_once_says_so(acme: World, client_for) -> None:
    acme.tenant.claims_auto_approve = True
    acme.tenant.claim_review_threshold = Decimal("5000")
    acme.tenant.save(update_fields=["claims_auto_approve", "claim_review_threshold"])
    sales_rule(acme)
    response = client_for(acme, acme.partner_user).post("/claims/new/", sale_post(amount="800"), follow=True)
    assert "Your sale claim was approved at once; its points are in your balance." in response.content.decode()
    assert balance_of(acme) == 800


def test_training_claim_ignores_sale_fields(acme: World, client_for) -> None:
    response = client_for(acme, acme.partner_user).post(
        "/claims/new/",
        sale_post(claim_type="training", code="SEC-101", valid_until=YESTERDAY.isoformat(), evidence=pdf("cert.pdf")),
    )
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        claim = Claim.objects.select_related("activity").get()
    assert (claim.claim_type, claim.invoice_number, claim.amount) == ("training", "", None)
    assert (claim.activity.kind, claim.activity.code, claim.activity.valid_until) == ("training", "SEC-101", None)
    assert claim.activity.evidence


@pytest.mark.parametrize(
    ("claim_type", "field", "named"),
    [("marketing", "campaign", "Webinar Q4 2026"), ("referral", "referred_company", "Fabrikam Ltd")],
)
def test_marketing_and_referral_claims_record_their_activity_with_evidence(
    acme: World, client_for, claim_type: str, field: str, named: str
) -> None:
    post = sale_post(claim_type=claim_type, evidence=pdf("attendees.pdf")) | {field: named, "code": "ignored"}
    response = client_for(acme, acme.partner_user).post("/claims/new/", post)
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        claim = Claim.objects.select_related("activity").get()
    assert (claim.claim_type, claim.invoice_number, claim.amount) == (claim_type, "", None)
    assert (claim.activity.kind, claim.activity.code, claim.activity.source) == (claim_type, named, "claim")
    assert claim.activity.evidence


def test_claim_form_offers_marketing_and_referral(acme: World, client_for) -> None:
    response = client_for(acme, acme.partner_user).get("/claims/new/?type=referral")
    page = response.content.decode()
    assert response.context["form"]["claim_type"].value() == "referral"
    assert 'value="marketing"' in page
    assert 'name="campaign"' in page
    assert 'name="referred_company"' in page


def test_certification_keeps_valid_until(acme: World, client_for) -> None:
    valid_until = YESTERDAY + timedelta(days=365)
    response = client_for(acme, acme.partner_user).post(
        "/claims/new/",
        {
            "claim_type": "certification",
            "occurred_on": YESTERDAY.isoformat(),
            "code": "CERT-9",
            "valid_until": valid_until.isoformat(),
            "evidence": pdf(),
        },
    )
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        assert Claim.objects.get().activity.valid_until == valid_until


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"invoice_number": ""}, "invoice_number", "A sale claim needs the invoice number."),
        ({"amount": "0"}, "amount", "The amount must be a positive number."),
        ({"amount": "-5"}, "amount", "The amount must be a positive number."),
        ({"amount": ""}, "amount", "A sale needs an amount."),
        ({"occurred_on": TOMORROW.isoformat()}, "occurred_on", "The date cannot be in the future."),
        (
            {"evidence": SimpleUploadedFile("invoice.txt", b"just text", content_type="text/plain")},
            "evidence",
            "The file must be PDF, PNG or JPEG, and its name must end as its type.",
        ),
        (
            {"evidence": SimpleUploadedFile("fake.pdf", b"MZ not a pdf", content_type="application/pdf")},
            "evidence",
            "The file must be PDF, PNG or JPEG, and its name must end as its type.",
        ),
        ({"evidence": ""}, "evidence", "This field is required."),
        ({"claim_type": "training", "code": ""}, "code", "Give the course or certification id."),
        ({"claim_type": "marketing", "code": "X"}, "campaign", "Name the campaign or event you took part in."),
        ({"claim_type": "referral", "campaign": "X"}, "referred_company", "Name the company you referred."),
        (
            {"claim_type": "certification", "code": "C-1", "valid_until": (YESTERDAY - timedelta(days=2)).isoformat()},
            "valid_until",
            "A certification cannot lapse before it was earned.",
        ),
    ],
)
def test_bad_input_shows_errors_and_writes_nothing(
    acme: World, client_for, overrides: dict, field: str, message: str
) -> None:
    response = client_for(acme, acme.partner_user).post("/claims/new/", sale_post(**overrides))
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert 'class="negative field-error"' in response.content.decode()
    assert counts(acme) == (0, 0)


def test_inactive_partner_refusal_is_a_form_error(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        acme.partner.status = "suspended"
        acme.partner.save(update_fields=["status"])
    response = client_for(acme, acme.partner_user).post("/claims/new/", sale_post())
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["The partner is not active."]
    assert counts(acme) == (0, 0)
