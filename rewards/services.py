"""Redemptions: one transaction to check, debit, take stock and record; then the review and fulfilment workflow."""

from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.ledger.lock_objects import account_lock
from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.services import (
    IdempotencyConflictError,
    points_account_for,
    points_post,
    validate_idempotency_key,
)
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from partners.models import Partner
from rewards.codes import code_digest, code_encrypt
from rewards.lock_objects import free_code_lock, redemption_lock, reward_lock
from rewards.models import GiftCode, Redemption, RedemptionEvent, Reward
from tiers.models import PartnerTier

OPEN_STATUSES = (Redemption.Status.REQUESTED, Redemption.Status.APPROVED, Redemption.Status.FULFILLED)
# Allowed moves of the workflow; anything else is refused.
TRANSITIONS = {
    Redemption.Status.REQUESTED: {Redemption.Status.APPROVED, Redemption.Status.REJECTED, Redemption.Status.CANCELLED},
    Redemption.Status.APPROVED: {Redemption.Status.FULFILLED, Redemption.Status.REJECTED},
}


def _period_start(period: str, today: date) -> datetime | None:
    if period == Reward.LimitPeriod.EVER:
        return None
    if period == Reward.LimitPeriod.MONTH:
        start = today.replace(day=1)
    elif period == Reward.LimitPeriod.QUARTER:
        start = today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1)
    else:
        start = today.replace(month=1, day=1)
    return timezone.make_aware(datetime.combine(start, datetime.min.time()))


def partner_tier_rank(*, partner: Partner) -> int:
    """The rank of the partner's current tier (0: no tier yet)."""
    state = PartnerTier.objects.filter(partner=partner).select_related("tier").first()
    return state.tier.rank if state else 0


def redemption_refusal(*, reward: Reward, partner: Partner, quantity: int, balance: int) -> str | None:
    """Why this partner cannot redeem this reward now, in words; None when it can. Shared by the catalog."""
    now = timezone.now()
    if partner.status != Partner.Status.ACTIVE:
        return _("Your company's membership of the program is not active.")
    if reward.status != Reward.Status.ACTIVE:
        return _("This reward is no longer available.")
    if reward.available_from and now < reward.available_from:
        return _("This reward is available from %(date)s.") % {"date": timezone.localdate(reward.available_from)}
    if reward.available_until and now > reward.available_until:
        return _("This reward was available until %(date)s.") % {"date": timezone.localdate(reward.available_until)}
    if reward.minimum_tier_rank and partner_tier_rank(partner=partner) < reward.minimum_tier_rank:
        return _("Your tier is too low for this reward.")
    if reward.stock is not None and reward.stock < quantity:
        return _("Out of stock.")
    if reward.limit_per_partner is not None:
        taken = Redemption.objects.filter(partner=partner, reward=reward, status__in=OPEN_STATUSES)
        start = _period_start(reward.limit_period, timezone.localdate())
        if start is not None:
            taken = taken.filter(created_at__gte=start)
        already = taken.aggregate(total=Sum("quantity"))["total"] or 0
        if already + quantity > reward.limit_per_partner:
            return _("You have reached the limit for this reward (%(limit)s %(period)s).") % {
                "limit": reward.limit_per_partner,
                "period": reward.get_limit_period_display().lower(),
            }
    needed = reward.points_cost * quantity
    if balance < needed:
        return _("Not enough points: %(balance)s available, %(needed)s needed.") % {
            "balance": balance,
            "needed": needed,
        }
    return None


def _budget_reasons(*, reward: Reward, points: int) -> list[str]:
    """Budgets that this redemption would pass: it then waits for approval instead of failing."""
    month_start = _period_start(Reward.LimitPeriod.MONTH, timezone.localdate())
    this_month = Redemption.objects.filter(status__in=OPEN_STATUSES, created_at__gte=month_start)
    reasons = []
    budget = current_tenant().monthly_redemption_budget
    if budget is not None:
        spent = this_month.aggregate(total=Sum("points"))["total"] or 0
        if Decimal(spent + points) * current_tenant().point_value > budget:
            reasons.append("monthly_budget")
    if reward.monthly_cap_points is not None:
        spent = this_month.filter(reward=reward).aggregate(total=Sum("points"))["total"] or 0
        if spent + points > reward.monthly_cap_points:
            reasons.append("reward_cap")
    return reasons


def _move(*, redemption: Redemption, to_status: str, actor: User | None, reason: str = "") -> None:
    if to_status not in TRANSITIONS.get(redemption.status, set()):
        raise ValidationError(
            _("A redemption that is %(status)s cannot become %(to)s.") % {"status": redemption.status, "to": to_status}
        )
    RedemptionEvent.objects.create(
        redemption=redemption, from_status=redemption.status, to_status=to_status, actor=actor, reason=reason
    )
    redemption.status, redemption.updated_at = to_status, timezone.now()
    redemption.save(update_fields=["status", "updated_at"])


@transaction.atomic
def reward_redeem(
    *, partner: Partner, requested_by: User, reward: Reward, quantity: int = 1, idempotency_key: str
) -> Redemption:
    """Redeem in one transaction: check tier, availability, stock, limit and balance; debit; take stock; record.

    The same key again returns the first redemption; the same key for something else raises
    IdempotencyConflictError. Budgets passed make it wait for approval rather than fail.
    """
    validate_idempotency_key(idempotency_key)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100:
        raise ValidationError({"quantity": _("Redeem between 1 and 100 at a time.")})
    account = account_lock(account_id=points_account_for(partner=partner).pk)
    existing = Redemption.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if (existing.partner_id, existing.reward_id, existing.quantity) == (partner.pk, reward.pk, quantity):
            return existing
        raise IdempotencyConflictError({"idempotency_key": _("This key was already used for another redemption.")})
    locked_reward = reward_lock(reward_id=reward.pk)
    refusal = redemption_refusal(reward=locked_reward, partner=partner, quantity=quantity, balance=account.balance)
    if refusal:
        raise ValidationError(refusal)
    points = locked_reward.points_cost * quantity
    reasons = _budget_reasons(reward=locked_reward, points=points)
    if locked_reward.requires_approval:
        reasons.append("approval_required")
    try:
        with transaction.atomic():
            redemption = Redemption.objects.create(
                partner=partner,
                requested_by=requested_by,
                reward=locked_reward,
                quantity=quantity,
                points=points,
                idempotency_key=idempotency_key,
                review_reasons=reasons,
            )
    except IntegrityError as error:
        # Only another partner's concurrent request with the same key gets here (ours are serialised).
        raise IdempotencyConflictError(
            {"idempotency_key": _("This key was already used for another redemption.")}
        ) from error
    RedemptionEvent.objects.create(redemption=redemption, to_status=Redemption.Status.REQUESTED, actor=requested_by)
    points_post(
        account=account,
        kind=EntryKind.REDEEM,
        points=-points,
        idempotency_key=f"redeem:{redemption.pk}",
        actor=requested_by,
        memo=f"{locked_reward.name} × {quantity}",
        redemption=redemption,
    )
    if locked_reward.stock is not None:
        Reward.objects.filter(pk=locked_reward.pk).update(stock=F("stock") - quantity)
    if not reasons:
        redemption_approve(redemption=redemption, actor=None, reason=_("Approved automatically."))
        redemption.refresh_from_db()
    return redemption


@transaction.atomic
def redemption_approve(*, redemption: Redemption, actor: User | None, reason: str = "") -> Redemption:
    """Approve a requested redemption; codes and credit notes are fulfilled at once."""
    locked = redemption_lock(redemption_id=redemption.pk)
    _move(redemption=locked, to_status=Redemption.Status.APPROVED, actor=actor, reason=reason)
    fulfilment = locked.reward.fulfilment
    if fulfilment == Reward.Fulfilment.CODE_POOL:
        for _each in range(locked.quantity):
            code = free_code_lock(reward_id=locked.reward_id)
            if code is None:
                raise ValidationError(_("The code pool of %(reward)s is empty.") % {"reward": locked.reward})
            code.redemption = locked
            code.save(update_fields=["redemption"])
        _move(redemption=locked, to_status=Redemption.Status.FULFILLED, actor=actor, reason=_("Code issued."))
    elif fulfilment == Reward.Fulfilment.CREDIT_NOTE:
        locked.credit_note = f"CN-{current_tenant().slug.upper()}-{locked.pk:06d}"
        locked.save(update_fields=["credit_note"])
        _move(redemption=locked, to_status=Redemption.Status.FULFILLED, actor=actor, reason=_("Credit note issued."))
    return locked


@transaction.atomic
def redemption_fulfil(*, redemption: Redemption, actor: User, tracking: str = "") -> Redemption:
    """Mark an approved (manual) redemption as shipped or delivered."""
    locked = redemption_lock(redemption_id=redemption.pk)
    _move(redemption=locked, to_status=Redemption.Status.FULFILLED, actor=actor, reason=tracking)
    locked.tracking = tracking
    locked.save(update_fields=["tracking"])
    return locked


def _refund(*, redemption: Redemption, actor: User | None, reason: str) -> None:
    """Give the points back into the lots they came from, and the stock back to the reward."""
    debit = LedgerEntry.objects.get(redemption=redemption, kind=EntryKind.REDEEM)
    points_post(
        account=debit.account,
        kind=EntryKind.REFUND,
        points=-debit.points,
        idempotency_key=f"refund:{redemption.pk}",
        actor=actor,
        memo=reason,
        reverses=debit,
        redemption=redemption,
    )
    Reward.objects.filter(pk=redemption.reward_id, stock__isnull=False).update(stock=F("stock") + redemption.quantity)


@transaction.atomic
def redemption_reject(*, redemption: Redemption, actor: User, reason: str) -> Redemption:
    """Refuse a requested or approved redemption with a reason; the points are refunded."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the redemption is rejected.")})
    account_lock(account_id=redemption.partner.points_accounts.get().pk)
    locked = redemption_lock(redemption_id=redemption.pk)
    _move(redemption=locked, to_status=Redemption.Status.REJECTED, actor=actor, reason=reason)
    _refund(redemption=locked, actor=actor, reason=reason)
    return locked


@transaction.atomic
def redemption_cancel(*, redemption: Redemption, actor: User) -> Redemption:
    """The partner withdraws a redemption that is still requested; the points are refunded."""
    account_lock(account_id=redemption.partner.points_accounts.get().pk)
    locked = redemption_lock(redemption_id=redemption.pk)
    if locked.status != Redemption.Status.REQUESTED:
        raise ValidationError(_("Only a redemption still waiting for review can be cancelled."))
    _move(redemption=locked, to_status=Redemption.Status.CANCELLED, actor=actor, reason=_("Cancelled by the partner."))
    _refund(redemption=locked, actor=actor, reason=_("Cancelled by the partner."))
    return locked


@transaction.atomic
def codes_load(*, reward: Reward, codes: list[str]) -> int:
    """Load gift-card codes into a reward's pool (encrypted); its stock grows by the same number."""
    cleaned = [code.strip() for code in codes if code.strip()]
    if reward.fulfilment != Reward.Fulfilment.CODE_POOL:
        raise ValidationError(_("Only code-pool rewards take codes."))
    if len(set(cleaned)) != len(cleaned):
        raise ValidationError(_("The list repeats a code."))
    if any(len(code) > 200 for code in cleaned):
        raise ValidationError(_("Codes are at most 200 characters."))
    locked = reward_lock(reward_id=reward.pk)
    digests = {code_digest(code): code for code in cleaned}
    if GiftCode.objects.filter(reward=locked, code_digest__in=digests).exists():
        raise ValidationError(_("Some of these codes are already in the pool; nothing was loaded."))
    GiftCode.objects.bulk_create(
        [
            GiftCode(
                tenant_id=locked.tenant_id,
                reward=locked,
                code_encrypted=code_encrypt(code),
                code_digest=digest,
                last_four=code[-4:],
            )
            for digest, code in digests.items()
        ]
    )
    Reward.objects.filter(pk=locked.pk).update(stock=(F("stock") if locked.stock is not None else 0) + len(cleaned))
    return len(cleaned)
