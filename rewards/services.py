"""Redemptions: one transaction to check, debit, take stock and record; then the review and fulfilment workflow."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.events import event_emit
from loyalty.ledger.lock_objects import account_lock, partner_account_lock
from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.services import (
    IdempotencyConflictError,
    points_post,
    points_post_locked,
    validate_idempotency_key,
)
from loyalty.reasons import CodedReason
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from partners.models import Partner
from rewards.codes import code_digest, code_encrypt
from rewards.lock_objects import (
    free_code_lock,
    redemption_lock,
    reward_for_redemption,
    reward_lock,
    reward_stock_take,
)
from rewards.models import GiftCode, Redemption, RedemptionEvent, Reward
from tiers.models import PartnerTier
from tiers.selectors import tier_names_by_rank

OPEN_STATUSES = (Redemption.Status.REQUESTED, Redemption.Status.APPROVED, Redemption.Status.FULFILLED)
# Allowed moves of the workflow; anything else is refused.
TRANSITIONS = {
    Redemption.Status.REQUESTED: {Redemption.Status.APPROVED, Redemption.Status.REJECTED, Redemption.Status.CANCELLED},
    Redemption.Status.APPROVED: {Redemption.Status.FULFILLED, Redemption.Status.REJECTED},
}


class CostChangedError(ValidationError):
    """The reward's cost is no longer the one the member confirmed."""


def period_start(period: str, today: date) -> datetime | None:
    """Start of the limit period containing `today` (None: ever)."""
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
    return PartnerTier.objects.filter(partner=partner).values_list("tier__rank", flat=True).first() or 0


@dataclass(frozen=True)
class RedeemerFacts:
    """What the checks need to know about a partner, read once for any number of rewards."""

    balance: int
    tier_rank: int
    taken: dict[int, int]  # reward id → quantity already open in that reward's limit period
    tier_names: dict[int, str]  # rank → name, for the ranks this partner has not reached


def redeemer_facts(*, partner: Partner, rewards: list[Reward], balance: int) -> RedeemerFacts:
    """The partner's tier rank, limit usage and the names of the tiers above it: at most three queries."""
    tiered = {reward.minimum_tier_rank for reward in rewards if reward.minimum_tier_rank}
    rank = partner_tier_rank(partner=partner) if tiered else 0
    above = {needed for needed in tiered if needed > rank}
    names = tier_names_by_rank(ranks=above) if above else {}
    taken: dict[int, int] = {}
    limited = [reward for reward in rewards if reward.limit_per_partner is not None]
    if limited:
        today = timezone.localdate()
        sums = {
            period: Sum("quantity", filter=Q(created_at__gte=period_start(period, today)), default=0)
            for period in Reward.LimitPeriod.values
            if period != Reward.LimitPeriod.EVER
        }
        rows = (
            Redemption.objects.filter(partner=partner, reward__in=limited, status__in=OPEN_STATUSES)
            .values("reward_id")
            .annotate(**sums, ever=Sum("quantity", default=0))
            .order_by()
        )
        by_reward = {row["reward_id"]: row for row in rows}
        taken = {reward.pk: by_reward.get(reward.pk, {}).get(reward.limit_period, 0) for reward in limited}
    return RedeemerFacts(balance=balance, tier_rank=rank, taken=taken, tier_names=names)


@dataclass(frozen=True)
class Refusal:
    reason: str  # "unavailable", "tier", "stock", "limit", "points"
    message: str


def redemption_refusal(*, reward: Reward, partner: Partner, quantity: int, facts: RedeemerFacts) -> Refusal | None:
    """Why this partner cannot redeem this reward now, in words (None when it can). No queries: see facts."""
    now = timezone.now()
    if partner.status != Partner.Status.ACTIVE:
        return Refusal("unavailable", _("Your company's membership of the program is not active."))
    if reward.status != Reward.Status.ACTIVE:
        return Refusal("unavailable", _("This reward is no longer available."))
    if reward.available_from and now < reward.available_from:
        day = timezone.localdate(reward.available_from)
        return Refusal("unavailable", _("This reward is available from %(date)s.") % {"date": day})
    if reward.available_until and now > reward.available_until:
        day = timezone.localdate(reward.available_until)
        return Refusal("unavailable", _("This reward was available until %(date)s.") % {"date": day})
    # Stock before tier: an out-of-stock reward is out of stock for everyone, whatever their tier (issue 17, item 24).
    if reward.stock is not None and reward.stock < quantity:
        return Refusal(
            "stock", _("Out of stock.") if reward.stock == 0 else _("Only %(count)s left.") % {"count": reward.stock}
        )
    if reward.minimum_tier_rank and facts.tier_rank < reward.minimum_tier_rank:
        tier = facts.tier_names.get(reward.minimum_tier_rank)
        if tier:
            return Refusal(
                "tier", _("Your tier is too low for this reward: it needs %(tier)s or above.") % {"tier": tier}
            )
        return Refusal("tier", _("Your tier is too low for this reward."))
    if reward.limit_per_partner is not None and facts.taken.get(reward.pk, 0) + quantity > reward.limit_per_partner:
        return Refusal(
            "limit",
            _("You have reached the limit for this reward (%(limit)s %(period)s).")
            % {"limit": reward.limit_per_partner, "period": reward.get_limit_period_display().lower()},
        )
    needed = reward.points_cost * quantity
    if facts.balance < needed:
        return Refusal(
            "points",
            _("Not enough points: %(balance)s available, %(needed)s needed.")
            % {"balance": intcomma(facts.balance), "needed": intcomma(needed)},
        )
    return None


def _budget_reasons(*, reward: Reward, points: int) -> list[str]:
    """Budgets that this redemption would pass: it then waits for approval instead of failing."""
    month_start = period_start(Reward.LimitPeriod.MONTH, timezone.localdate())
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
    from_status = redemption.status
    redemption.status, redemption.updated_at = to_status, timezone.now()
    redemption.save(update_fields=["status", "updated_at"])
    event_emit(
        "redemption.status_changed", redemption=redemption, from_status=from_status, to_status=to_status, reason=reason
    )


def _delivery_check(*, reward: Reward, option: str, shipping_address: str) -> tuple[str, str]:
    """What fulfilment needs from the member: one of the reward's options, and an address for merchandise."""
    option, shipping_address = option.strip(), shipping_address.strip()
    problems = {}
    if reward.option_list and option not in reward.option_list:
        problems["option"] = _("Choose one of: %(options)s.") % {"options": ", ".join(reward.option_list)}
    if reward.is_shipped and not shipping_address:
        problems["shipping_address"] = _("Give the address to ship it to.")
    if problems:
        raise ValidationError(problems)
    return (option if reward.option_list else ""), (shipping_address if reward.is_shipped else "")


def reward_redeem_in_transaction(
    *,
    partner: Partner,
    requested_by: User,
    reward: Reward,
    quantity: int = 1,
    idempotency_key: str,
    points_expected: int | None = None,
    option: str = "",
    shipping_address: str = "",
    reward_read_in_transaction: bool = False,
) -> Redemption:
    """Redeem in one transaction: check tier, availability, stock, limit and balance; debit; take stock; record.

    The same key again returns the first redemption; the same key for something else raises
    IdempotencyConflictError. Budgets passed make it wait for approval rather than fail. `points_expected` is the
    cost the member confirmed: when the reward's cost changed since, nothing is redeemed (CostChangedError).
    The redemption returned carries `partner` and `reward` (as current as this transaction read them).

    This runs inside the caller's transaction, with no savepoint of its own: for a caller that rolls its whole
    transaction back on any exception (an API write whose stored answer commits with it, api/idempotency.py).
    `reward_redeem` runs it in a transaction of its own (a savepoint inside the caller's).

    `reward_read_in_transaction`: the caller read `reward` in this same transaction (the API's serializer), so a
    reward without a monthly cap is used as read, not read again (a second unlocked read is no more current under
    READ COMMITTED; stock is taken by a conditional update anyway); one with a cap is locked (`reward_lock`).
    """
    if not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError("reward_redeem_in_transaction runs inside a transaction.")
    validate_idempotency_key(idempotency_key)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100:
        raise ValidationError({"quantity": _("Redeem between 1 and 100 at a time.")})
    account = partner_account_lock(partner=partner)
    existing = Redemption.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if (existing.partner_id, existing.reward_id, existing.quantity) == (partner.pk, reward.pk, quantity):
            existing.partner, existing.reward = partner, reward  # the same rows: no second read
            return existing
        raise IdempotencyConflictError({"idempotency_key": _("This key was already used for another redemption.")})
    if not reward_read_in_transaction:
        current_reward = reward_for_redemption(reward_id=reward.pk)
    elif reward.monthly_cap_points is None:
        current_reward = reward
    else:
        current_reward = reward_lock(reward_id=reward.pk)
    option, shipping_address = _delivery_check(reward=current_reward, option=option, shipping_address=shipping_address)
    facts = redeemer_facts(partner=partner, rewards=[current_reward], balance=account.balance)
    refusal = redemption_refusal(reward=current_reward, partner=partner, quantity=quantity, facts=facts)
    if refusal:
        raise ValidationError(refusal.message)
    points = current_reward.points_cost * quantity
    if points_expected is not None and points != points_expected:
        raise CostChangedError(
            _("The cost is now %(points)s points, not the %(expected)s you confirmed: check it and confirm again.")
            % {"points": intcomma(points), "expected": intcomma(points_expected)}
        )
    reasons = _budget_reasons(reward=current_reward, points=points)
    if current_reward.requires_approval:
        reasons.append("approval_required")
    now = timezone.now()
    # Nothing to review: created approved (its history says requested, then approved automatically, as
    # `redemption_approve` would have moved it; no one else can see it before the commit).
    status = Redemption.Status.REQUESTED if reasons else Redemption.Status.APPROVED
    redemption = Redemption(
        partner=partner,
        requested_by=requested_by,
        reward=current_reward,
        quantity=quantity,
        points=points,
        status=status,
        idempotency_key=idempotency_key,
        review_reasons=reasons,
        option=option,
        shipping_address=shipping_address,
        created_at=now,
        updated_at=now,
    )
    try:
        # No savepoint: the error aborts the transaction, which this raise rolls back.
        redemption.save(force_insert=True)
    except IntegrityError as error:
        # Only another partner's concurrent request with the same key gets here (ours are serialised).
        raise IdempotencyConflictError(
            {"idempotency_key": _("This key was already used for another redemption.")}
        ) from error
    history = [_history_row(redemption, to_status=Redemption.Status.REQUESTED, actor=requested_by, at=now)]
    if not reasons:
        approved = CodedReason("approved_automatically")
        requested = Redemption.Status.REQUESTED
        history.append(
            _history_row(redemption, from_status=requested, to_status=status, actor=None, at=now, reason=approved)
        )
    RedemptionEvent.objects.bulk_create(history)
    points_post_locked(
        account=account,
        kind=EntryKind.REDEEM,
        points=-points,
        idempotency_key=f"redeem:{redemption.pk}",
        actor=requested_by,
        memo=f"{current_reward.name} × {quantity}",
        redemption=redemption,
    )
    # The reward's row is locked from here to the commit, not from the start. Stock taken meanwhile by another
    # redemption (after the check above read it) refuses this one, and the transaction undoes all of it; taken
    # before the fulfilment, so that a code pool's codes are never sought beyond its stock.
    if current_reward.stock is not None and not reward_stock_take(reward_id=current_reward.pk, quantity=quantity):
        left = Reward.objects.filter(pk=current_reward.pk).values_list("stock", flat=True).get()
        raise ValidationError(_("Out of stock.") if left == 0 else _("Only %(count)s left.") % {"count": left})
    if reasons:
        event_emit("redemption.awaits_review", redemption=redemption)
    else:
        event_emit(
            "redemption.status_changed", redemption=redemption, from_status=requested, to_status=status, reason=approved
        )
        _fulfil_automatically(redemption=redemption, actor=None)
    return redemption


# The same arguments, in a transaction of its own (a savepoint inside the caller's): for every other caller.
reward_redeem = transaction.atomic(reward_redeem_in_transaction)


def _history_row(
    redemption: Redemption, *, from_status: str = "", to_status: str, actor: User | None, at: datetime, reason: str = ""
) -> RedemptionEvent:
    """A history row for `bulk_create`, filled as `StatusChange.save` would (tenant, a system reason's code)."""
    return RedemptionEvent(
        tenant_id=redemption.tenant_id,
        redemption=redemption,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        reason=str(reason),
        reason_code=getattr(reason, "code", ""),
        reason_params=getattr(reason, "params", None),
        created_at=at,
    )


@transaction.atomic
def redemption_approve(*, redemption: Redemption, actor: User | None, reason: str = "") -> Redemption:
    """Approve a requested redemption; codes and credit notes are fulfilled at once."""
    locked = redemption_lock(redemption_id=redemption.pk)
    _move(redemption=locked, to_status=Redemption.Status.APPROVED, actor=actor, reason=reason)
    _fulfil_automatically(redemption=locked, actor=actor)
    return locked


def _fulfil_automatically(*, redemption: Redemption, actor: User | None) -> None:
    """Fulfil an approved redemption of what fulfils itself (codes, credit notes); the caller holds the redemption
    (locked, or its own new row)."""
    fulfilment = redemption.reward.fulfilment
    if fulfilment == Reward.Fulfilment.CODE_POOL:
        for _each in range(redemption.quantity):
            code = free_code_lock(reward_id=redemption.reward_id)
            if code is None:
                raise ValidationError(_("The code pool of %(reward)s is empty.") % {"reward": redemption.reward})
            code.redemption = redemption
            code.save(update_fields=["redemption"])
        _move(
            redemption=redemption, to_status=Redemption.Status.FULFILLED, actor=actor, reason=CodedReason("code_issued")
        )
    elif fulfilment == Reward.Fulfilment.CREDIT_NOTE:
        redemption.credit_note = f"CN-{current_tenant().slug.upper()}-{redemption.pk:06d}"
        redemption.save(update_fields=["credit_note"])
        _move(
            redemption=redemption,
            to_status=Redemption.Status.FULFILLED,
            actor=actor,
            reason=CodedReason("credit_note_issued"),
        )


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
    cancelled = CodedReason("cancelled_by_partner")
    _move(redemption=locked, to_status=Redemption.Status.CANCELLED, actor=actor, reason=cancelled)
    _refund(redemption=locked, actor=actor, reason=cancelled)
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
