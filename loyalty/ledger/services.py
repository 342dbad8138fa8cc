"""Every movement of points: posting (the only writer of the ledger), adjustments, reversals and expiry."""

import hashlib
import re
from calendar import monthrange
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ParamSpec
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.bulk import COPY_NULL, AnyOf, columns_insert, columns_insert_new, copy_escape, rows_insert, stage_lines
from loyalty.ledger.lock_objects import (
    AccountTotals,
    account_lock,
    accounts_lock,
    accounts_lock_totals,
    lot_lock,
    lots_lock_open,
)
from loyalty.ledger.models import (
    AdjustmentRequest,
    EntryKind,
    LedgerEntry,
    LotAllocation,
    PointsAccount,
    PointsLot,
)
from loyalty.reasons import CodedReason
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import CrossTenantError, Tenant, User

# Causes (the partner an account belongs to, an activity and the rule that priced it, a redemption) are opaque
# references here: rows of other apps, linked by foreign key, never read. The ledger imports no feature.
Cause = models.Model

IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$")
ENTRY_KINDS = frozenset(EntryKind.values)  # `.values` builds a new list on every call
CREDIT_KINDS = frozenset({EntryKind.EARN, EntryKind.REFUND})
DEBIT_KINDS = frozenset({EntryKind.REDEEM, EntryKind.EXPIRE})
# The most points one manual adjustment may move, whoever approves it: a sanity bound, not a program setting.
ADJUSTMENT_MAX_POINTS = 10**9
P = ParamSpec("P")


class InsufficientPointsError(ValidationError):
    """The account does not hold the points a debit needs."""


class IdempotencyConflictError(ValidationError):
    """The idempotency key was already used for a different movement."""


def validate_idempotency_key(key: str) -> None:
    if not isinstance(key, str) or not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise ValidationError(
            {"idempotency_key": _("Use 1 to 200 letters, digits and . _ : / @ - (starting with a letter or digit).")}
        )


def points_account_for(*, partner: Cause) -> PointsAccount:
    """The partner's account, created on first use (a unique constraint makes this safe under concurrency)."""
    account, _created = PointsAccount.objects.get_or_create(partner=partner)
    return account


def months_after(moment: datetime, months: int) -> datetime:
    """`moment + relativedelta(months=months)`: the same wall time `months` calendar months later (earlier when
    negative), on the month's last day when it has no such day. dateutil's relativedelta costs ~10 µs a call, which
    bulk posting pays per lot."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def lot_expiry_for(*, tenant: Tenant, earned_at: datetime) -> datetime | None:
    """When points earned at `earned_at` expire under the tenant's rule (None: never)."""
    if tenant.points_expiry == Tenant.PointsExpiry.NEVER:
        return None
    if tenant.points_expiry == Tenant.PointsExpiry.MONTHS_AFTER_EARNING:
        return months_after(earned_at, tenant.points_expiry_months)
    local_year = earned_at.astimezone(ZoneInfo(tenant.time_zone)).year
    return datetime(local_year + 2, 1, 1, tzinfo=ZoneInfo(tenant.time_zone)).astimezone(UTC)


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""


def entry_hash(*, previous_hash: str, entry: LedgerEntry) -> str:
    """The entry's link in its account's hash chain: any later change to a hashed field breaks the chain."""
    return _chain_link(
        previous_hash,
        entry.tenant_id,
        entry.account_id,
        entry.kind,
        entry.points,
        entry.balance_after,
        _utc(entry.created_at),
        _utc(entry.effective_at),
        entry.actor_id,
        entry.memo,
        entry.idempotency_key,
        entry.activity_id,
        entry.earning_rule_id,
        entry.reverses_id,
        entry.expired_lot_id,
        entry.redemption_id,
    )


def _chain_link(previous_hash: str, *fields: object) -> str:
    """sha256 of the previous link and the entry's hashed fields (in `entry_hash`'s order), joined by US."""
    text = "\x1f".join("" if value is None else str(value) for value in (previous_hash, *fields))
    return hashlib.sha256(text.encode()).hexdigest()


def _validate_posting(
    *,
    kind: str,
    points: int,
    memo: str,
    actor: User | None,
    reverses: LedgerEntry | None,
    expired_lot: PointsLot | None,
) -> None:
    if kind not in ENTRY_KINDS:
        raise ValidationError({"kind": _("Unknown entry kind.")})
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise ValidationError({"points": _("Points must be a whole number other than zero.")})
    if kind in CREDIT_KINDS and points < 0 or kind in DEBIT_KINDS and points > 0:
        raise ValidationError({"points": _("%(kind)s entries cannot have that sign.") % {"kind": kind}})
    if kind == EntryKind.ADJUST and (not memo.strip() or actor is None):
        raise ValidationError({"memo": _("An adjustment needs a reason and the person making it.")})
    if kind == EntryKind.REVERSE and reverses is None:
        raise ValidationError({"reverses": _("A reversal names the entry it reverses.")})
    if reverses is not None and (points > 0) == (reverses.points > 0):
        raise ValidationError({"points": _("A reversal has the opposite sign of the entry it reverses.")})
    if kind == EntryKind.EXPIRE and expired_lot is None:
        raise ValidationError({"expired_lot": _("An expiry names the lot that expired.")})


def _credit_lots(*, entry: LedgerEntry, account: PointsAccount, reverses: LedgerEntry | None) -> None:
    """A credit either puts back what the debit it reverses took, or opens a new lot."""
    if reverses is not None and reverses.points < 0:
        to_restore = entry.points
        allocations = []
        for allocation in reverses.allocations.order_by("pk"):
            restored_before = (
                LotAllocation.objects.filter(lot_id=allocation.lot_id, entry__reverses=reverses).aggregate(
                    total=Sum("points")
                )["total"]
                or 0
            )
            room = -allocation.points - restored_before
            take = min(room, to_restore)
            if take <= 0:
                continue
            PointsLot.objects.filter(pk=allocation.lot_id).update(remaining=F("remaining") + take)
            allocations.append(
                LotAllocation(tenant_id=entry.tenant_id, entry=entry, lot_id=allocation.lot_id, points=take)
            )
            to_restore -= take
            if to_restore == 0:
                break
        if to_restore:
            raise ValidationError({"points": _("The reversal is larger than what the reversed entry took.")})
        LotAllocation.objects.bulk_create(allocations)
        return
    PointsLot.objects.create(
        account=account,
        entry=entry,
        points=entry.points,
        remaining=entry.points,
        earned_at=entry.effective_at,
        expires_at=lot_expiry_for(tenant=current_tenant(), earned_at=entry.effective_at),
    )


def _debit_lots(*, entry: LedgerEntry, expired_lot: PointsLot | None, reverses: LedgerEntry | None) -> None:
    """A debit takes from the expired lot, or from the reversed credit's own lot first, then first-to-expire."""
    needed = -entry.points
    if expired_lot is not None:
        candidates = [lot_lock(lot_id=expired_lot.pk)]
    else:
        candidates = list(lots_lock_open(account_id=entry.account_id))
        if reverses is not None:
            candidates.sort(key=lambda lot: lot.entry_id != reverses.pk)
    takes: list[tuple[int, int]] = []  # (lot id, points taken), in consumption order
    for lot in candidates:
        take = min(lot.remaining, needed)
        if take <= 0:
            continue
        takes.append((lot.pk, take))
        needed -= take
        if needed == 0:
            break
    if needed:
        # The balance covered the debit, so the lots must too; anything else is a broken invariant.
        raise InsufficientPointsError(_("The account's lots do not hold the points its balance shows."))
    _lots_take(entry=entry, takes=takes)


def _lots_take(*, entry: LedgerEntry, takes: list[tuple[int, int]]) -> None:
    """Take the points from the (locked) lots and record each take as an allocation of `entry`, in order.

    On PostgreSQL one statement whatever the number of lots (a debit spans several when the partner earned often);
    elsewhere an update per lot and one insert.
    """
    if connection.vendor != "postgresql":
        for lot_id, take in takes:
            PointsLot.objects.filter(pk=lot_id).update(remaining=F("remaining") - take)
        tenant_id = entry.tenant_id
        LotAllocation.objects.bulk_create(
            [LotAllocation(tenant_id=tenant_id, entry=entry, lot_id=lot_id, points=-take) for lot_id, take in takes]
        )
        return
    with connection.cursor() as cursor:
        # The allocations are inserted in the order the lots were consumed (their ids keep it: a refund restores
        # them in that order); table names come from the models, every value is a parameter.
        cursor.execute(
            f"""
            WITH take AS (
                SELECT lot_id, points, position FROM unnest(%s::bigint[], %s::bigint[])
                    WITH ORDINALITY AS t(lot_id, points, position)
            ),
            taken AS (
                UPDATE {PointsLot._meta.db_table} AS lot SET remaining = lot.remaining - take.points
                FROM take WHERE lot.id = take.lot_id AND lot.tenant_id = %s
                RETURNING lot.id
            )
            INSERT INTO {LotAllocation._meta.db_table} (tenant_id, entry_id, lot_id, points)
            SELECT %s, %s, take.lot_id, -take.points FROM take JOIN taken ON taken.id = take.lot_id
            ORDER BY take.position
            """,  # noqa: S608
            [[lot_id for lot_id, _take in takes], [take for _lot_id, take in takes], entry.tenant_id,
             entry.tenant_id, entry.pk],
        )  # fmt: skip
        if cursor.rowcount != len(takes):  # a lot not updated: not this tenant's, or gone
            raise InsufficientPointsError(_("The account's lots do not hold the points its balance shows."))


def _lifetime_deltas(*, kind: str, points: int, reverses: LedgerEntry | None) -> tuple[int, int]:
    """How an entry moves the account's lifetime earned and redeemed counters."""
    reversed_kind = reverses.kind if kind == EntryKind.REVERSE else None
    earned = points if EntryKind.EARN in (kind, reversed_kind) else 0
    redeemed = -points if kind in (EntryKind.REDEEM, EntryKind.REFUND) or reversed_kind == EntryKind.REDEEM else 0
    return earned, redeemed


def _idempotency_conflict() -> IdempotencyConflictError:
    return IdempotencyConflictError(
        {"idempotency_key": _("This idempotency key was already used for a different movement.")}
    )


def points_post_locked(
    *,
    account: PointsAccount,
    kind: str,
    points: int,
    idempotency_key: str,
    actor: User | None = None,
    memo: str = "",
    activity: Cause | None = None,
    earning_rule: Cause | None = None,
    reverses: LedgerEntry | None = None,
    expired_lot: PointsLot | None = None,
    redemption: Cause | None = None,
    effective_at: datetime | None = None,
) -> LedgerEntry:
    """`points_post` for a caller that already holds `account` locked (`account_lock`, `partner_account_lock`)
    in its own transaction, read under that lock: no second lock, no savepoint.

    Any exception leaves partial writes in the caller's transaction, which must then roll back (an `atomic`
    block that the exception leaves does). The arguments are validated here (for `points_post` too).
    """
    validate_idempotency_key(idempotency_key)
    _validate_posting(kind=kind, points=points, memo=memo, actor=actor, reverses=reverses, expired_lot=expired_lot)
    locked = account
    if reverses is not None and reverses.account_id != locked.pk:
        raise ValidationError({"reverses": _("A reversal belongs to the account of the entry it reverses.")})
    if expired_lot is not None and expired_lot.account_id != locked.pk:
        raise ValidationError({"expired_lot": _("An expiry belongs to the account of the lot that expired.")})
    refusal = None
    if reverses is not None and reverses.points > 0:
        outstanding = reverses.points + (reverses.reversals.aggregate(total=Sum("points"))["total"] or 0)
        if -points > outstanding:
            too_large = _("The reversal is larger than what is left of the entry it reverses.")
            refusal = ValidationError({"points": too_large})
    balance_after = locked.balance + points
    if refusal is None and balance_after < 0:
        refusal = InsufficientPointsError(
            _("Not enough points: %(balance)s available, %(needed)s needed.")
            % {"balance": locked.balance, "needed": -points}
        )
    if refusal is not None:
        # A replay of a posting made while it passed returns that posting: the key is looked at before refusing.
        replayed = _entry_for_key(idempotency_key=idempotency_key, account_id=locked.pk, kind=kind, points=points)
        if replayed is not None:
            return replayed
        raise refusal
    now = timezone.now()
    entry = LedgerEntry(
        account=locked,
        kind=kind,
        points=points,
        balance_after=balance_after,
        created_at=now,
        effective_at=effective_at or now,
        actor=actor,
        memo=memo,
        idempotency_key=idempotency_key,
        activity=activity,
        earning_rule=earning_rule,
        reverses=reverses,
        expired_lot=expired_lot,
        redemption=redemption,
    )
    entry.tenant_id = locked.tenant_id
    entry.entry_hash = entry_hash(previous_hash=locked.chain_head, entry=entry)
    if not _entry_insert(entry):
        # The key was taken: a replay returns the first entry, another movement is refused.
        replayed = _entry_for_key(idempotency_key=idempotency_key, account_id=locked.pk, kind=kind, points=points)
        if replayed is None:  # pragma: no cover - a unique key cannot be taken by no row
            raise _idempotency_conflict()
        return replayed
    if points > 0:
        _credit_lots(entry=entry, account=locked, reverses=reverses)
    else:
        _debit_lots(entry=entry, expired_lot=expired_lot, reverses=reverses)
    earned, redeemed = _lifetime_deltas(kind=kind, points=points, reverses=reverses)
    PointsAccount.objects.filter(pk=locked.pk).update(
        balance=F("balance") + points,
        lifetime_earned=F("lifetime_earned") + earned,
        lifetime_redeemed=F("lifetime_redeemed") + redeemed,
        chain_head=entry.entry_hash,
        updated_at=now,
    )
    # The caller's locked instance stays true to the row, for a second posting in the same transaction.
    locked.balance, locked.chain_head, locked.updated_at = balance_after, entry.entry_hash, now
    locked.lifetime_earned += earned
    locked.lifetime_redeemed += redeemed
    return entry


def _account_locked(post: Callable[P, LedgerEntry]) -> Callable[P, LedgerEntry]:
    """`post` (a posting for a caller holding the lock) with the lock taken first, typed with `post`'s arguments."""

    @transaction.atomic
    def points_post(*args: P.args, **kwargs: P.kwargs) -> LedgerEntry:
        """Append one entry and move lots and the balance with it, in one transaction under the account's lock
        (a savepoint in the caller's transaction); the arguments of `points_post_locked`.

        A repeated call with the same idempotency key returns the first entry; the same key for a different
        movement raises IdempotencyConflictError. A debit larger than the balance raises InsufficientPointsError.
        """
        kwargs["account"] = account_lock(account_id=kwargs["account"].pk)
        return post(*args, **kwargs)

    return points_post


points_post = _account_locked(points_post_locked)


def _entry_for_key(*, idempotency_key: str, account_id: int, kind: str, points: int) -> LedgerEntry | None:
    """The entry already posted under `idempotency_key` when it is the same movement (a replay), None when the key
    is free; under another movement, IdempotencyConflictError."""
    existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if (existing.account_id, existing.kind, existing.points) == (account_id, kind, points):
        return existing
    raise _idempotency_conflict()


ENTRY_FIELDS = [field for field in LedgerEntry._meta.concrete_fields if not field.primary_key]


def _entry_insert(entry: LedgerEntry) -> bool:
    """Insert a new entry unless its idempotency key is taken (False, nothing written): one statement, with no
    lookup of the key before it and no savepoint around it (a taken key is not an error).

    The checks `save()` makes of a tenant-owned row are made first: the active tenant's, and linked to its rows.
    """
    if entry.tenant_id != current_tenant().pk:
        raise CrossTenantError(f"A ledger entry of tenant {entry.tenant_id} posted while {current_tenant().pk} active.")
    entry._check_related_tenants()
    columns = {field.attname: [getattr(entry, field.attname)] for field in ENTRY_FIELDS}
    inserted = columns_insert_new(LedgerEntry, columns, key="idempotency_key")
    if not inserted:
        return False
    entry.pk = inserted[entry.idempotency_key]
    entry._state.adding, entry._state.db = False, connection.alias
    return True


@dataclass(frozen=True)
class Credit:
    """One credit for `points_post_many`: the arguments `points_post` takes for a credit that opens a lot."""

    account_id: int
    kind: str
    points: int
    idempotency_key: str
    actor: User | None = None
    memo: str = ""
    activity_id: int | None = None
    earning_rule: Cause | None = None
    effective_at: datetime | None = None


@transaction.atomic
def points_post_many(*, credits: Sequence[Credit]) -> list[LedgerEntry]:
    """Append many credits, each opening its own lot, with what `points_post` would give one by one, in order.

    Set-based: the accounts are locked once (ordered by pk), existing idempotency keys read in one query,
    entries and lots bulk-created and the accounts updated in one statement; the hash chain, balances and
    lifetime counters are computed in between, in the order given. A key already used for the same movement
    returns the first entry (also within the batch); for another movement it raises IdempotencyConflictError
    and nothing is written. Debits and reversals go through `points_post`.
    """
    _credits_validate(credits)
    if not credits:
        return []
    accounts = accounts_lock(account_ids={credit.account_id for credit in credits})
    if len(accounts) != len({credit.account_id for credit in credits}):
        raise ValidationError({"account": _("Unknown points account.")})
    keys = {credit.idempotency_key for credit in credits}
    by_key = {entry.idempotency_key: entry for entry in LedgerEntry.objects.filter(idempotency_key__in=keys)}
    tenant = current_tenant()
    now = timezone.now()
    results, new_entries = [], []
    for credit in credits:
        existing = by_key.get(credit.idempotency_key)
        if existing is not None:
            if (existing.account_id, existing.kind, existing.points) != (credit.account_id, credit.kind, credit.points):
                raise _idempotency_conflict()
            results.append(existing)
            continue
        account = accounts[credit.account_id]
        earned, redeemed = _lifetime_deltas(kind=credit.kind, points=credit.points, reverses=None)
        account.balance += credit.points
        account.lifetime_earned += earned
        account.lifetime_redeemed += redeemed
        account.updated_at = now
        # Ids rather than related objects: setting related objects costs more than the rest of building an entry.
        entry = LedgerEntry(
            tenant_id=account.tenant_id,
            account_id=account.pk,
            kind=credit.kind,
            points=credit.points,
            balance_after=account.balance,
            created_at=now,
            effective_at=credit.effective_at or now,
            actor_id=_pk(credit.actor),
            memo=credit.memo,
            idempotency_key=credit.idempotency_key,
            activity_id=credit.activity_id,
            earning_rule_id=_pk(credit.earning_rule),
        )
        entry.entry_hash = entry_hash(previous_hash=account.chain_head, entry=entry)
        account.chain_head = entry.entry_hash
        by_key[credit.idempotency_key] = entry
        new_entries.append(entry)
        results.append(entry)
    try:
        with transaction.atomic():
            rows_insert(new_entries)
    except IntegrityError as error:
        # Only a concurrent posting with one of these keys gets here: the accounts were locked, the keys were free.
        raise _idempotency_conflict() from error
    columns_insert(
        PointsLot,
        {
            "tenant_id": [entry.tenant_id for entry in new_entries],
            "account_id": [entry.account_id for entry in new_entries],
            "entry_id": [entry.pk for entry in new_entries],
            "points": [entry.points for entry in new_entries],
            "remaining": [entry.points for entry in new_entries],
            "earned_at": [entry.effective_at for entry in new_entries],
            "expires_at": [lot_expiry_for(tenant=tenant, earned_at=entry.effective_at) for entry in new_entries],
        },
    )
    _accounts_save(accounts=[accounts[account_id] for account_id in {entry.account_id for entry in new_entries}])
    return results


def _credits_validate(credits: Sequence[Credit]) -> None:
    for credit in credits:
        validate_idempotency_key(credit.idempotency_key)
        _validate_posting(
            kind=credit.kind,
            points=credit.points,
            memo=credit.memo,
            actor=credit.actor,
            reverses=None,
            expired_lot=None,
        )
        if credit.points < 0:
            raise ValidationError({"points": _("Bulk postings are credits; post debits one by one.")})


# The staging table of `points_credit_many`: one row per new entry, with its lot's expiry.
CREDIT_STAGE = "ledger_credit_stage"
CREDIT_STAGE_COLUMNS = (
    ("seq", "integer"),
    ("tenant_id", "bigint"),
    ("account_id", "bigint"),
    ("kind", "varchar(16)"),
    ("points", "bigint"),
    ("balance_after", "bigint"),
    ("created_at", "timestamptz"),
    ("effective_at", "timestamptz"),
    ("actor_id", "bigint"),
    ("memo", "text"),
    ("idempotency_key", "varchar(200)"),
    ("activity_id", "bigint"),
    ("earning_rule_id", "bigint"),
    ("entry_hash", "varchar(64)"),
    ("expires_at", "timestamptz"),
    ("lifetime_earned_after", "bigint"),
    ("lifetime_redeemed_after", "bigint"),
)
ENTRY_COLUMNS = [name for name, _type in CREDIT_STAGE_COLUMNS[:-3] if name != "seq"]


@transaction.atomic
def points_credit_many(*, credits: Sequence[Credit]) -> int:
    """`points_post_many` for bulk ingestion, with the same entries, lots, balances, hash chain, idempotency and
    conflicts, built without a model instance: returns the number of new entries.

    On PostgreSQL the accounts are locked (pk order) and read as values, the new entries computed in order in
    Python (balances and the chain are sequential per account), COPY-staged with their lots' expiry, and moved
    by one statement: entries inserted, their ids feeding the lots' insert, each account's totals set from its
    last staged entry. Elsewhere `points_post_many`.
    """
    _credits_validate(credits)
    if not credits:
        return 0
    if connection.vendor != "postgresql":
        known = set(
            LedgerEntry.objects.filter(idempotency_key__in={c.idempotency_key for c in credits}).values_list(
                "idempotency_key", flat=True
            )
        )
        points_post_many(credits=credits)
        return len({credit.idempotency_key for credit in credits} - known)
    accounts = accounts_lock_totals(account_ids={credit.account_id for credit in credits})
    if len(accounts) != len({credit.account_id for credit in credits}):
        raise ValidationError({"account": _("Unknown points account.")})
    tenant = current_tenant()
    now = timezone.now()
    # The keys are almost always new (ingestion created the activities they name in this transaction), so the
    # unique index checks them: only when it refuses one are the used keys read and the batch computed again,
    # which gives exactly what reading them first would (a repeat of the same movement skipped, another refused).
    for keys_read in (False, True):
        by_key = _keys_used(tenant=tenant, credits=credits) if keys_read else {}
        totals = {pk: account.copy() for pk, account in accounts.items()}
        lines = _credits_staged(credits=credits, accounts=totals, by_key=by_key, tenant=tenant, now=now)
        if not lines:
            return 0
        table = stage_lines(name=CREDIT_STAGE, columns=CREDIT_STAGE_COLUMNS, lines=lines)
        try:
            with transaction.atomic():
                _credits_insert(tenant=tenant, table=table)
        except IntegrityError as error:
            if keys_read:
                # Only a concurrent posting with one of these keys gets here: the accounts were locked, the keys
                # were free.
                raise _idempotency_conflict() from error
            continue
        return len(lines)
    raise AssertionError("unreachable")  # pragma: no cover


def _keys_used(*, tenant: Tenant, credits: Sequence[Credit]) -> dict[str, tuple[int, str, int]]:
    """The movement (account, kind, points) of each credit's key already in the ledger, in one query."""
    with connection.cursor() as cursor:
        # One array parameter rather than an IN list of a thousand: cheaper to build, send and plan.
        cursor.execute(
            f"SELECT idempotency_key, account_id, kind, points FROM {LedgerEntry._meta.db_table}"  # noqa: S608
            " WHERE tenant_id = %s AND idempotency_key = ANY(%s::varchar[])",
            [tenant.pk, sorted({credit.idempotency_key for credit in credits})],
        )
        return {key: (account_id, kind, points) for key, account_id, kind, points in cursor.fetchall()}


def _credits_staged(
    *,
    credits: Sequence[Credit],
    accounts: dict[int, AccountTotals],
    by_key: dict[str, tuple[int, str, int]],
    tenant: Tenant,
    now: datetime,
) -> list[str]:
    """The staging lines (CREDIT_STAGE_COLUMNS, in COPY's text format) of the new entries, in order, moving
    `accounts` as they post.

    Each line and each hash link is one f-string: the types are known (kinds and idempotency keys are validated
    to need no escaping; memos are escaped), and what repeats in a batch — the moment, the actor, each memo, each
    effective moment's UTC text and its lot's expiry — is formatted once.
    """
    now_text, now_utc = now.isoformat(), _utc(now)
    moments: dict[datetime, tuple[str, str, str]] = {}  # effective_at -> (COPY text, UTC text for the hash, expiry)
    memos: dict[str, tuple[str, str]] = {}  # memo -> (as hashed, as staged)
    lines: list[str] = []
    for credit in credits:
        movement = (credit.account_id, credit.kind, credit.points)
        existing = by_key.get(credit.idempotency_key)
        if existing is not None:
            if existing != movement:
                raise _idempotency_conflict()
            continue
        by_key[credit.idempotency_key] = movement
        account = accounts[credit.account_id]
        earned, redeemed = _lifetime_deltas(kind=credit.kind, points=credit.points, reverses=None)
        account.balance += credit.points
        account.lifetime_earned += earned
        account.lifetime_redeemed += redeemed
        effective_at = credit.effective_at or now
        moment = moments.get(effective_at)
        if moment is None:
            expires_at = lot_expiry_for(tenant=tenant, earned_at=effective_at)
            expiry = COPY_NULL if expires_at is None else expires_at.isoformat()
            moment = moments[effective_at] = (effective_at.isoformat(), _utc(effective_at), expiry)
        memo = memos.get(credit.memo)
        if memo is None:
            memo = memos[credit.memo] = (str(credit.memo), copy_escape(str(credit.memo)))
        kind = str(credit.kind)  # the enum's value (its str), as `_chain_link` hashes it
        actor_id, rule_id, activity_id = _pk(credit.actor), _pk(credit.earning_rule), credit.activity_id
        # entry_hash's fields in its order, as `_chain_link` joins them (None as "", then the three causes a
        # credit never has).
        link = hashlib.sha256(
            f"{account.chain_head}\x1f{account.tenant_id}\x1f{account.pk}\x1f{kind}\x1f{credit.points}"
            f"\x1f{account.balance}\x1f{now_utc}\x1f{moment[1]}\x1f{'' if actor_id is None else actor_id}"
            f"\x1f{memo[0]}\x1f{credit.idempotency_key}\x1f{'' if activity_id is None else activity_id}"
            f"\x1f{'' if rule_id is None else rule_id}\x1f\x1f\x1f".encode()
        ).hexdigest()
        account.chain_head = link
        lines.append(
            f"{len(lines)}\t{account.tenant_id}\t{account.pk}\t{kind}\t{credit.points}\t{account.balance}"
            f"\t{now_text}\t{moment[0]}\t{COPY_NULL if actor_id is None else actor_id}\t{memo[1]}"
            f"\t{credit.idempotency_key}\t{COPY_NULL if activity_id is None else activity_id}"
            f"\t{COPY_NULL if rule_id is None else rule_id}\t{link}\t{moment[2]}\t{account.lifetime_earned}"
            f"\t{account.lifetime_redeemed}"
        )
    return lines


def _credits_insert(*, tenant: Tenant, table: str) -> None:
    """Entries from the staged credits, a lot for each (with its entry's id), and each account's totals and chain
    head from its last staged entry: one statement."""
    names = ", ".join(ENTRY_COLUMNS)
    with connection.cursor() as cursor:
        # Table and column names come from the models and the constants above; nothing is interpolated.
        cursor.execute(
            f"""
            WITH entry AS (
                INSERT INTO {LedgerEntry._meta.db_table} ({names})
                SELECT {names} FROM pg_temp.{table} ORDER BY seq
                RETURNING id, idempotency_key
            ),
            lot AS (
                INSERT INTO {PointsLot._meta.db_table}
                    (tenant_id, account_id, entry_id, points, remaining, earned_at, expires_at)
                SELECT stage.tenant_id, stage.account_id, entry.id, stage.points, stage.points,
                       stage.effective_at, stage.expires_at
                FROM entry JOIN pg_temp.{table} AS stage USING (idempotency_key)
                ORDER BY stage.seq
            )
            UPDATE {PointsAccount._meta.db_table} AS account
            SET balance = last.balance_after, lifetime_earned = last.lifetime_earned_after,
                lifetime_redeemed = last.lifetime_redeemed_after, chain_head = last.entry_hash,
                updated_at = last.created_at
            FROM (
                SELECT DISTINCT ON (account_id) * FROM pg_temp.{table} ORDER BY account_id, seq DESC
            ) AS last
            WHERE account.id = last.account_id AND account.tenant_id = %s
            """,  # noqa: S608
            [tenant.pk],
        )


def _pk(instance: object | None) -> int | None:
    return None if instance is None else instance.pk


ACCOUNT_TOTALS = ["balance", "lifetime_earned", "lifetime_redeemed", "chain_head", "updated_at"]


def _accounts_save(*, accounts: list[PointsAccount]) -> None:
    """Write locked accounts' new totals and chain heads in one statement.

    On PostgreSQL an UPDATE … FROM unnest(arrays): `bulk_update` builds a CASE per field and row, which costs
    more Python time than the rest of a 1,000-activity batch (bench/ingest.py). Elsewhere `bulk_update`.
    """
    if not accounts:
        return
    if connection.vendor != "postgresql":
        PointsAccount.objects.bulk_update(accounts, ACCOUNT_TOTALS)
        return
    _account_totals_write({name: [getattr(account, name) for account in accounts] for name in ["pk", *ACCOUNT_TOTALS]})


def _account_totals_write(columns: dict[str, list]) -> None:
    """PostgreSQL: set locked accounts' totals and chain heads from columns (pk, then ACCOUNT_TOTALS)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {PointsAccount._meta.db_table} AS account
            SET balance = new.balance, lifetime_earned = new.lifetime_earned,
                lifetime_redeemed = new.lifetime_redeemed, chain_head = new.chain_head, updated_at = new.updated_at
            FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::varchar[], %s::timestamptz[])
                AS new(id, balance, lifetime_earned, lifetime_redeemed, chain_head, updated_at)
            WHERE account.id = new.id AND account.tenant_id = %s
            """,  # noqa: S608 - the table name comes from the model, every value is a parameter
            [*columns.values(), current_tenant().pk],
        )


def points_accounts_for(*, partner_ids: Iterable[int]) -> dict[int, int]:
    """Each partner's account id, creating the missing accounts in one statement (see `points_account_for`)."""
    partner_ids = set(partner_ids)
    found = dict(PointsAccount.objects.filter(AnyOf("partner_id", partner_ids)).values_list("partner_id", "pk"))
    missing = partner_ids - found.keys()
    if missing:
        tenant = current_tenant()
        PointsAccount.objects.bulk_create(
            [PointsAccount(tenant=tenant, partner_id=partner_id) for partner_id in sorted(missing)],
            ignore_conflicts=True,
        )
        found.update(PointsAccount.objects.filter(AnyOf("partner_id", missing)).values_list("partner_id", "pk"))
    return found


def points_adjust(*, partner: Cause, points: int, reason: str, actor: User, idempotency_key: str) -> LedgerEntry:
    """A manual correction by program staff, with a mandatory reason."""
    return points_post(
        account=points_account_for(partner=partner),
        kind=EntryKind.ADJUST,
        points=points,
        memo=reason,
        actor=actor,
        idempotency_key=idempotency_key,
    )


def adjustment_needs_second_person(points: int) -> bool:
    """Whether an adjustment of `points` exceeds what the program lets one person post (four eyes)."""
    return abs(points) > current_tenant().adjustment_approval_points


@transaction.atomic
def points_adjust_or_request(
    *, partner: Cause, points: int, reason: str, actor: User, idempotency_key: str
) -> LedgerEntry | AdjustmentRequest:
    """A manual adjustment: posted at once within the program's four-eyes limit, otherwise a request that waits
    for a second program manager or owner. Idempotent by key: a repeat returns what the first call made."""
    if not 0 < abs(points) <= ADJUSTMENT_MAX_POINTS:
        raise ValidationError(
            {"points": _("An adjustment moves between 1 and %(most)s points.") % {"most": f"{ADJUSTMENT_MAX_POINTS:,}"}}
        )
    if not adjustment_needs_second_person(points):
        return points_adjust(
            partner=partner, points=points, reason=reason, actor=actor, idempotency_key=idempotency_key
        )
    validate_idempotency_key(idempotency_key)
    account = points_account_for(partner=partner)
    existing = AdjustmentRequest.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if (existing.account_id, existing.points) != (account.pk, points):
            raise _idempotency_conflict()
        return existing
    if points < 0 and -points > account.balance:
        raise InsufficientPointsError(
            _("The account holds %(balance)s points; it cannot lose %(points)s.")
            % {"balance": f"{account.balance:,}", "points": f"{-points:,}"}
        )
    try:
        with transaction.atomic():
            return AdjustmentRequest.objects.create(
                account=account, points=points, reason=reason, requested_by=actor, idempotency_key=idempotency_key
            )
    except IntegrityError:  # the same key, submitted twice at once
        return AdjustmentRequest.objects.get(idempotency_key=idempotency_key)


def _adjustment_request_lock(request: AdjustmentRequest) -> AdjustmentRequest:
    rows = AdjustmentRequest.objects.select_for_update(of=("self",)).select_related("account", "decided_by")
    return rows.get(pk=request.pk)


def _refuse_decided(request: AdjustmentRequest) -> None:
    """A second decision (a reload, a colleague at the same moment) is refused, saying who decided first."""
    if request.status != AdjustmentRequest.Status.PENDING:
        raise ValidationError(
            _("%(who)s already decided this adjustment: %(status)s.")
            % {"who": request.decided_by, "status": request.get_status_display().lower()}
        )


@transaction.atomic
def adjustment_approve(*, request: AdjustmentRequest, approver: User) -> AdjustmentRequest:
    """The second person approves: the adjustment posts, once."""
    locked = _adjustment_request_lock(request)
    _refuse_decided(locked)
    if locked.requested_by_id == approver.pk:
        raise ValidationError(_("A second person approves an adjustment this large: you asked for this one."))
    entry = points_post(
        account=locked.account,
        kind=EntryKind.ADJUST,
        points=locked.points,
        memo=locked.reason,  # the approval is on the request (`entry.adjustment_request`), shown beside the entry
        actor=locked.requested_by,
        idempotency_key=locked.idempotency_key,
    )
    locked.status, locked.entry = AdjustmentRequest.Status.APPROVED, entry
    locked.decided_by, locked.decided_at = approver, timezone.now()
    locked.save(update_fields=["status", "entry", "decided_by", "decided_at"])
    return locked


@transaction.atomic
def adjustment_reject(*, request: AdjustmentRequest, approver: User, note: str) -> AdjustmentRequest:
    """The second person refuses: nothing is posted."""
    locked = _adjustment_request_lock(request)
    _refuse_decided(locked)
    locked.status, locked.decision_note = AdjustmentRequest.Status.REJECTED, note
    locked.decided_by, locked.decided_at = approver, timezone.now()
    locked.save(update_fields=["status", "decision_note", "decided_by", "decided_at"])
    return locked


@transaction.atomic
def entry_reverse(*, entry: LedgerEntry, actor: User | None, reason: str) -> LedgerEntry | None:
    """Post the reversal of what is left of `entry` (None when nothing is left to reverse).

    Reversing a credit claws back at most the current balance: points already spent stay spent, and the
    memo says how many could not be recovered.
    """
    account = account_lock(account_id=entry.account_id)
    already = entry.reversals.aggregate(total=Sum("points"))["total"] or 0
    outstanding = entry.points + already
    if outstanding == 0:
        return None
    amount = -outstanding
    memo = reason
    if outstanding > 0 and outstanding > account.balance:
        amount = -account.balance
        memo = CodedReason("not_recovered", reason=reason, points=outstanding - account.balance)
        if amount == 0:
            return None
    sequence = entry.reversals.count() + 1
    return points_post(
        account=account,
        kind=EntryKind.REVERSE,
        points=amount,
        idempotency_key=f"reverse:{entry.pk}:{sequence}",
        actor=actor,
        memo=memo,
        activity=entry.activity,
        earning_rule=entry.earning_rule,
        reverses=entry,
    )


@transaction.atomic
def lot_expire(*, lot: PointsLot, now: datetime) -> LedgerEntry | None:
    """Post an `expire` entry for what is left in a lot expired by `now` (None when nothing is left)."""
    account = account_lock(account_id=lot.account_id)
    locked = lot_lock(lot_id=lot.pk)
    if locked.remaining == 0 or locked.expires_at is None or locked.expires_at > now:
        return None
    # Each state of the lot (its allocations so far) expires at most once, so re-runs post nothing twice.
    generation = locked.allocations.count()
    return points_post(
        account=account,
        kind=EntryKind.EXPIRE,
        points=-locked.remaining,
        idempotency_key=f"expire:{locked.pk}:{generation}",
        memo=_("Points earned on %(date)s expired.") % {"date": locked.earned_at.date().isoformat()},
        expired_lot=locked,
        effective_at=locked.expires_at,
    )


def points_expire_due(*, now: datetime | None = None) -> int:
    """Expire every lot of the current tenant whose expiry has passed; returns the number of entries posted."""
    now = now or timezone.now()
    due = PointsLot.objects.filter(remaining__gt=0, expires_at__lte=now).order_by("pk")
    posted = 0
    for lot in due.iterator(chunk_size=500):
        if lot_expire(lot=lot, now=now) is not None:
            posted += 1
    return posted
