"""Claims: submitted with evidence, flagged when they resemble earlier ones, reviewed with a reason."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from earning.services import claim_approve, claim_reject, claim_submit
from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, Claim
from tests.conftest import World
from tests.partners.helpers import balance_of, pdf, sales_rule

YESTERDAY = timezone.localdate() - timedelta(days=1)


def submit(world: World, **overrides) -> Claim:
    fields = {
        "partner": world.partner,
        "submitted_by": world.partner_user,
        "claim_type": Claim.Type.SALE,
        "occurred_on": YESTERDAY,
        "evidence": pdf(),
        "invoice_number": "INV-100",
        "amount": Decimal("800.00"),
        "currency": "USD",
    } | overrides
    with tenant_context(world.tenant):
        return claim_submit(**fields)


@pytest.fixture
def auto_approving(acme: World) -> World:
    acme.tenant.claims_auto_approve = True
    acme.tenant.claim_review_threshold = Decimal("5000")
    acme.tenant.save(update_fields=["claims_auto_approve", "claim_review_threshold"])
    sales_rule(acme)
    return acme


def test_claims_wait_for_review_by_default(acme: World) -> None:
    sales_rule(acme)
    claim = submit(acme)
    assert (claim.status, claim.review_reasons, claim.duplicate_of) == (Claim.Status.PENDING, ["review_required"], None)
    assert claim.activity.source == Activity.Source.CLAIM
    assert claim.activity.status == Activity.Status.PENDING
    assert balance_of(acme) == 0


def test_clean_claim_under_the_threshold_is_approved_automatically(auto_approving: World) -> None:
    claim = submit(auto_approving)
    assert (claim.status, claim.reviewed_by, claim.review_reasons) == (Claim.Status.APPROVED, None, [])
    assert balance_of(auto_approving) == 800


def test_claim_above_the_threshold_always_waits(auto_approving: World) -> None:
    claim = submit(auto_approving, amount=Decimal("5000.01"))
    assert (claim.status, claim.review_reasons) == (Claim.Status.PENDING, ["above_threshold"])
    assert balance_of(auto_approving) == 0


def test_same_invoice_number_is_flagged_and_never_auto_approved(auto_approving: World) -> None:
    first = submit(auto_approving)
    second = submit(
        auto_approving, invoice_number="inv-100", amount=Decimal("120.00"), partner=auto_approving.unmanaged_partner
    )
    assert (second.status, second.review_reasons, second.duplicate_of) == (Claim.Status.PENDING, ["duplicate"], first)
    assert second.is_flagged_duplicate
    assert balance_of(auto_approving, auto_approving.unmanaged_partner) == 0


def test_same_amount_date_and_partner_is_flagged(auto_approving: World) -> None:
    first = submit(auto_approving)
    second = submit(auto_approving, invoice_number="INV-200")
    assert (second.status, second.duplicate_of) == (Claim.Status.PENDING, first)


def test_review_approves_into_points_or_rejects_with_a_reason(acme: World) -> None:
    sales_rule(acme)
    approved, rejected = submit(acme), submit(acme, invoice_number="INV-2", amount=Decimal("10"))
    with tenant_context(acme.tenant):
        claim_approve(claim=approved, actor=acme.manager, note="Checked")
        claim_reject(claim=rejected, actor=acme.manager, reason="Invoice is from another vendor")
        with pytest.raises(ValidationError, match="Only pending claims can be reviewed; this one is rejected."):
            claim_approve(claim=rejected, actor=acme.manager)
        with pytest.raises(ValidationError, match="Only pending claims can be reviewed; this one is approved."):
            claim_reject(claim=approved, actor=acme.manager, reason="Changed my mind")
    approved.refresh_from_db()
    rejected.refresh_from_db()
    assert (approved.status, approved.reviewed_by, approved.review_note) == ("approved", acme.manager, "Checked")
    assert (rejected.status, rejected.review_note) == ("rejected", "Invoice is from another vendor")
    assert rejected.activity.status == Activity.Status.REJECTED
    assert balance_of(acme) == 800


def test_rejection_needs_a_reason(acme: World) -> None:
    claim = submit(acme)
    with tenant_context(acme.tenant), pytest.raises(ValidationError):
        claim_reject(claim=claim, actor=acme.manager, reason="")
    claim.refresh_from_db()
    assert claim.status == Claim.Status.PENDING


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"invoice_number": " "}, "invoice_number"),
        ({"claim_type": "training", "amount": None, "currency": "", "code": ""}, "code"),
        ({"claim_type": "lottery"}, "claim_type"),
        ({"amount": Decimal("-1")}, "amount"),
        ({"occurred_on": date.today() + timedelta(days=5)}, "occurred_at"),  # noqa: DTZ011
        ({"evidence": pdf(content=b"not a pdf at all")}, "evidence"),
    ],
)
def test_bad_claims_are_refused_and_nothing_is_written(acme: World, overrides: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        submit(acme, **overrides)
    assert field in error.value.message_dict
    assert not Claim.all_tenants.exists()
    assert not Activity.all_tenants.exists()
    assert not LedgerEntry.all_tenants.exists()


def test_training_claim(acme: World) -> None:
    claim = submit(acme, claim_type=Claim.Type.TRAINING, invoice_number="", amount=None, currency="", code="NET-101")
    assert (claim.activity.kind, claim.activity.code, claim.invoice_date) == ("training", "NET-101", None)
