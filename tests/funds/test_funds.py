"""Market development funds: allocation by tier and accrual (hand-computed), the request → pre-approval → claim →
payout lifecycle, partial approval, refusals that write nothing, expiry, and fund_verify."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction
from django.utils import timezone

from funds.models import AppendOnlyError, FundAccount, FundClaim, FundEntry, FundPayout, FundProof, FundRequest
from funds.selectors import fund_totals, fund_verify
from funds.services import (
    InsufficientFundsError,
    TransitionError,
    fund_accrue,
    fund_adjust,
    fund_allocate,
    fund_claim_approve,
    fund_claim_reject,
    fund_claim_submit,
    fund_post,
    fund_preapprovals_expire,
    fund_request_approve,
    fund_request_reject,
)
from loyalty.tenancy.context import tenant_context
from partners.models import Activity
from tests.conftest import World
from tests.factories import PartnerFactory
from tests.funds.helpers import (
    GOLD_MDF,
    SILVER_MDF,
    approved_request,
    gold_partner_with_funds,
    gold_program,
    place,
    quarter,
    submitted_request,
)
from tests.ledger.test_verify import append_only_trigger_disabled, execute
from tests.partners.helpers import PDF_BYTES, PNG_BYTES, pdf

pytestmark = pytest.mark.django_db


def invoice() -> list:
    return [("invoice", pdf("invoice.pdf")), ("photo", SimpleUploadedFile("room.png", PNG_BYTES, "image/png"))]


def claim(world: World, request: FundRequest, *, cost="3000", amount="1500", proofs=None, key="claim-1", **extra):
    fields = {
        "request": request,
        "submitted_by": world.partner_user,
        "performed_on": timezone.localdate(),
        "total_cost": cost,
        "amount": amount,
        "results": "180 attendees, 35 leads",
        "leads_generated": 35,
        "proofs": invoice() if proofs is None else proofs,
        "idempotency_key": key,
    } | extra
    return fund_claim_submit(**fields)


def balances(world: World) -> tuple[Decimal, Decimal]:
    account = FundAccount.objects.get(partner=world.partner)
    return account.available, account.committed


def sale(partner, amount: str, *, status=Activity.Status.APPROVED, currency="USD", days_ago=1) -> Activity:
    return Activity.objects.create(
        partner=partner,
        kind="sale",
        occurred_at=timezone.now() - timedelta(days=days_ago),
        amount=Decimal(amount),
        currency=currency,
        source=Activity.Source.API,
        status=status,
    )


# --- Allocation ---------------------------------------------------------------------------------------------------


def test_allocation_credits_each_partner_its_tiers_amount_once(acme: World) -> None:
    with tenant_context(acme.tenant):
        program = gold_program()
        place(acme.partner, program.tiers["Gold"])
        silver = PartnerFactory(tenant=acme.tenant, name="Silver Co")
        place(silver, program.tiers["Silver"])
        place(acme.unmanaged_partner, program.tiers["Registered"])  # no MDF for Registered
        period = quarter()

        report = fund_allocate(period=period)
        again = fund_allocate(period=period)

        assert report.credited == {acme.partner.pk: GOLD_MDF, silver.pk: SILVER_MDF}
        assert list(report.skipped) == [acme.unmanaged_partner.pk]
        assert again.credited == report.credited  # same keys: the first entries come back, nothing new
        assert FundEntry.objects.count() == 2
        assert {a.partner_id: a.available for a in FundAccount.objects.all()} == {
            acme.partner.pk: Decimal("5000.00"),
            silver.pk: Decimal("1500.00"),
        }
        assert fund_verify().breaches == []


def test_accrual_is_the_periods_percentage_of_approved_sales_in_its_currency(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = quarter(accrual_percent=Decimal(3))
        sale(acme.partner, "12345.67")
        reversed_later = sale(acme.partner, "1000.00")
        sale(acme.partner, "500.00", status=Activity.Status.PENDING)  # not approved: no accrual
        sale(acme.partner, "700.00", currency="EUR")  # another currency: not this account's
        sale(acme.partner, "900.00", days_ago=400)  # before the period

        fund_accrue(period=period, partners=[acme.partner])
        fund_accrue(period=period, partners=[acme.partner])  # nothing changed: nothing posted
        # 3 % of 13,345.67 = 400.3701 → 400.37
        assert balances(acme) == (Decimal("400.37"), Decimal(0))
        assert FundEntry.objects.count() == 1

        Activity.objects.filter(pk=reversed_later.pk).update(status=Activity.Status.REJECTED)
        fund_accrue(period=period, partners=[acme.partner])
        # 3 % of 12,345.67 = 370.3701 → 370.37: a correction of −30.00
        assert balances(acme) == (Decimal("370.37"), Decimal(0))
        assert list(FundEntry.objects.values_list("available_delta", flat=True)) == [
            Decimal("400.37"),
            Decimal("-30.00"),
        ]
        assert fund_verify().breaches == []


def test_a_top_up_needs_a_reason_and_a_deduction_never_overdraws(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        with pytest.raises(ValidationError, match="Say why"):
            fund_adjust(
                partner=acme.partner,
                period=period,
                amount="250",
                reason=" ",
                actor=acme.manager,
                idempotency_key="adj-1",
            )
        fund_adjust(
            partner=acme.partner,
            period=period,
            amount="250.50",
            reason="Trade show co-op",
            actor=acme.manager,
            idempotency_key="adj-2",
        )
        with pytest.raises(InsufficientFundsError):
            fund_adjust(
                partner=acme.partner,
                period=period,
                amount="-9000",
                reason="Clawback",
                actor=acme.manager,
                idempotency_key="adj-3",
            )
        assert balances(acme) == (Decimal("5250.50"), Decimal(0))
        assert FundEntry.objects.count() == 2


# --- The lifecycle -------------------------------------------------------------------------------------------------


def test_request_preapproval_claim_and_payout(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        request = submitted_request(acme, period, "2000")
        assert request.status == FundRequest.Status.SUBMITTED
        assert balances(acme) == (Decimal("5000.00"), Decimal(0))  # a request commits nothing yet

        request = fund_request_approve(request=request, actor=acme.manager)
        assert (request.status, request.approved_amount) == (FundRequest.Status.APPROVED, Decimal("2000.00"))
        assert request.claim_deadline == request.planned_on + timedelta(days=30)
        assert balances(acme) == (Decimal("3000.00"), Decimal("2000.00"))

        submitted = claim(acme, request, cost="3000", amount="1500")  # 50 % of 3,000
        assert submitted.proofs.count() == 2
        assert set(FundProof.objects.values_list("content_type", flat=True)) == {"application/pdf", "image/png"}
        request.refresh_from_db()
        assert request.status == FundRequest.Status.CLAIMED

        payout = fund_claim_approve(claim=submitted, actor=acme.manager)
        assert (payout.amount, payout.currency, payout.method) == (Decimal("1500.00"), "USD", "credit_note")
        assert payout.number == f"CN-{timezone.localdate().year}-{submitted.pk:06d}"
        # Paid 1,500 from the commitment; the other 500 of the pre-approval is available again.
        assert balances(acme) == (Decimal("3500.00"), Decimal(0))
        request.refresh_from_db()
        assert request.status == FundRequest.Status.PAID
        totals = fund_totals(account_ids=list(FundAccount.objects.values_list("pk", flat=True)))
        assert (totals.allocated, totals.approved, totals.paid, totals.released) == (
            Decimal("5000.00"),
            Decimal("2000.00"),
            Decimal("1500.00"),
            Decimal("500.00"),
        )
        assert fund_verify().breaches == []


def test_partial_preapproval_needs_a_reason_and_commits_only_the_part(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        request = submitted_request(acme, period, "2500")
        with pytest.raises(ValidationError, match="Say why only part"):
            fund_request_approve(request=request, actor=acme.manager, amount="2000")
        with pytest.raises(ValidationError, match="at most the amount requested"):
            fund_request_approve(request=request, actor=acme.manager, amount="2600", reason="More")
        assert FundEntry.objects.count() == 1  # the allocation only

        request = fund_request_approve(request=request, actor=acme.manager, amount="2000", reason="80 % this time")
        assert request.is_partial
        assert (request.approved_amount, request.decision_reason) == (Decimal("2000.00"), "80 % this time")
        assert balances(acme) == (Decimal("3000.00"), Decimal("2000.00"))
        with pytest.raises(TransitionError):
            fund_request_approve(request=request, actor=acme.manager)


def test_rejected_request_commits_nothing(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        request = submitted_request(acme, period, "2000")
        with pytest.raises(ValidationError, match="Say why"):
            fund_request_reject(request=request, actor=acme.manager, reason="")
        request = fund_request_reject(request=request, actor=acme.manager, reason="Not a fit for this quarter")
        assert request.status == FundRequest.Status.REJECTED
        assert balances(acme) == (Decimal("5000.00"), Decimal(0))


def test_request_above_the_available_funds_is_refused_with_nothing_written(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        with pytest.raises(InsufficientFundsError):
            submitted_request(acme, period, "5000.01")
        assert FundRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("amount", "planned_shift", "title", "error_field"),
    [
        ("-100", 0, "Webinar", "amount"),
        ("0", 0, "Webinar", "amount"),
        ("12.345", 0, "Webinar", "amount"),
        ("abc", 0, "Webinar", "amount"),
        ("100", 400, "Webinar", "planned_on"),
        ("100", 0, "  ", "title"),
    ],
)
def test_bad_request_input_is_refused_with_nothing_written(acme: World, amount, planned_shift, title, error_field):
    from funds.services import fund_request_submit

    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        with pytest.raises(ValidationError) as refusal:
            fund_request_submit(
                partner=acme.partner,
                period=period,
                requested_by=acme.partner_admin,
                activity_type="webinar",
                title=title,
                description="x",
                planned_on=timezone.localdate() + timedelta(days=planned_shift),
                amount=amount,
                idempotency_key="bad-1",
            )
        assert error_field in refusal.value.message_dict
        assert FundRequest.objects.count() == 0
        assert FundAccount.objects.get().available == GOLD_MDF


def test_resubmitting_with_the_same_key_returns_the_first_request(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        first = submitted_request(acme, period, "2000", key="same")
        again = submitted_request(acme, period, "2000", key="same")
        assert first.pk == again.pk
        assert FundRequest.objects.count() == 1


# --- Claims --------------------------------------------------------------------------------------------------------


def test_over_claim_is_refused_with_nothing_written(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        request = approved_request(acme, period, "2000", approve="1600")  # 80 % pre-approved
        with pytest.raises(ValidationError, match="above the pre-approved 1600.00 USD"):
            claim(acme, request, cost="5000", amount="1600.01")
        with pytest.raises(ValidationError, match="At most 50 % of the cost"):
            claim(acme, request, cost="3000", amount="1500.01")
        assert FundClaim.objects.count() == FundProof.objects.count() == 0
        request.refresh_from_db()
        assert request.status == FundRequest.Status.APPROVED
        assert balances(acme) == (Decimal("3400.00"), Decimal("1600.00"))


@pytest.mark.parametrize(
    ("proofs", "message"),
    [
        ([], "Attach proof of performance"),
        ([("photo", SimpleUploadedFile("room.png", PNG_BYTES, "image/png"))], "Attach the invoice"),
        ([("invoice", SimpleUploadedFile("invoice.pdf", b"MZ\x90\x00 not a pdf", "application/pdf"))], "must be PDF"),
        ([("invoice", SimpleUploadedFile("invoice.png", PDF_BYTES, "image/png"))], "must be PDF"),
        ([("invoice", SimpleUploadedFile("attendees.csv", b"name\nAda\n", "text/csv"))], "must be PDF"),
    ],
)
def test_claim_without_an_invoice_or_with_proof_of_the_wrong_type_is_refused(acme: World, proofs, message) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        request = approved_request(acme, period, "2000")
        with pytest.raises(ValidationError, match=message):
            claim(acme, request, proofs=proofs)
        assert FundClaim.objects.count() == FundProof.objects.count() == 0


def test_claim_past_the_window_is_refused(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        request = approved_request(acme, period, "2000")
        late = timezone.localdate() + timedelta(days=31)
        with pytest.raises(ValidationError, match="within 30 days of the activity"):
            claim(acme, request, today=late)
        with pytest.raises(ValidationError, match="not in the future"):
            claim(acme, request, performed_on=timezone.localdate() + timedelta(days=1))
        assert FundClaim.objects.count() == 0


def test_claim_approved_below_its_amount_needs_a_reason_and_releases_the_rest(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        request = approved_request(acme, period, "2000")
        submitted = claim(acme, request, cost="3000", amount="1500")
        with pytest.raises(ValidationError, match="Say why less"):
            fund_claim_approve(claim=submitted, actor=acme.manager, amount="1000")
        with pytest.raises(ValidationError, match="at most the amount claimed"):
            fund_claim_approve(claim=submitted, actor=acme.manager, amount="1600", reason="x")
        payout = fund_claim_approve(claim=submitted, actor=acme.manager, amount="1000", reason="One invoice is VAT")
        assert payout.amount == Decimal("1000.00")
        assert balances(acme) == (Decimal("4000.00"), Decimal(0))
        with pytest.raises(TransitionError):
            fund_claim_approve(claim=submitted, actor=acme.manager)
        assert FundPayout.objects.count() == 1
        assert fund_verify().breaches == []


def test_rejected_claim_leaves_the_preapproval_to_claim_again(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        request = approved_request(acme, period, "2000")
        first = claim(acme, request)
        fund_claim_reject(claim=first, actor=acme.manager, reason="The invoice is unreadable")
        request.refresh_from_db()
        assert request.status == FundRequest.Status.APPROVED
        assert balances(acme) == (Decimal("3000.00"), Decimal("2000.00"))
        second = claim(acme, request, key="claim-2")
        fund_claim_approve(claim=second, actor=acme.manager)
        assert balances(acme) == (Decimal("3500.00"), Decimal(0))


# --- Expiry --------------------------------------------------------------------------------------------------------


def test_unclaimed_preapprovals_expire_once_and_their_commitment_returns(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        unclaimed = approved_request(acme, period, "2000", key="req-a")
        claimed = approved_request(acme, period, "1000", key="req-b")
        claim(acme, claimed, cost="2000", amount="1000")
        assert balances(acme) == (Decimal("2000.00"), Decimal("3000.00"))

        assert fund_preapprovals_expire(today=unclaimed.claim_deadline) == 0  # the last day still counts
        day_after = unclaimed.claim_deadline + timedelta(days=1)
        assert fund_preapprovals_expire(today=day_after) == 1
        assert fund_preapprovals_expire(today=day_after) == 0  # idempotent

        unclaimed.refresh_from_db()
        claimed.refresh_from_db()
        assert (unclaimed.status, claimed.status) == (FundRequest.Status.EXPIRED, FundRequest.Status.CLAIMED)
        assert balances(acme) == (Decimal("4000.00"), Decimal("1000.00"))
        assert FundEntry.objects.filter(kind="release").count() == 1
        with pytest.raises(TransitionError):
            claim(acme, unclaimed, key="late")
        assert fund_verify().breaches == []


def test_expiry_task_runs_for_the_tenant(acme: World) -> None:
    from funds.tasks import expire_preapprovals

    with tenant_context(acme.tenant):
        gold_partner_with_funds(acme)
    assert expire_preapprovals.delay(tenant_id=acme.tenant.pk).get() == 0


# --- The ledger's invariants ---------------------------------------------------------------------------------------


def test_entries_are_append_only(acme: World) -> None:
    with tenant_context(acme.tenant):
        gold_partner_with_funds(acme)
        entry = FundEntry.objects.get()
        with pytest.raises(AppendOnlyError):
            entry.save()
        with pytest.raises(AppendOnlyError):
            FundEntry.objects.all().update(memo="x")
        with pytest.raises(AppendOnlyError):
            entry.delete()


def test_database_refuses_a_negative_balance(acme: World) -> None:
    with tenant_context(acme.tenant):
        gold_partner_with_funds(acme)
        with pytest.raises(DatabaseError), transaction.atomic():
            FundAccount.objects.all().update(available=Decimal("-1"))


def test_same_key_for_another_movement_is_a_conflict(acme: World) -> None:
    from funds.services import IdempotencyConflictError

    with tenant_context(acme.tenant):
        gold_partner_with_funds(acme)
        account = FundAccount.objects.get()
        fund_post(
            account=account,
            kind="top_up",
            amount=Decimal(10),
            currency="USD",
            idempotency_key="k",
            actor=acme.manager,
            memo="Bonus",
        )
        with pytest.raises(IdempotencyConflictError):
            fund_post(
                account=account,
                kind="top_up",
                amount=Decimal(11),
                currency="USD",
                idempotency_key="k",
                actor=acme.manager,
                memo="Bonus",
            )
        with pytest.raises(ValidationError, match="holds USD"):
            fund_post(
                account=account,
                kind="top_up",
                amount=Decimal(11),
                currency="EUR",
                idempotency_key="k2",
                actor=acme.manager,
                memo="Bonus",
            )
        assert account.entries.count() == 2


def test_fund_verify_passes_and_fails_on_a_corrupted_entry(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        request = approved_request(acme, period, "2000")
        fund_claim_approve(claim=claim(acme, request), actor=acme.manager)
    out = StringIO()
    call_command("fund_verify", stdout=out)
    assert out.getvalue().strip() == "fund_verify: 1 tenant(s), 1 fund accounts, 4 entries, 0 breaches"

    with tenant_context(acme.tenant):
        entry = FundEntry.objects.get(kind="pay")
        # Tamper below the application, as someone with database access could (the trigger is off for it).
        with append_only_trigger_disabled("funds_fundentry"):
            execute("UPDATE funds_fundentry SET memo = 'Approved by the CEO' WHERE id = %s", [entry.pk])
    errors = StringIO()
    with pytest.raises(CommandError, match="breaches"):
        call_command("fund_verify", "--tenant", acme.tenant.slug, stdout=StringIO(), stderr=errors)
    assert f"entry {entry.pk} was changed after it was written" in errors.getvalue()


def test_each_decision_notifies_the_partner_and_emits_a_webhook(acme: World) -> None:
    from notifications.models import Notification
    from webhooks.models import WebhookDelivery, WebhookEndpoint

    with tenant_context(acme.tenant):
        WebhookEndpoint.objects.create(url="https://erp.example.com/hooks", events=["fund.decided"])
        period = gold_partner_with_funds(acme)
        request = approved_request(acme, period, "2000", approve="1600")
        rejected = submitted_request(acme, period, "100", key="req-2")
        fund_request_reject(request=rejected, actor=acme.manager, reason="Off-brand")
        payout = fund_claim_approve(claim=claim(acme, request, cost="4000", amount="1600"), actor=acme.manager)

        decisions = [delivery.payload["data"] for delivery in WebhookDelivery.objects.order_by("pk")]
        assert [data["decision"] for data in decisions] == ["partially_approved", "rejected", "paid"]
        assert decisions[0]["fund_request"]["approved_amount"] == "1600.00"
        assert decisions[1]["reason"] == "Off-brand"
        assert decisions[2]["payout"] == {
            "number": payout.number,
            "method": "credit_note",
            "amount": "1600.00",
            "currency": "USD",
        }
        told = Notification.objects.filter(kind="fund_decision", recipient=acme.partner_admin)
        assert sorted(told.values_list("subject", "period")) == sorted(
            [
                (f"fund_request:{request.pk}", "partially_approved"),
                (f"fund_request:{rejected.pk}", "rejected"),
                (f"fund_claim:{payout.claim_id}", "paid"),
            ]
        )
