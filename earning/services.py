"""Earning (DESIGN §4): rules applied to approved activities, points, caps, reversals; activity and claim reviews.

An integration: approving an activity moves it in `partners`, prices it with the rules and tier multipliers
(`tiers`) and posts to the ledger; the partner is re-scored at once, webhooks and notifications hear of it.
"""

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import ROUND_FLOOR, Decimal
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import DateTimeField, Sum, Value
from django.db.models.functions import Coalesce, Trunc
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from deals.models import DealRegistration
from deals.services import deal_mark_won, deal_sale_link
from earning.models import EarningRule
from funds.services import rebate_reverse, rebates_accrue
from loyalty.ledger.lock_objects import account_lock, accounts_lock_only
from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.services import (
    Credit,
    entry_reverse,
    points_account_for,
    points_accounts_for,
    points_credit_many,
    points_post,
    points_post_many,
)
from loyalty.reasons import CodedReason
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from loyalty.tenancy.tasks import enqueue_on_commit
from notifications.events import claim_reviewed_notify, claim_to_review_notify
from partners.currency import RateChange, RateLine, rate_set, rates_parse
from partners.lock_objects import activity_lock, claim_lock
from partners.models import Activity, ActivityKind, ActivityStatusChange, Claim, Partner
from partners.services import activity_record, claim_review_reasons
from tiers.selectors import partner_point_multiplier, partner_point_multipliers
from tiers.tasks import rescore_partner, rescore_partners
from webhooks.services import activity_review_emit


@dataclass(frozen=True, slots=True)
class EarningActivity:
    """What earning rules read of an approved activity: bulk ingestion prices these without model instances."""

    pk: int
    partner_id: int
    partner_type_id: int | None
    kind: str
    occurred_at: datetime
    amount: Decimal | None  # in the program's currency (Activity.amount_converted)
    quantity: int
    code: str
    product_category: str

    @classmethod
    def of(cls, activity: Activity) -> "EarningActivity":
        return cls(
            pk=activity.pk,
            partner_id=activity.partner_id,
            partner_type_id=activity.partner.partner_type_id,
            kind=activity.kind,
            occurred_at=activity.occurred_at,
            amount=activity.amount_converted,
            quantity=activity.quantity,
            code=activity.code,
            product_category=activity.product_category,
        )


@dataclass(frozen=True)
class ActiveRules:
    """Active earning rules in pk order, with the partner types each is limited to (empty: every type)."""

    rules: list[EarningRule]
    partner_types: dict[int, frozenset[int]]


def earning_rules_active(*, kinds: Iterable[str]) -> ActiveRules:
    """The active rules for these activity kinds with their partner types (two queries)."""
    rules = list(
        EarningRule.objects.filter(activity_kind__in=set(kinds), is_active=True)
        .prefetch_related("partner_types")
        .order_by("pk")
    )
    partner_types = {rule.pk: frozenset(partner_type.pk for partner_type in rule.partner_types.all()) for rule in rules}
    return ActiveRules(rules, partner_types)


def earning_rules_matching(
    *, activity: EarningActivity, rules: ActiveRules | None = None, day: date | None = None
) -> list[EarningRule]:
    """Active rules whose kind, window, partner types, categories, minimum amount and code fit the activity.

    `rules` (from `earning_rules_active`) lets a caller match many activities against rules read once; `day`, the
    activity's date in the tenant's time zone, when the caller has it already.
    """
    if rules is None:
        rules = earning_rules_active(kinds=[activity.kind])
    if day is None:
        day = timezone.localdate(activity.occurred_at)
    partner_type_id = activity.partner_type_id
    return [
        rule
        for rule in rules.rules
        if rule.activity_kind == activity.kind
        and (rule.valid_from is None or rule.valid_from <= day)
        and (rule.valid_until is None or rule.valid_until >= day)
        and (not rule.code or rule.code == activity.code)
        and (not rules.partner_types[rule.pk] or partner_type_id in rules.partner_types[rule.pk])
        and (not rule.product_categories or activity.product_category in rule.product_categories)
        and (rule.minimum_amount is None or (activity.amount or 0) >= rule.minimum_amount)
    ]


def rule_points(*, rule: EarningRule, activity: EarningActivity, multiplier: Decimal) -> int:
    """Points the rule gives the activity before any cap, rounded down."""
    if rule.basis == EarningRule.Basis.PER_CURRENCY_UNIT:
        base = (activity.amount or Decimal(0)) * rule.rate
    elif rule.basis == EarningRule.Basis.PER_QUANTITY:
        base = activity.quantity * rule.rate
    else:
        base = rule.rate
    if rule.applies_tier_multiplier:
        base *= multiplier
    return int(base.to_integral_value(rounding=ROUND_FLOOR))


def cap_period_bounds(*, rule: EarningRule, moment: datetime) -> tuple[datetime, datetime] | None:
    """The cap period around `moment` in the tenant's time zone (None: over the rule's life)."""
    return _cap_period_bounds(rule.cap_period, timezone.localdate(moment), timezone.get_current_timezone())


@lru_cache(maxsize=4096)
def _cap_period_bounds(cap_period: str, day: date, zone: tzinfo) -> tuple[datetime, datetime] | None:
    """`cap_period_bounds` of a local day: a pure function of its arguments, so each (period, day, zone) is computed
    once, not per activity of a batch."""
    if cap_period == EarningRule.CapPeriod.EVER:
        return None
    if cap_period == EarningRule.CapPeriod.MONTH:
        start = date(day.year, day.month, 1)
        end = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    elif cap_period == EarningRule.CapPeriod.QUARTER:
        first_month = 3 * ((day.month - 1) // 3) + 1
        start = date(day.year, first_month, 1)
        end = date(day.year + (first_month + 3 > 12), (first_month + 2) % 12 + 1, 1)
    else:
        start, end = date(day.year, 1, 1), date(day.year + 1, 1, 1)
    return datetime.combine(start, datetime.min.time(), zone), datetime.combine(end, datetime.min.time(), zone)


def _earned_in_cap_period(*, rule: EarningRule, account_id: int, moment: datetime) -> int:
    """Points the rule has given the account in the cap period around `moment` (reversals count in the period of
    the entry they reverse)."""
    earned = _cap_entries(rule=rule, account_ids=[account_id], bounds=cap_period_bounds(rule=rule, moment=moment))
    return earned.aggregate(total=Sum("points"))["total"] or 0


def _cap_entries(*, rule: EarningRule, account_ids: Collection[int], bounds: tuple[datetime, datetime] | None):
    entries = LedgerEntry.objects.filter(earning_rule=rule, account_id__in=account_ids).annotate(
        period_moment=Coalesce("reverses__effective_at", "effective_at")
    )
    if bounds is not None:
        entries = entries.filter(period_moment__gte=bounds[0], period_moment__lt=bounds[1])
    return entries


def _capped(*, rule: EarningRule, points: int, so_far: int) -> int:
    return max(0, min(points, rule.cap_points - so_far))


def activity_points_post(*, activity: Activity, actor: User | None) -> list[LedgerEntry]:
    """Post the earn entries of an approved activity, one per matching rule; idempotent by (activity, rule).

    Runs under the account's lock so that concurrent approvals cannot both slip under a cap.
    """
    account = points_account_for(partner=activity.partner)
    account_lock(account_id=account.pk)
    multiplier = partner_point_multiplier(partner=activity.partner)
    facts = EarningActivity.of(activity)
    entries = []
    for rule in earning_rules_matching(activity=facts):
        key = earn_idempotency_key(activity=facts, rule=rule)
        existing = LedgerEntry.objects.filter(idempotency_key=key).first()
        if existing is not None:
            entries.append(existing)
            continue
        points = rule_points(rule=rule, activity=facts, multiplier=multiplier)
        if rule.cap_points is not None:
            so_far = _earned_in_cap_period(rule=rule, account_id=account.pk, moment=activity.occurred_at)
            points = _capped(rule=rule, points=points, so_far=so_far)
        if points <= 0:
            continue
        entries.append(
            points_post(
                account=account,
                kind=EntryKind.EARN,
                points=points,
                idempotency_key=key,
                actor=actor,
                memo=rule.name,
                activity=activity,
                earning_rule=rule,
                effective_at=activity.occurred_at,
            )
        )
    return entries


def earn_idempotency_key(*, activity: EarningActivity, rule: EarningRule) -> str:
    return f"earn:activity:{activity.pk}:rule:{rule.pk}"


def activities_points_post(*, activities: Sequence[EarningActivity], actor: User | None) -> list[LedgerEntry]:
    """`activity_points_post` for many approved activities at once, with the same entries as one by one in order.

    A constant number of queries: rules, multipliers and accounts read once, the accounts locked once (by pk),
    the cap periods' earnings read in one query, existing keys in one, then `points_post_many`.
    """
    entries, credits, positions = _activities_credits(activities=activities, actor=actor)
    for position, entry in zip(positions, points_post_many(credits=credits), strict=True):
        entries[position] = entry
    return entries


@dataclass(frozen=True)
class EarningMatches:
    """Which active rules each activity matches, and each activity's local day: what pricing reads that no account
    lock guards (`earning_rules_active` was always read before the accounts are locked). A CSV import's stream
    computes it before its turn, beside the other streams' turns."""

    activities: Sequence[EarningActivity]
    days: dict[int, date]
    matches: list[tuple[EarningActivity, EarningRule]]
    keys: list[str]  # each match's idempotency key


def activities_rules_match(*, activities: Sequence[EarningActivity]) -> EarningMatches:
    """The active rules matching each activity, in order (two queries: the rules and their partner types)."""
    if not activities:
        return EarningMatches(activities, {}, [], [])
    rules = earning_rules_active(kinds={activity.kind for activity in activities})
    zone = timezone.get_current_timezone()
    # Each activity's local day, computed once: rule windows and cap periods both read it.
    days = {activity.pk: activity.occurred_at.astimezone(zone).date() for activity in activities}
    matches = [
        (activity, rule)
        for activity in activities
        for rule in earning_rules_matching(activity=activity, rules=rules, day=days[activity.pk])
    ]
    keys = [earn_idempotency_key(activity=activity, rule=rule) for activity, rule in matches]
    return EarningMatches(activities, days, matches, keys)


def activities_points_earn(
    *, activities: Sequence[EarningActivity], actor: User | None, matched: EarningMatches | None = None
) -> int:
    """`activities_points_post` for bulk ingestion: the same credits, written by the ledger's COPY-staged
    `points_credit_many` (no entry instances come back); returns the number of new entries. `matched`: the
    activities' `activities_rules_match`, when the caller matched them before taking its turn."""
    _entries, credits, _positions = _activities_credits(
        activities=activities, actor=actor, are_new=True, matched=matched
    )
    return points_credit_many(credits=credits)


def _activities_credits(
    *,
    activities: Sequence[EarningActivity],
    actor: User | None,
    are_new: bool = False,
    matched: EarningMatches | None = None,
) -> tuple[list[LedgerEntry | None], list[Credit], list[int]]:
    """The pricing of `activities_points_post`: the entries that exist already (None where a credit is new), the
    new credits in order, and the position of each credit in the entries. Locks the partners' accounts.

    `are_new`: the activities were inserted in this transaction, so no entry can name them yet (the ledger still
    checks every key): existing entries are not looked up, and cap periods are summed per (rule, account,
    period) on PostgreSQL. `matched`: `activities_rules_match(activities=activities)`, computed already.
    """
    if not activities:
        return [], [], []
    if matched is None:
        matched = activities_rules_match(activities=activities)
    elif matched.activities is not activities:
        raise ValueError("`matched` was computed for other activities.")
    zone = timezone.get_current_timezone()
    days, matches, keys = matched.days, matched.matches, matched.keys
    # Like the per-activity path: every partner gets its account, locked before anything is read for pricing.
    partner_ids = {activity.partner_id for activity in activities}
    account_ids = points_accounts_for(partner_ids=partner_ids)
    accounts_lock_only(account_ids=account_ids.values())
    if not matches:
        return [], [], []
    multipliers = partner_point_multipliers(partner_ids=partner_ids)
    if are_new:
        existing = {}
    else:
        existing = {entry.idempotency_key: entry for entry in LedgerEntry.objects.filter(idempotency_key__in=keys)}
    unposted = [match for match, key in zip(matches, keys, strict=True) if key not in existing]
    if are_new and connection.vendor == "postgresql":
        so_far = _earned_in_cap_periods_by_pair(
            cells=(
                (
                    rule.pk,
                    account_ids[activity.partner_id],
                    _cap_period_bounds(rule.cap_period, days[activity.pk], zone),
                )
                for activity, rule in unposted
                if rule.cap_points is not None
            )
        )
    else:
        so_far = _earned_in_cap_periods(matches=unposted, account_ids=account_ids)
    credits, positions = [], []
    entries: list[LedgerEntry | None] = []
    for (activity, rule), key in zip(matches, keys, strict=True):
        if key in existing:
            entries.append(existing[key])
            continue
        account_id = account_ids[activity.partner_id]
        points = rule_points(rule=rule, activity=activity, multiplier=multipliers[activity.partner_id])
        if rule.cap_points is not None:
            period = (rule.pk, account_id, _cap_period_bounds(rule.cap_period, days[activity.pk], zone))
            points = _capped(rule=rule, points=points, so_far=so_far[period])
            so_far[period] += max(points, 0)
        if points <= 0:
            continue
        positions.append(len(entries))
        entries.append(None)
        credits.append(
            Credit(
                account_id=account_id,
                kind=EntryKind.EARN,
                points=points,
                idempotency_key=key,
                actor=actor,
                memo=rule.name,
                activity_id=activity.pk,
                earning_rule=rule,
                effective_at=activity.occurred_at,
            )
        )
    return entries, credits, positions


def _earned_in_cap_periods(
    *, matches: list[tuple[EarningActivity, EarningRule]], account_ids: dict[int, int]
) -> defaultdict[tuple, int]:
    """`_earned_in_cap_period` for every (rule, account, period) the matches fall in, summed by the database in
    one query (each rule's entries grouped by account and the start of their period in the tenant's time zone)."""
    wanted: dict[int, tuple[EarningRule, set[int], list[datetime]]] = {}
    for activity, rule in matches:
        if rule.cap_points is not None:
            _rule, accounts, moments = wanted.setdefault(rule.pk, (rule, set(), []))
            accounts.add(account_ids[activity.partner_id])
            moments.append(activity.occurred_at)
    so_far: defaultdict[tuple, int] = defaultdict(int)
    if not wanted:
        return so_far
    zone = timezone.get_current_timezone()
    querysets = []
    for rule, accounts, moments in wanted.values():
        # Periods follow time, so the first and the last moments' periods span them all (two calls, not one per row).
        first, last = (cap_period_bounds(rule=rule, moment=moment) for moment in (min(moments), max(moments)))
        span = None if first is None or last is None else (first[0], last[1])
        kind = PERIOD_TRUNCATION.get(rule.cap_period)
        period_start = Trunc("period_moment", kind, tzinfo=zone) if kind else Value(None, DateTimeField())
        querysets.append(
            _cap_entries(rule=rule, account_ids=accounts, bounds=span)
            .order_by()
            .annotate(period_start=period_start)
            .values_list("earning_rule_id", "account_id", "period_start")
            .annotate(total=Sum("points"))
        )
    rules = {rule_id: rule for rule_id, (rule, _accounts, _moments) in wanted.items()}
    rows = querysets[0].union(*querysets[1:], all=True) if len(querysets) > 1 else querysets[0]
    for rule_id, account_id, period_start, total in rows:
        bounds = None if period_start is None else cap_period_bounds(rule=rules[rule_id], moment=period_start)
        so_far[(rule_id, account_id, bounds)] += total
    return so_far


def _earned_in_cap_periods_by_pair(
    *, cells: Iterable[tuple[int, int, tuple[datetime, datetime] | None]]
) -> defaultdict[tuple, int]:
    """`_earned_in_cap_periods` reading only the (rule, account, period bounds) cells the batch's matches fall in,
    in one query on PostgreSQL: each cell is a range of the `ledger_entry_rule_cap` index, plus the reversals of
    the entries in it (a reversal counts in the period of the entry it reverses, and keeps its rule and account).
    Reading whole spans grows with the ledger's history; this grows with the batch.
    """
    so_far: defaultdict[tuple, int] = defaultdict(int)
    unique = {cell: None for cell in cells}  # first-seen order, one row per cell
    if not unique:
        return so_far
    rule_ids, accounts, bounds = zip(*unique, strict=True)
    starts = [None if period is None else period[0] for period in bounds]
    stops = [None if period is None else period[1] for period in bounds]
    table = LedgerEntry._meta.db_table
    with connection.cursor() as cursor:
        # The table name comes from the model; every value is a parameter. The total is read as it comes (NULL for
        # an empty cell): a filter on it made PostgreSQL evaluate the sum, and its reversal probe per entry, twice.
        cursor.execute(
            f"""
            SELECT cell.ordinality, earned.total
            FROM unnest(%(rules)s::bigint[], %(accounts)s::bigint[], %(starts)s::timestamptz[],
                        %(stops)s::timestamptz[]) WITH ORDINALITY AS cell(rule_id, account_id, start, stop, ordinality)
            -- LATERAL: one index range per cell, whatever the planner guesses of the unnested cells.
            CROSS JOIN LATERAL (
                SELECT SUM(
                    CASE WHEN entry.reverses_id IS NULL THEN entry.points ELSE 0 END
                    + COALESCE((
                        SELECT SUM(reversal.points)::bigint FROM {table} AS reversal
                        WHERE reversal.tenant_id = %(tenant)s AND reversal.reverses_id = entry.id
                          AND reversal.earning_rule_id = cell.rule_id AND reversal.account_id = cell.account_id
                    ), 0)
                )::bigint AS total
                FROM {table} AS entry
                WHERE entry.tenant_id = %(tenant)s AND entry.earning_rule_id = cell.rule_id
                  AND entry.account_id = cell.account_id
                  AND entry.effective_at >= COALESCE(cell.start, '-infinity'::timestamptz)
                  AND entry.effective_at < COALESCE(cell.stop, 'infinity'::timestamptz)
            ) AS earned
            """,  # noqa: S608
            {
                "tenant": current_tenant().pk,
                "rules": list(rule_ids),
                "accounts": list(accounts),
                "starts": starts,
                "stops": stops,
            },
        )
        totals = dict(cursor.fetchall())
    for ordinality, key in enumerate(unique, start=1):
        so_far[key] = totals.get(ordinality) or 0
    return so_far


PERIOD_TRUNCATION = {
    EarningRule.CapPeriod.MONTH: "month",
    EarningRule.CapPeriod.QUARTER: "quarter",
    EarningRule.CapPeriod.YEAR: "year",
}


def activity_points_reverse(*, activity: Activity, actor: User | None, reason: str) -> list[LedgerEntry]:
    """Reverse every earn entry of the activity that is not reversed yet."""
    reversals = []
    for entry in LedgerEntry.objects.filter(activity=activity, kind=EntryKind.EARN).order_by("pk"):
        reversal = entry_reverse(entry=entry, actor=actor, reason=reason)
        if reversal is not None:
            reversals.append(reversal)
    return reversals


# Reviews: approval earns, rejection reverses (claims approve or reject their activity).


def _activity_move(*, activity: Activity, to_status: str, actor: User | None, reason: str) -> None:
    ActivityStatusChange.objects.create(
        activity=activity, from_status=activity.status, to_status=to_status, actor=actor, reason=reason
    )
    if actor is not None:  # vendors hear of reviews by people; automatic approvals are their own doing
        activity_review_emit(
            activity=activity, from_status=activity.status, to_status=to_status, actor=actor, reason=reason
        )
    activity.status = to_status
    activity.save(update_fields=["status"])


@transaction.atomic
def activity_approve(*, activity: Activity, actor: User | None, reason: str = "") -> list[LedgerEntry]:
    """Approve a pending activity and post its points. Approving it again posts nothing and returns its entries."""
    locked = activity_lock(activity_id=activity.pk)
    if locked.status == Activity.Status.REJECTED:
        raise ValidationError(_("A rejected activity cannot be approved."))
    if locked.status == Activity.Status.PENDING:
        _activity_move(activity=locked, to_status=Activity.Status.APPROVED, actor=actor, reason=reason)
        enqueue_on_commit(rescore_partner, partner_id=locked.partner_id)
    activity.status = locked.status
    entries = activity_points_post(activity=locked, actor=actor)
    rebates_accrue(activities=[locked])  # a sale accrues its partner's tier rebate (idempotent per sale)
    return entries


@transaction.atomic
def activity_reject(*, activity: Activity, actor: User | None, reason: str) -> list[LedgerEntry]:
    """Reject a pending activity, or void an approved one by reversing its points. A reason is required."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the activity is rejected.")})
    locked = activity_lock(activity_id=activity.pk)
    if locked.status == Activity.Status.REJECTED:
        return []
    was_approved = locked.status == Activity.Status.APPROVED
    _activity_move(activity=locked, to_status=Activity.Status.REJECTED, actor=actor, reason=reason)
    activity.status = locked.status
    if was_approved:
        rebate_reverse(activity=locked, actor=actor)
        return activity_points_reverse(activity=locked, actor=actor, reason=reason)
    return []


CLAIM_KIND = {
    Claim.Type.SALE: ActivityKind.SALE,
    Claim.Type.TRAINING: ActivityKind.TRAINING,
    Claim.Type.CERTIFICATION: ActivityKind.CERTIFICATION,
    Claim.Type.MARKETING: ActivityKind.MARKETING,
    Claim.Type.REFERRAL: ActivityKind.REFERRAL,
}
# What a claim other than a sale names in the activity's code, and the sentence when it is missing.
CLAIM_CODE_MISSING = {
    Claim.Type.TRAINING: gettext_lazy("Give the course or certification id."),
    Claim.Type.CERTIFICATION: gettext_lazy("Give the course or certification id."),
    Claim.Type.MARKETING: gettext_lazy("Name the campaign or event you took part in."),
    Claim.Type.REFERRAL: gettext_lazy("Name the company you referred."),
}


@transaction.atomic
def claim_submit(
    *,
    partner: Partner,
    submitted_by: User,
    claim_type: str,
    occurred_on: date,
    evidence: UploadedFile,
    invoice_number: str = "",
    amount: Decimal | None = None,
    currency: str = "",
    product_sku: str = "",
    product_category: str = "",
    code: str = "",
    valid_until: date | None = None,
) -> Claim:
    """A partner member claims credit for a sale, training, certification, marketing participation or referral,
    with evidence (the invoice, the certificate, a photo or attendee list, the introduction).

    Claims resembling an earlier one (same invoice number, or same partner, amount and date) are flagged and
    never approved automatically; claims above the tenant's threshold always wait for review.
    """
    if claim_type not in Claim.Type.values:
        raise ValidationError({"claim_type": _("Unknown claim type.")})
    if claim_type == Claim.Type.SALE and not invoice_number.strip():
        raise ValidationError({"invoice_number": _("A sale claim needs the invoice number.")})
    if claim_type != Claim.Type.SALE and not code.strip():
        raise ValidationError({"code": str(CLAIM_CODE_MISSING[claim_type])})
    occurred_at = timezone.make_aware(datetime.combine(occurred_on, datetime.min.time().replace(hour=12)))
    recorded = activity_record(
        partner=partner,
        kind=CLAIM_KIND[claim_type],
        occurred_at=occurred_at,
        source=Activity.Source.CLAIM,
        amount=amount,
        currency=currency,
        product_sku=product_sku,
        product_category=product_category,
        code=code,
        valid_until=valid_until,
        evidence=evidence,
        created_by=submitted_by,
        metadata={"invoice_number": invoice_number} if invoice_number else {},
    )
    invoice_date = occurred_on if claim_type == Claim.Type.SALE else None
    reasons, duplicate_of = claim_review_reasons(
        partner=partner, invoice_number=invoice_number, invoice_date=invoice_date, amount=amount
    )
    claim = Claim.objects.create(
        partner=partner,
        submitted_by=submitted_by,
        claim_type=claim_type,
        activity=recorded.activity,
        invoice_number=invoice_number.strip(),
        invoice_date=invoice_date,
        amount=amount,
        duplicate_of=duplicate_of,
        review_reasons=reasons,
    )
    if reasons:
        claim_to_review_notify(claim=claim)
    else:
        claim = claim_approve(claim=claim, actor=None, note=_("Approved automatically."))
    return claim


def _claim_review(*, claim: Claim, status: str, actor: User | None, note: str) -> Claim:
    """Record a reviewer's decision on a pending claim (under its row lock)."""
    locked = claim_lock(claim_id=claim.pk)
    if locked.status != Claim.Status.PENDING:
        raise ValidationError(
            _("Only pending claims can be reviewed; this one is %(status)s.") % {"status": locked.status}
        )
    locked.status, locked.reviewed_by, locked.reviewed_at, locked.review_note = status, actor, timezone.now(), note
    locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    claim_reviewed_notify(claim=locked)
    return locked


@transaction.atomic
def claim_approve(*, claim: Claim, actor: User | None, note: str = "") -> Claim:
    """Approve a pending claim: its activity is approved and earns points."""
    reviewed = _claim_review(claim=claim, status=Claim.Status.APPROVED, actor=actor, note=note)
    activity_approve(activity=reviewed.activity, actor=actor, reason=note or CodedReason("claim_approved"))
    return reviewed


@transaction.atomic
def claim_reject(*, claim: Claim, actor: User, reason: str) -> Claim:
    """Reject a pending claim with a reason the partner will see."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the claim is rejected.")})
    reviewed = _claim_review(claim=claim, status=Claim.Status.REJECTED, actor=actor, note=reason)
    activity_reject(activity=reviewed.activity, actor=actor, reason=reason)
    return reviewed


@transaction.atomic
def deal_win_claim(
    *,
    deal: DealRegistration,
    submitted_by: User,
    invoice_number: str,
    invoice_date: date,
    amount: Decimal,
    evidence: UploadedFile,
) -> DealRegistration:
    """Mark a registration won with its invoice: one sale claim (and so one activity) linked to it.

    The claim takes the ordinary path: reviewed like any sale claim (or approved at once when the program says so),
    its activity then earns points by the earning rules, once per rule, and counts as revenue. The registration is
    locked first, so a second "won" (a double post, a replay) finds it won and linked and records nothing more.
    """
    if not invoice_number.strip():
        raise ValidationError({"invoice_number": _("A sale claim needs the invoice number.")})
    won = deal_mark_won(deal=deal, actor=submitted_by, reason=CodedReason("invoice", number=invoice_number.strip()))
    if won.sale_activity_id is not None:
        return won
    claim = claim_submit(
        partner=won.partner,
        submitted_by=submitted_by,
        claim_type=Claim.Type.SALE,
        occurred_on=invoice_date,
        evidence=evidence,
        invoice_number=invoice_number,
        amount=amount,
        currency=current_tenant().currency,
        product_category=won.products[:100],
    )
    return deal_sale_link(deal=won, activity=claim.activity)


@transaction.atomic
def deal_win_record(
    *,
    deal: DealRegistration,
    actor: User | None,
    invoice_number: str,
    invoice_date: date,
    amount: Decimal,
    source: str,
) -> DealRegistration:
    """Mark a registration won from the vendor's own systems (the CRM through the API): one approved sale, linked.

    The vendor's data is trusted as its activity ingestion is: the sale is recorded approved (source `api`, external
    id `deal:<id>`) and earns by the earning rules at once, once per rule. The registration is locked first; a
    replay finds it won and linked and records nothing more.
    """
    if not invoice_number.strip():
        raise ValidationError({"invoice_number": _("A sale claim needs the invoice number.")})
    if invoice_date > timezone.localdate():
        raise ValidationError({"invoice_date": _("The date cannot be in the future.")})
    won = deal_mark_won(deal=deal, actor=actor, reason=CodedReason("invoice", number=invoice_number.strip()))
    if won.sale_activity_id is not None:
        return won
    recorded = activity_record(
        partner=won.partner,
        kind=ActivityKind.SALE,
        occurred_at=timezone.make_aware(datetime.combine(invoice_date, datetime.min.time().replace(hour=12))),
        source=source,
        external_id=f"deal:{won.pk}",
        amount=amount,
        currency=current_tenant().currency,
        product_category=won.products[:100],
        metadata={"invoice_number": invoice_number.strip(), "deal": won.reference},
        created_by=actor,
    )
    activity_approve(activity=recorded.activity, actor=actor, reason=CodedReason("deal_won", reference=won.reference))
    return deal_sale_link(deal=won, activity=recorded.activity)


def exchange_rate_set(
    *, currency: str, day: date, rate: Decimal, actor: User | None, source: str = "admin"
) -> RateChange:
    """Enter or correct a rate (`partners.currency.rate_set`), then re-score, on commit, the partners whose approved
    activities it re-converted: only what depends on the rate moves."""
    change = rate_set(currency=currency, day=day, rate=rate, actor=actor, source=source)
    if change.partners:
        enqueue_on_commit(rescore_partners, partner_ids=change.partners)
    return change


@transaction.atomic
def exchange_rates_set(*, lines: list[RateLine], actor: User | None, source: str) -> list[RateChange]:
    """Several rates at once (the CSV import, the API): all or none, each through `exchange_rate_set`. A currency
    and day given twice is refused, naming them, rather than the last line silently winning."""
    seen = Counter((line.currency, line.day) for line in lines)
    if twice := sorted(key for key, count in seen.items() if count > 1):
        raise ValidationError(
            [_("%(currency)s on %(day)s is given twice.") % {"currency": code, "day": day} for code, day in twice]
        )
    return [
        exchange_rate_set(currency=line.currency, day=line.day, rate=line.rate, actor=actor, source=source)
        for line in lines
    ]


def exchange_rates_import(*, text: str, actor: User | None) -> list[RateChange]:
    """Rates pasted as CSV (`partners.currency.rates_parse`), through `exchange_rates_set`."""
    return exchange_rates_set(lines=rates_parse(text), actor=actor, source="csv")
