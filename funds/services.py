"""Every movement of market development funds: posting (the only writer of fund accounts and entries),
allocation by tier and accrual on sales, top-ups, and the request → pre-approval → claim → payout workflow."""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from funds.lock_objects import fund_account_lock, fund_claim_lock, fund_request_lock
from funds.models import (
    ActivityType,
    FundAccount,
    FundClaim,
    FundEntry,
    FundEntryKind,
    FundPayout,
    FundPeriod,
    FundProof,
    FundRequest,
    ProofKind,
    RebateAccrual,
)
from loyalty.events import event_emit
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from loyalty.uploads import EVIDENCE, upload_scan
from loyalty.wording import money_exact
from partners.models import Activity, ActivityKind, Partner
from tiers.models import BenefitKind, PartnerTier, Tier, TierBenefit
from tiers.selectors import tier_entitlements

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$")
MAX_PROOFS = 10
# How each kind moves (available, committed): +1 credits, -1 debits, 0 leaves alone. Amounts are positive.
KIND_MOVES = {
    FundEntryKind.ALLOCATE: (1, 0),
    FundEntryKind.ACCRUE: (1, 0),
    FundEntryKind.TOP_UP: (1, 0),
    FundEntryKind.DEDUCT: (-1, 0),
    FundEntryKind.COMMIT: (-1, 1),
    FundEntryKind.RELEASE: (1, -1),
    FundEntryKind.PAY: (0, -1),
    FundEntryKind.SETTLE: (-1, 0),
}


class FundDecision:
    """What `fund.decided` reports: a request pre-approved (in full or in part), rejected or expired; a claim paid
    or rejected (the event's `claim` says which)."""

    APPROVED = "approved"
    PARTIAL = "partially_approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    PAID = "paid"


class InsufficientFundsError(ValidationError):
    """The account does not hold the amount a debit needs."""


class IdempotencyConflictError(ValidationError):
    """The idempotency key was already used for a different movement."""


class TransitionError(ValidationError):
    """The request or claim is not in a status that allows this step (someone else decided first)."""


def validate_idempotency_key(key: str) -> None:
    if not isinstance(key, str) or not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise ValidationError(
            {"idempotency_key": _("Use 1 to 200 letters, digits and . _ : / @ - (starting with a letter or digit).")}
        )


def money_amount(value: object, *, field_name: str = "amount", allow_negative: bool = False) -> Decimal:
    """A money amount as the ledger stores it: a Decimal with at most two decimals, above zero, within range."""
    if isinstance(value, bool | float):
        raise ValidationError({field_name: _("Give the amount as a decimal number.")})
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as error:
        raise ValidationError({field_name: _("Give the amount as a decimal number.")}) from error
    if not amount.is_finite() or amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValidationError({field_name: _("Amounts have at most two decimals.")})
    if abs(amount) > MAX_AMOUNT:
        raise ValidationError({field_name: _("The amount is too large.")})
    if amount == 0 or (amount < 0 and not allow_negative):
        raise ValidationError({field_name: _("The amount must be more than zero.")})
    return amount.quantize(CENT)


def percent_text(value: Decimal) -> str:
    """2.50 → "2.5", 50.00 → "50" (normalize alone would say 5E+1)."""
    return f"{value.normalize():f}"


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""


def fund_entry_hash(*, previous_hash: str, entry: FundEntry) -> str:
    """The entry's link in its account's hash chain: a later change to any hashed field breaks the chain."""
    fields = [
        previous_hash,
        entry.tenant_id,
        entry.account_id,
        entry.kind,
        f"{entry.available_delta:.2f}",
        f"{entry.committed_delta:.2f}",
        f"{entry.available_after:.2f}",
        f"{entry.committed_after:.2f}",
        entry.currency,
        _utc(entry.created_at),
        entry.actor_id,
        entry.memo,
        entry.idempotency_key,
        entry.request_id,
        entry.claim_id,
    ]
    return hashlib.sha256("\x1f".join("" if value is None else str(value) for value in fields).encode()).hexdigest()


def fund_account_for(
    *, partner: Partner | int, period: FundPeriod, purpose: str = FundAccount.Purpose.MDF
) -> FundAccount:
    """The partner's account for the period and purpose, in the program's currency, created on first use."""
    partner_id = partner if isinstance(partner, int) else partner.pk
    account, _created = FundAccount.objects.get_or_create(
        partner_id=partner_id, period=period, purpose=purpose, defaults={"currency": current_tenant().currency}
    )
    return account


def _conflict() -> IdempotencyConflictError:
    return IdempotencyConflictError(
        {"idempotency_key": _("This idempotency key was already used for a different movement.")}
    )


@transaction.atomic
def fund_post(
    *,
    account: FundAccount,
    kind: str,
    amount: Decimal,
    currency: str,
    idempotency_key: str,
    actor: User | None = None,
    memo: str = "",
    request: FundRequest | None = None,
    claim: FundClaim | None = None,
) -> FundEntry:
    """Append one entry and move the account's balances with it, in one transaction under the account's lock.

    `amount` is positive; the kind says which way it moves `available` and `committed` (an accrual may be
    negative: a correction when sales were reversed). The same idempotency key for the same movement returns the
    first entry; for another movement it raises IdempotencyConflictError. A debit larger than what the account
    holds raises InsufficientFundsError; nothing is written on any refusal.
    """
    validate_idempotency_key(idempotency_key)
    if kind not in FundEntryKind.values:
        raise ValidationError({"kind": _("Unknown entry kind.")})
    amount = money_amount(amount, allow_negative=kind == FundEntryKind.ACCRUE)
    if kind in (FundEntryKind.TOP_UP, FundEntryKind.DEDUCT) and (not memo.strip() or actor is None):
        raise ValidationError({"memo": _("A top-up or deduction needs a reason and the person making it.")})
    # A zero stays an unsigned zero (−0.00 would hash differently from the 0.00 the database gives back).
    available_delta, committed_delta = (amount * sign if sign else Decimal("0.00") for sign in KIND_MOVES[kind])
    locked = fund_account_lock(account_id=account.pk)
    if currency != locked.currency:
        raise ValidationError(
            {
                "currency": _("This account holds %(currency)s, not %(other)s.")
                % {"currency": locked.currency, "other": currency}
            }
        )
    existing = FundEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if (existing.account_id, existing.kind, existing.available_delta, existing.committed_delta) == (
            locked.pk,
            kind,
            available_delta,
            committed_delta,
        ):
            return existing
        raise _conflict()
    available_after = locked.available + available_delta
    committed_after = locked.committed + committed_delta
    if available_after < 0:
        raise InsufficientFundsError(
            _("Not enough funds: %(available)s %(currency)s available, %(needed)s needed.")
            % {"available": locked.available, "currency": locked.currency, "needed": -available_delta}
        )
    if committed_after < 0:
        raise InsufficientFundsError(_("More than what is committed to pre-approved activities."))
    now = timezone.now()
    entry = FundEntry(
        account=locked,
        kind=kind,
        available_delta=available_delta,
        committed_delta=committed_delta,
        available_after=available_after,
        committed_after=committed_after,
        currency=currency,
        created_at=now,
        actor=actor,
        memo=memo,
        idempotency_key=idempotency_key,
        request=request,
        claim=claim,
    )
    entry.tenant_id = locked.tenant_id
    entry.entry_hash = fund_entry_hash(previous_hash=locked.chain_head, entry=entry)
    try:
        with transaction.atomic():
            entry.save(force_insert=True)
    except IntegrityError as error:
        raise _conflict() from error
    locked.available, locked.committed, locked.chain_head, locked.updated_at = (
        available_after,
        committed_after,
        entry.entry_hash,
        now,
    )
    locked.save(update_fields=["available", "committed", "chain_head", "updated_at"])
    return entry


# --- Periods, allocation, accrual, top-ups -----------------------------------------------------------------------


def fund_period_create(
    *,
    name: str,
    kind: str,
    starts_on: date,
    ends_on: date,
    accrual_percent: Decimal = Decimal(0),
    max_reimbursement_percent: Decimal = Decimal(100),
    claim_window_days: int = 60,
) -> FundPeriod:
    period = FundPeriod(
        name=name.strip(),
        kind=kind,
        starts_on=starts_on,
        ends_on=ends_on,
        accrual_percent=Decimal(accrual_percent),
        max_reimbursement_percent=Decimal(max_reimbursement_percent),
        claim_window_days=claim_window_days,
    )
    period.full_clean(exclude=["tenant"])
    if ends_on < starts_on:
        raise ValidationError({"ends_on": _("The period ends before it starts.")})
    period.save()
    return period


@dataclass
class AllocationReport:
    """What one allocation run did: partners credited (and with how much), and those skipped with why."""

    credited: dict[int, Decimal] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)


def _period_bounds(period: FundPeriod) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(period.starts_on, time.min))
    end = timezone.make_aware(datetime.combine(period.ends_on + timedelta(days=1), time.min))
    return start, end


def tier_allocation(*, partner: Partner, currency: str) -> tuple[Tier | None, Decimal | None]:
    """The partner's current tier and the MDF allocation it grants in `currency` (None: none, or another currency)."""
    state = PartnerTier.objects.filter(partner=partner).select_related("tier").first()
    if state is None:
        return None, None
    values = [
        entitlement.value
        for entitlement in tier_entitlements(tier=state.tier)
        if entitlement.kind == BenefitKind.MDF_ALLOCATION
        and entitlement.value
        and (entitlement.currency or currency) == currency
    ]
    return state.tier, max(values) if values else None


def partner_sales_in(*, partner_ids: Sequence[int], period: FundPeriod, currency: str) -> dict[int, Decimal]:
    """Approved sales of each partner in the period, in `currency` (one query)."""
    start, end = _period_bounds(period)
    rows = (
        Activity.objects.filter(
            partner_id__in=list(partner_ids),
            kind=ActivityKind.SALE,
            status=Activity.Status.APPROVED,
            occurred_at__gte=start,
            occurred_at__lt=end,
            currency=currency,
        )
        .values_list("partner_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return {partner_id: total or Decimal(0) for partner_id, total in rows}


def fund_allocate(*, period: FundPeriod, partners: Sequence[Partner] | None = None) -> AllocationReport:
    """Credit each active partner's account for the period with its tier's MDF allocation, once per period.

    The rule: the tier the partner holds when the allocation runs decides the amount; a partner that moves tier
    later keeps what it was given (staff top up or deduct with a reason). Run again, it credits only partners
    not yet allocated (the idempotency key is the period and the partner).
    """
    currency = current_tenant().currency
    report = AllocationReport()
    chosen = partners if partners is not None else list(Partner.objects.filter(status=Partner.Status.ACTIVE))
    for partner in chosen:
        tier, amount = tier_allocation(partner=partner, currency=currency)
        if amount is None:
            report.skipped[partner.pk] = _("Its tier grants no market development funds in %(currency)s.") % {
                "currency": currency
            }
            continue
        account = fund_account_for(partner=partner, period=period)
        if account.tier_id is None:
            account.tier = tier
            account.save(update_fields=["tier"])
        fund_post(
            account=account,
            kind=FundEntryKind.ALLOCATE,
            amount=amount,
            currency=currency,
            idempotency_key=f"funds:allocate:{period.pk}:{partner.pk}",
            memo=_("Tier allocation for %(period)s") % {"period": period.name},
        )
        report.credited[partner.pk] = amount
    return report


def fund_accrue(*, period: FundPeriod, partners: Sequence[Partner] | None = None) -> AllocationReport:
    """Bring each partner's accrual up to date: the period's accrual % of its approved sales in the period.

    Posts the difference from what was accrued so far (negative when sales were reversed, as far as the
    available funds go), keyed by the target so a re-run with the same sales posts nothing.
    """
    report = AllocationReport()
    if not period.accrual_percent:
        return report
    currency = current_tenant().currency
    chosen = partners if partners is not None else list(Partner.objects.filter(status=Partner.Status.ACTIVE))
    sales = partner_sales_in(partner_ids=[partner.pk for partner in chosen], period=period, currency=currency)
    for partner in chosen:
        target = (sales.get(partner.pk, Decimal(0)) * period.accrual_percent / 100).quantize(CENT, ROUND_HALF_UP)
        account = fund_account_for(partner=partner, period=period)
        with transaction.atomic():
            locked = fund_account_lock(account_id=account.pk)
            accrued = locked.entries.filter(kind=FundEntryKind.ACCRUE).aggregate(total=Sum("available_delta"))
            delta = target - (accrued["total"] or Decimal(0))
            delta = max(delta, -locked.available)
            if delta == 0:
                continue
            fund_post(
                account=locked,
                kind=FundEntryKind.ACCRUE,
                amount=delta,
                currency=currency,
                idempotency_key=f"funds:accrue:{period.pk}:{partner.pk}:{target}:{accrued['total'] or 0}",
                memo=_("%(percent)s %% of approved sales") % {"percent": percent_text(period.accrual_percent)},
            )
        report.credited[partner.pk] = delta
    return report


def fund_adjust(
    *, partner: Partner, period: FundPeriod, amount: object, reason: str, actor: User, idempotency_key: str
) -> FundEntry:
    """A manual top-up (positive) or deduction (negative) of a partner's funds, with the reason for it."""
    value = money_amount(amount, allow_negative=True)
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the funds change.")})
    account = fund_account_for(partner=partner, period=period)
    return fund_post(
        account=account,
        kind=FundEntryKind.TOP_UP if value > 0 else FundEntryKind.DEDUCT,
        amount=abs(value),
        currency=account.currency,
        idempotency_key=idempotency_key,
        actor=actor,
        memo=reason.strip(),
    )


# --- Requests ------------------------------------------------------------------------------------------------------


def fund_request_submit(
    *,
    partner: Partner,
    period: FundPeriod,
    requested_by: User,
    activity_type: str,
    title: str,
    description: str,
    planned_on: date,
    amount: object,
    expected_results: str = "",
    idempotency_key: str,
) -> FundRequest:
    """A partner asks for funds for a planned activity. The same idempotency key returns the first request."""
    validate_idempotency_key(idempotency_key)
    existing = FundRequest.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.partner_id != partner.pk:
            raise _conflict()
        return existing
    errors: dict[str, str] = {}
    try:
        value = money_amount(amount)
    except ValidationError as error:
        errors.update({key: messages[0] for key, messages in error.message_dict.items()})
    if activity_type not in ActivityType.values:
        errors["activity_type"] = _("Choose a kind of activity.")
    if not title.strip():
        errors["title"] = _("Give the activity a title.")
    if not description.strip():
        errors["description"] = _("Describe the activity.")
    if not isinstance(planned_on, date) or not (period.starts_on <= planned_on <= period.ends_on):
        errors["planned_on"] = _("Plan the activity between %(start)s and %(end)s.") % {
            "start": period.starts_on.isoformat(),
            "end": period.ends_on.isoformat(),
        }
    if partner.status != Partner.Status.ACTIVE:
        errors["partner"] = _("Only active partners can request funds.")
    if errors:
        raise ValidationError(errors)
    account = fund_account_for(partner=partner, period=period)
    if value > account.available:
        raise InsufficientFundsError(
            {
                "amount": _("You have %(available)s available in this period.")
                % {"available": money_exact(account.available, account.currency)}
            }
        )
    try:
        with transaction.atomic():
            return FundRequest.objects.create(
                partner=partner,
                account=account,
                requested_by=requested_by,
                activity_type=activity_type,
                title=title.strip(),
                description=description.strip(),
                planned_on=planned_on,
                expected_results=expected_results.strip(),
                requested_amount=value,
                currency=account.currency,
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        return FundRequest.objects.get(idempotency_key=idempotency_key, partner=partner)


def _claim_deadline(request: FundRequest) -> date:
    return request.planned_on + timedelta(days=request.account.period.claim_window_days)


# What `_decided_amount` says: a rejection without a reason, more than was asked, less without a reason.
REQUEST_REFUSALS = (
    gettext_lazy("Say why the request is rejected."),
    gettext_lazy("Approve at most the amount requested."),
    gettext_lazy("Say why only part of the amount is approved."),
)
CLAIM_REFUSALS = (
    gettext_lazy("Say why the claim is rejected."),
    gettext_lazy("Approve at most the amount claimed."),
    gettext_lazy("Say why less than the claim is approved."),
)


def _decided_amount(
    asked: Decimal, decision: str, amount: object | None, reason: str, refusals: tuple
) -> Decimal | None:
    """The amount a decision approves (None for a rejection), refused as `refusals` say: a rejection without a
    reason, more than was asked, less than was asked without a reason."""
    without_reason, above, partial_without_reason = refusals
    if decision == "reject":
        if not reason.strip():
            raise ValidationError({"reason": without_reason})
        return None
    value = asked if amount in (None, "") else money_amount(amount, field_name="approved_amount")
    if value > asked:
        raise ValidationError({"approved_amount": above})
    if value < asked and not reason.strip():
        raise ValidationError({"reason": partial_without_reason})
    return value


def fund_request_decision_check(
    *, request: FundRequest, decision: str, amount: object | None = None, reason: str = ""
) -> Decimal | None:
    """Refuse what `fund_request_approve` or `fund_request_reject` would refuse, before anything is locked or
    written, so the confirmation page asks only what can be done; returns the amount an approval commits.

    The available funds are read afresh here; `fund_post` checks them again under the account's lock.
    """
    if (value := _decided_amount(request.requested_amount, decision, amount, reason, REQUEST_REFUSALS)) is None:
        return None
    available = FundAccount.objects.values_list("available", flat=True).get(pk=request.account_id)
    if value > available:
        raise InsufficientFundsError(
            {
                "approved_amount": _("Only %(amount)s is available: approve at most that, with a reason.")
                % {"amount": money_exact(available, request.currency)}
            }
        )
    return value


@transaction.atomic
def fund_request_approve(
    *, request: FundRequest, actor: User, amount: object | None = None, reason: str = ""
) -> FundRequest:
    """Pre-approve a request in full, or in part with a reason: the approved amount is committed from the
    partner's available funds (refused, with nothing written, when they do not cover it)."""
    value = fund_request_decision_check(request=request, decision="approve", amount=amount, reason=reason)
    account = fund_account_lock(account_id=request.account_id)
    locked = fund_request_lock(request_id=request.pk)
    if locked.status != FundRequest.Status.SUBMITTED:
        raise TransitionError(_("This request was already decided."))
    fund_post(
        account=account,
        kind=FundEntryKind.COMMIT,
        amount=value,
        currency=locked.currency,
        idempotency_key=f"funds:commit:{locked.pk}",
        actor=actor,
        memo=locked.title,
        request=locked,
    )
    locked.status = FundRequest.Status.APPROVED
    locked.approved_amount = value
    locked.decision_reason = reason.strip()
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.claim_deadline = _claim_deadline(locked)
    locked.save(
        update_fields=["status", "approved_amount", "decision_reason", "decided_by", "decided_at", "claim_deadline"]
    )
    decision = FundDecision.PARTIAL if locked.is_partial else FundDecision.APPROVED
    event_emit("fund.decided", request=locked, claim=None, decision=decision, payout=None)
    return locked


@transaction.atomic
def fund_request_reject(*, request: FundRequest, actor: User, reason: str) -> FundRequest:
    fund_request_decision_check(request=request, decision="reject", reason=reason)
    locked = fund_request_lock(request_id=request.pk)
    if locked.status != FundRequest.Status.SUBMITTED:
        raise TransitionError(_("This request was already decided."))
    locked.status = FundRequest.Status.REJECTED
    locked.decision_reason = reason.strip()
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decision_reason", "decided_by", "decided_at"])
    event_emit("fund.decided", request=locked, claim=None, decision=FundDecision.REJECTED, payout=None)
    return locked


def _release_commitment(*, request: FundRequest, amount: Decimal, key: str, memo: str, actor: User | None) -> None:
    if amount > 0:
        fund_post(
            account=request.account,
            kind=FundEntryKind.RELEASE,
            amount=amount,
            currency=request.currency,
            idempotency_key=key,
            actor=actor,
            memo=memo,
            request=request,
        )


def fund_preapprovals_expire(*, today: date | None = None) -> int:
    """Expire pre-approvals whose claim window has passed without a claim under review or paid: their
    commitment returns to the partner's available funds. Idempotent: each request expires once."""
    today = today or timezone.localdate()
    expired = 0
    due = FundRequest.objects.filter(status=FundRequest.Status.APPROVED, claim_deadline__lt=today)
    for request_id, account_id in due.values_list("pk", "account_id").order_by("pk"):
        with transaction.atomic():
            fund_account_lock(account_id=account_id)
            locked = fund_request_lock(request_id=request_id)
            if locked.status != FundRequest.Status.APPROVED:
                continue
            _release_commitment(
                request=locked,
                amount=locked.approved_amount,
                key=f"funds:expire:{locked.pk}",
                memo=_("Pre-approval expired unclaimed"),
                actor=None,
            )
            locked.status = FundRequest.Status.EXPIRED
            locked.save(update_fields=["status"])
            event_emit("fund.decided", request=locked, claim=None, decision=FundDecision.EXPIRED, payout=None)
            expired += 1
    return expired


# --- Claims and payouts --------------------------------------------------------------------------------------------


def fund_claim_submit(
    *,
    request: FundRequest,
    submitted_by: User,
    performed_on: date,
    total_cost: object,
    amount: object,
    results: str,
    leads_generated: int = 0,
    proofs: Sequence[tuple[str, UploadedFile]],
    idempotency_key: str,
    today: date | None = None,
) -> FundClaim:
    """Claim a pre-approved activity's reimbursement with proof of performance, within the claim window.

    Refused with nothing written: a claim above the pre-approved amount or above the period's maximum share of
    the cost, past the window, without an invoice, or with a file that is not a PDF, PNG or JPEG.
    """
    validate_idempotency_key(idempotency_key)
    existing = FundClaim.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.request_id != request.pk:
            raise _conflict()
        return existing
    today = today or timezone.localdate()
    period = request.account.period
    errors: dict[str, list[str]] = {}

    def refuse(field_name: str, message: str) -> None:
        errors.setdefault(field_name, []).append(message)

    cost = value = None
    try:
        cost = money_amount(total_cost, field_name="total_cost")
    except ValidationError as error:
        refuse("total_cost", error.message_dict["total_cost"][0])
    try:
        value = money_amount(amount)
    except ValidationError as error:
        refuse("amount", error.message_dict["amount"][0])
    if not isinstance(performed_on, date) or performed_on > today:
        refuse("performed_on", _("Give the date the activity took place (not in the future)."))
    elif today > performed_on + timedelta(days=period.claim_window_days):
        refuse(
            "performed_on",
            _("Claims are due within %(days)s days of the activity.") % {"days": period.claim_window_days},
        )
    if not results.strip():
        refuse("results", _("Say what the activity achieved."))
    if isinstance(leads_generated, bool) or not isinstance(leads_generated, int) or leads_generated < 0:
        refuse("leads_generated", _("Give the number of leads as a whole number."))
    if cost is not None and value is not None:
        share = (cost * period.max_reimbursement_percent / 100).quantize(CENT, ROUND_HALF_UP)
        if request.approved_amount is not None and value > request.approved_amount:
            refuse(
                "amount",
                _("The claim is above the pre-approved %(approved)s %(currency)s.")
                % {"approved": request.approved_amount, "currency": request.currency},
            )
        elif value > share:
            refuse(
                "amount",
                _("At most %(percent)s %% of the cost is reimbursed: %(share)s %(currency)s.")
                % {
                    "percent": percent_text(period.max_reimbursement_percent),
                    "share": share,
                    "currency": request.currency,
                },
            )
    if not proofs:
        refuse("proofs", _("Attach proof of performance, at least the invoice."))
    elif ProofKind.INVOICE not in {kind for kind, _file in proofs}:
        refuse("proofs", _("Attach the invoice among the proofs."))
    if len(proofs) > MAX_PROOFS:
        refuse("proofs", _("Attach at most %(count)s files.") % {"count": MAX_PROOFS})
    content_types = []
    for kind, upload in proofs:
        if kind not in ProofKind.values:
            refuse("proofs", _("Unknown kind of proof."))
            continue
        try:
            content_types.append(upload_scan(file=upload, kind=EVIDENCE, field="proofs"))
        except ValidationError as error:
            for message in error.message_dict["proofs"]:
                refuse("proofs", f"{upload.name}: {message}")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = fund_request_lock(request_id=request.pk)
        if locked.status != FundRequest.Status.APPROVED:
            raise TransitionError(_("Only a pre-approved request can be claimed."))
        try:
            with transaction.atomic():
                claim = FundClaim.objects.create(
                    request=locked,
                    partner_id=locked.partner_id,
                    submitted_by=submitted_by,
                    performed_on=performed_on,
                    total_cost=cost,
                    amount=value,
                    currency=locked.currency,
                    results=results.strip(),
                    leads_generated=leads_generated,
                    idempotency_key=idempotency_key,
                )
        except IntegrityError:
            return FundClaim.objects.get(idempotency_key=idempotency_key, request=locked)
        for (kind, upload), content_type in zip(proofs, content_types, strict=True):
            FundProof.objects.create(
                claim=claim, kind=kind, file=upload, content_type=content_type, original_name=upload.name[:200]
            )
        locked.status = FundRequest.Status.CLAIMED
        locked.save(update_fields=["status"])
    return claim


def credit_note_number(*, claim: FundClaim) -> str:
    """CN-<year>-<claim id>: unique per tenant without a counter to lock."""
    return f"CN-{timezone.localdate().year}-{claim.pk:06d}"


def fund_claim_decision_check(
    *, claim: FundClaim, decision: str, amount: object | None = None, reason: str = "", method: str = "credit_note"
) -> Decimal | None:
    """Refuse what `fund_claim_approve` or `fund_claim_reject` would refuse, before anything is locked or written,
    so the confirmation page asks only what can be done; returns the amount an approval pays."""
    if (value := _decided_amount(claim.amount, decision, amount, reason, CLAIM_REFUSALS)) is None:
        return None
    if method not in FundPayout.Method.values:
        raise ValidationError({"method": _("Choose how the claim is paid.")})
    return value


@transaction.atomic
def fund_claim_approve(
    *,
    claim: FundClaim,
    actor: User,
    amount: object | None = None,
    reason: str = "",
    method: str = FundPayout.Method.CREDIT_NOTE,
) -> FundPayout:
    """Approve a claim (in full, or less with a reason): pay it out of the commitment as a credit note (or a
    payment record) and release the rest of the pre-approval to the partner's available funds."""
    value = fund_claim_decision_check(claim=claim, decision="approve", amount=amount, reason=reason, method=method)
    request = claim.request
    fund_account_lock(account_id=request.account_id)
    locked_request = fund_request_lock(request_id=request.pk)
    locked = fund_claim_lock(claim_id=claim.pk)
    if locked.status != FundClaim.Status.SUBMITTED:
        raise TransitionError(_("This claim was already decided."))
    if value > locked_request.approved_amount:
        raise ValidationError({"approved_amount": _("Approve at most the pre-approved amount.")})
    entry = fund_post(
        account=locked_request.account,
        kind=FundEntryKind.PAY,
        amount=value,
        currency=locked.currency,
        idempotency_key=f"funds:pay:{locked.pk}",
        actor=actor,
        memo=locked_request.title,
        request=locked_request,
        claim=locked,
    )
    _release_commitment(
        request=locked_request,
        amount=locked_request.approved_amount - value,
        key=f"funds:release:{locked.pk}",
        memo=_("Rest of the pre-approval after the claim was paid"),
        actor=actor,
    )
    now = timezone.now()
    locked.status = FundClaim.Status.APPROVED
    locked.approved_amount = value
    locked.decision_reason = reason.strip()
    locked.decided_by = actor
    locked.decided_at = now
    locked.save(update_fields=["status", "approved_amount", "decision_reason", "decided_by", "decided_at"])
    locked_request.status = FundRequest.Status.PAID
    locked_request.save(update_fields=["status"])
    payout = FundPayout.objects.create(
        claim=locked,
        account_id=locked_request.account_id,
        partner_id=locked.partner_id,
        entry=entry,
        method=method,
        number=credit_note_number(claim=locked),
        amount=value,
        currency=locked.currency,
        issued_at=now,
    )
    event_emit("fund.decided", request=locked_request, claim=locked, decision=FundDecision.PAID, payout=payout)
    return payout


@transaction.atomic
def fund_claim_reject(*, claim: FundClaim, actor: User, reason: str) -> FundClaim:
    """Reject a claim with a reason; the pre-approval stands, so the partner may claim again within the window."""
    fund_claim_decision_check(claim=claim, decision="reject", reason=reason)
    locked_request = fund_request_lock(request_id=claim.request_id)
    locked = fund_claim_lock(claim_id=claim.pk)
    if locked.status != FundClaim.Status.SUBMITTED:
        raise TransitionError(_("This claim was already decided."))
    locked.status = FundClaim.Status.REJECTED
    locked.decision_reason = reason.strip()
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decision_reason", "decided_by", "decided_at"])
    locked_request.status = FundRequest.Status.APPROVED
    locked_request.save(update_fields=["status"])
    event_emit("fund.decided", request=locked_request, claim=locked, decision=FundDecision.REJECTED, payout=None)
    return locked


# --- Rebates -------------------------------------------------------------------------------------------------------
# The rule for a tier change in mid-period (docs/funds.md): each sale accrues at the rebate rate of the tier the
# partner holds when the sale is approved; at the true-up after the period ends, the period's sales that still
# stand are re-rated at the rate of the tier the partner holds then, when that is higher (an upgrade counts for the
# whole period, a downgrade never takes back what was accrued).


def _rebate_rates(*, partner_ids: Sequence[int]) -> dict[int, Decimal]:
    """Each partner's rebate rate (%) from its current tier; partners whose tier grants none are left out."""
    tiers = dict(PartnerTier.objects.filter(partner_id__in=list(partner_ids)).values_list("partner_id", "tier_id"))
    rates: dict[int, Decimal] = {}
    for tier_id, value in TierBenefit.objects.filter(
        tier_id__in=set(tiers.values()), kind=BenefitKind.REBATE_RATE, value__gt=0
    ).values_list("tier_id", "value"):
        for partner_id, partner_tier in tiers.items():
            if partner_tier == tier_id:
                rates[partner_id] = max(rates.get(partner_id, Decimal(0)), value)
    return rates


def _period_for(periods: list[FundPeriod], day: date) -> FundPeriod | None:
    """The period a sale's day falls in: the latest-starting one that holds it (a quarter before its year)."""
    holding = [period for period in periods if period.starts_on <= day <= period.ends_on]
    return max(holding, key=lambda period: (period.starts_on, -period.ends_on.toordinal()), default=None)


def rebates_accrue(*, activities: Sequence[Activity]) -> list[RebateAccrual]:
    """Accrue the rebate of each approved sale: amount × the rate of the partner's tier now, in the period the sale
    falls in, in the program's currency. Called by the earning integration when sales are approved (one by one or
    in bulk). Idempotent per sale; sales without a period, a rate or in another currency accrue nothing."""
    currency = current_tenant().currency
    sales = [
        activity
        for activity in activities
        if activity.kind == ActivityKind.SALE
        and activity.status == Activity.Status.APPROVED
        and activity.amount
        and activity.currency == currency
    ]
    if not sales:
        return []
    rates = _rebate_rates(partner_ids={sale.partner_id for sale in sales})
    sales = [sale for sale in sales if sale.partner_id in rates]
    if not sales:
        return []
    done = set(RebateAccrual.objects.filter(activity_id__in=[sale.pk for sale in sales]).values_list("activity_id"))
    periods = list(FundPeriod.objects.all())
    grouped: dict[tuple[int, int], list[Activity]] = {}
    for sale in sales:
        period = _period_for(periods, timezone.localdate(sale.occurred_at))
        if period is not None and (sale.pk,) not in done:
            grouped.setdefault((sale.partner_id, period.pk), []).append(sale)
    by_id = {period.pk: period for period in periods}
    accruals: list[RebateAccrual] = []
    for (partner_id, period_id), group in sorted(grouped.items()):
        account = fund_account_for(partner=partner_id, period=by_id[period_id], purpose=FundAccount.Purpose.REBATE)
        rate = rates[partner_id]
        rows = [
            RebateAccrual(
                tenant_id=account.tenant_id,  # bulk_create skips save(), which fills it
                activity=sale,
                account=account,
                sale_amount=sale.amount,
                rate=rate,
                amount=(sale.amount * rate / 100).quantize(CENT, ROUND_HALF_UP),
            )
            for sale in group
        ]
        total = sum((row.amount for row in rows), Decimal(0))
        with transaction.atomic():
            locked = fund_account_lock(account_id=account.pk)
            RebateAccrual.objects.bulk_create(rows)
            if total > 0:
                ids = ",".join(str(sale.pk) for sale in group)
                key = (
                    f"rebates:accrue:{group[0].pk}"
                    if len(group) == 1
                    else (f"rebates:accrue:{account.pk}:{hashlib.sha256(ids.encode()).hexdigest()[:32]}")
                )
                fund_post(
                    account=locked,
                    kind=FundEntryKind.ACCRUE,
                    amount=total,
                    currency=currency,
                    idempotency_key=key,
                    memo=_("%(percent)s %% rebate on %(count)s approved sale(s)")
                    % {"percent": percent_text(rate), "count": len(group)},
                )
        accruals += rows
    return accruals


def rebate_reverse(*, activity: Activity, actor: User | None = None) -> FundEntry | None:
    """A sale was reversed (rejected after approval): take its rebate back from its account, once. After the
    period was settled, only what is left in the account can be taken (the memo says what was not)."""
    accrual = RebateAccrual.objects.filter(activity=activity, reversed_at__isnull=True).first()
    if accrual is None:
        return None
    with transaction.atomic():
        locked = fund_account_lock(account_id=accrual.account_id)
        accrual = RebateAccrual.objects.select_for_update().get(pk=accrual.pk)
        if accrual.reversed_at is not None:
            return None
        accrual.reversed_at = timezone.now()
        accrual.save(update_fields=["reversed_at"])
        taken = min(accrual.amount, locked.available)
        if taken <= 0:
            return None
        memo = _("Rebate reversed with its sale")
        if taken < accrual.amount:
            memo = _("Rebate reversed with its sale; %(rest)s %(currency)s was already paid") % {
                "rest": accrual.amount - taken,
                "currency": locked.currency,
            }
        return fund_post(
            account=locked,
            kind=FundEntryKind.ACCRUE,
            amount=-taken,
            currency=locked.currency,
            idempotency_key=f"rebates:reverse:{activity.pk}",
            actor=actor,
            memo=memo,
        )


@dataclass
class TrueUpReport:
    settled: dict[int, Decimal] = field(default_factory=dict)  # partner → amount paid
    topped_up: dict[int, Decimal] = field(default_factory=dict)  # partner → re-rating at the end tier's rate


def rebates_true_up(*, period: FundPeriod, today: date | None = None) -> TrueUpReport:
    """After the period ends: re-rate each rebate account at the end tier's rate when higher, then pay out what it
    holds as a credit note. Idempotent: a settled account is settled once (its keys say so)."""
    today = today or timezone.localdate()
    if today <= period.ends_on:
        raise ValidationError({"period": _("A period is trued up after it ends.")})
    report = TrueUpReport()
    accounts = list(FundAccount.objects.filter(period=period, purpose=FundAccount.Purpose.REBATE).order_by("pk"))
    rates = _rebate_rates(partner_ids=[account.partner_id for account in accounts])
    for account in accounts:
        with transaction.atomic():
            locked = fund_account_lock(account_id=account.pk)
            if FundEntry.objects.filter(idempotency_key=f"rebates:settle:{locked.pk}").exists():
                continue
            standing = RebateAccrual.objects.filter(account=locked, reversed_at__isnull=True).aggregate(
                sales=Sum("sale_amount"), accrued=Sum("amount")
            )
            end_rate = rates.get(locked.partner_id, Decimal(0))
            target = ((standing["sales"] or Decimal(0)) * end_rate / 100).quantize(CENT, ROUND_HALF_UP)
            extra = target - (standing["accrued"] or Decimal(0))
            if extra > 0:
                fund_post(
                    account=locked,
                    kind=FundEntryKind.ACCRUE,
                    amount=extra,
                    currency=locked.currency,
                    idempotency_key=f"rebates:trueup:{locked.pk}",
                    memo=_("True-up: the period's sales at %(percent)s %%") % {"percent": percent_text(end_rate)},
                )
                report.topped_up[locked.partner_id] = extra
                locked.refresh_from_db()
            if locked.available <= 0:
                continue
            amount = locked.available
            entry = fund_post(
                account=locked,
                kind=FundEntryKind.SETTLE,
                amount=amount,
                currency=locked.currency,
                idempotency_key=f"rebates:settle:{locked.pk}",
                memo=_("Rebates of %(period)s") % {"period": period.name},
            )
            FundPayout.objects.create(
                account=locked,
                partner_id=locked.partner_id,
                entry=entry,
                method=FundPayout.Method.CREDIT_NOTE,
                number=f"RB-{period.ends_on.year}-{locked.pk:06d}",
                amount=amount,
                currency=locked.currency,
            )
            report.settled[locked.partner_id] = amount
    return report


def rebates_accrue_pending(*, chunk_size: int = 1000) -> int:
    """Accrue every approved sale in a period that has no accrual yet (sales ingested in bulk, or approved before
    their partner's tier granted a rate); returns how many accrued. Idempotent, set-based per chunk."""
    periods = list(FundPeriod.objects.all())
    if not periods:
        return 0
    start = timezone.make_aware(datetime.combine(min(period.starts_on for period in periods), time.min))
    end = timezone.make_aware(datetime.combine(max(period.ends_on for period in periods) + timedelta(days=1), time.min))
    rated = list(_rebate_rates(partner_ids=PartnerTier.objects.values_list("partner_id", flat=True)))
    pending = Activity.objects.filter(
        partner_id__in=rated,
        kind=ActivityKind.SALE,
        status=Activity.Status.APPROVED,
        currency=current_tenant().currency,
        occurred_at__gte=start,
        occurred_at__lt=end,
        rebate_accruals__isnull=True,
    ).order_by("pk")
    accrued = 0
    last = 0
    while True:
        chunk = list(pending.filter(pk__gt=last)[:chunk_size])
        if not chunk:
            return accrued
        accrued += len(rebates_accrue(activities=chunk))
        last = chunk[-1].pk
