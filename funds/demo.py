"""Demo funds: last quarter and this one, allocations by tier, requests and claims in every state for the demo
partner, an expired pre-approval, rebates accrued on this quarter's sales and last quarter's settled."""

from datetime import date, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from funds.models import FundAccount, FundPeriod, FundRequest
from funds.services import (
    fund_account_for,
    fund_adjust,
    fund_allocate,
    fund_claim_approve,
    fund_claim_submit,
    fund_period_create,
    fund_preapprovals_expire,
    fund_request_approve,
    fund_request_reject,
    fund_request_submit,
    rebates_accrue_pending,
    rebates_true_up,
)
from loyalty.tenancy.models import User
from partners.models import Partner

DEMO_PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
# key, activity type, title, amount, days from today, decision ("" waits; "full", "80", "reject"), claim (cost, amount,
# paid?) or None
REQUESTS = (
    ("waiting", "trade_show", "Booth at the regional IT fair", "3500", 20, "", None),
    ("open", "digital", "LinkedIn campaign for the new access points", "1200", 10, "full", None),
    ("partial", "event", "Customer breakfast seminar", "2000", 5, "80", None),
    ("rejected", "print", "Printed catalogue for walk-in customers", "900", 12, "reject", None),
    ("claimed", "webinar", "Cloud migration webinar", "1500", -6, "full", ("3200", "1500", False)),
    ("paid", "training", "Sales training for installers", "1000", -12, "full", ("2400", "1000", True)),
)


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _period(starts_on: date) -> FundPeriod:
    existing = FundPeriod.objects.filter(kind=FundPeriod.Kind.QUARTER, starts_on=starts_on).first()
    if existing is not None:
        return existing
    quarter = (starts_on.month - 1) // 3 + 1
    return fund_period_create(
        name=f"Q{quarter} {starts_on.year}",
        kind=FundPeriod.Kind.QUARTER,
        starts_on=starts_on,
        ends_on=starts_on + relativedelta(months=3) - timedelta(days=1),
        max_reimbursement_percent=Decimal(80),
        claim_window_days=45,
    )


def seed_funds(*, partners: list[Partner], member: User, submitter: User, manager: User) -> None:
    """Idempotent: every step is keyed or checks the state it moves from."""
    today = timezone.localdate()
    current = _period(_quarter_start(today))
    previous = _period(_quarter_start(today) - relativedelta(months=3))
    fund_allocate(period=previous)
    fund_allocate(period=current)
    partner = partners[0]
    # The demo partner has funds whatever tier the evaluations gave it: a co-op top-up, with its reason.
    for period in (previous, current):
        if fund_account_for(partner=partner, period=period).available < Decimal(6000):
            fund_adjust(
                partner=partner,
                period=period,
                amount="10000",
                reason="Co-op funds agreed for the launch of the new access points",
                actor=manager,
                idempotency_key=f"demo:funds:top-up:{period.pk}",
            )
    for key, activity_type, title, amount, days, decision, claim in REQUESTS:
        planned_on = min(max(today + timedelta(days=days), current.starts_on), current.ends_on)
        if claim is not None:
            planned_on = min(planned_on, today)
        request = fund_request_submit(
            partner=partner,
            period=current,
            requested_by=member,
            activity_type=activity_type,
            title=title,
            description=f"{title}, planned with the vendor's marketing team.",
            planned_on=planned_on,
            amount=amount,
            expected_results="Qualified leads for the sales team.",
            idempotency_key=f"demo:funds:request:{key}",
        )
        if request.status == FundRequest.Status.SUBMITTED and decision == "reject":
            fund_request_reject(request=request, actor=manager, reason="Print is outside this quarter's plan.")
        elif request.status == FundRequest.Status.SUBMITTED and decision:
            share = Decimal(100) if decision == "full" else Decimal(decision)
            approved = (request.requested_amount * share / 100).quantize(Decimal("0.01"))
            reason = "" if decision == "full" else "80 %: the venue is shared with another partner."
            request = fund_request_approve(request=request, actor=manager, amount=approved, reason=reason)
        if claim is None or request.status != FundRequest.Status.APPROVED:
            continue
        cost, claimed, is_paid = claim
        submitted = fund_claim_submit(
            request=request,
            submitted_by=submitter,
            performed_on=planned_on,
            total_cost=cost,
            amount=claimed,
            results="140 attendees, 26 qualified leads.",
            leads_generated=26,
            proofs=[("invoice", SimpleUploadedFile(f"invoice-{key}.pdf", DEMO_PDF, content_type="application/pdf"))],
            idempotency_key=f"demo:funds:claim:{key}",
        )
        if is_paid:
            fund_claim_approve(claim=submitted, actor=manager)
    # Last quarter: a pre-approval nobody claimed, expired tonight's way.
    stale = fund_request_submit(
        partner=partner,
        period=previous,
        requested_by=member,
        activity_type="event",
        title="Partner open day",
        description="An open day in the showroom.",
        planned_on=previous.starts_on + timedelta(days=10),
        amount="800",
        idempotency_key="demo:funds:request:stale",
    )
    if stale.status == FundRequest.Status.SUBMITTED:
        fund_request_approve(request=stale, actor=manager)
    fund_preapprovals_expire(today=today)
    # Other partners with funds ask too, so the review queue and the budget have more than one partner.
    for other in partners[1:4]:
        account = FundAccount.objects.filter(partner=other, period=current, purpose=FundAccount.Purpose.MDF).first()
        if account is None or account.available < Decimal(500):
            continue
        fund_request_submit(
            partner=other,
            period=current,
            requested_by=manager,
            activity_type="digital",
            title=f"Search ads for {other.name}",
            description="Four weeks of search ads in the partner's region.",
            planned_on=min(today + timedelta(days=14), current.ends_on),
            amount="500",
            idempotency_key=f"demo:funds:request:other:{other.pk}",
        )
    # Rebates: this year's approved sales accrue at each partner's tier rate; last quarter is trued up and paid.
    rebates_accrue_pending()
    rebates_true_up(period=previous, today=today)
