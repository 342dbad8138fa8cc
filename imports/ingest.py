"""Bulk ingestion of activities from vendors' systems (REST API and CSV import): one set-based service for both."""

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.core.validators import DecimalValidator, MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from earning.services import EarningActivity, activities_points_earn, activities_points_post, activities_rules_match
from funds.tasks import rebates_accrue_pending_task
from loyalty.bulk import COPY_NULL, AnyOf, columns_insert, copy_escape, copy_text, field_sql_type, stage_lines
from loyalty.inputs import NUL, ascii_whole_number, date_range_message, json_problems, nul_message
from loyalty.reasons import CodedReason
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import PARTNER_ROLES, Membership, User
from loyalty.tenancy.tasks import enqueue_on_commit
from partners.currency import activity_conversion, rates_for
from partners.models import Activity, ActivityStatusChange, Partner
from partners.services import activity_errors, activity_window
from tiers.tasks import rescore_partners

INGEST_FIELDS = (
    "partner",
    "external_id",
    "kind",
    "occurred_at",
    "amount",
    "currency",
    "quantity",
    "product_sku",
    "product_category",
    "code",
    "valid_until",
    "metadata",
    "member",
)
# Claims carry evidence and go through claim_submit; everything else may arrive in bulk.
INGEST_SOURCES = frozenset({Activity.Source.API, Activity.Source.CSV, Activity.Source.ADMIN, Activity.Source.COURSE})
# Without an external id a repeat cannot be recognised, so machine sources must send one.
SOURCES_NEEDING_EXTERNAL_ID = frozenset({Activity.Source.API, Activity.Source.CSV})
TEXT_FIELDS = ("external_id", "kind", "currency", "product_sku", "product_category", "code")
# Activity columns taken from the parsed values as they are.
STORED_AS_PARSED = (
    "kind",
    "occurred_at",
    "amount",
    "quantity",
    "product_sku",
    "product_category",
    "code",
    "valid_until",
    "metadata",
)
# A conflicting insert (a concurrent ingest of the same external id) is retried this many times.
INSERT_ATTEMPTS = 5
# Re-scores are queued in slices of this many partners (one Celery message each costs ~1-2 ms to publish).
RESCORE_PARTNERS_PER_TASK = 200


class IngestStatus:
    CREATED = "created"
    DUPLICATE = "duplicate"
    ERROR = "error"


@dataclass(frozen=True)
class IngestResult:
    index: int  # position of the row in the input
    external_id: str
    status: str  # "created" | "duplicate" | "error"
    activity_id: int | None
    errors: dict[str, list[str]]  # field -> messages; empty unless status == "error"


@dataclass(frozen=True, slots=True)
class PartnerRef:
    """What ingestion reads of a row's partner (what `activity_errors` checks, what earning prices): a partner
    instance costs more Python to build than the rest of its row."""

    pk: int
    external_id: str
    status: str
    partner_type_id: int | None


@dataclass
class _Row:
    """One input row as parsed: its values for Activity, the partner's reference, and what is wrong with it."""

    index: int
    external_id: str
    partner_ref: str
    values: dict[str, Any]
    errors: dict[str, list[str]] = field(default_factory=dict)
    partner: PartnerRef | None = None
    activity_id: int | None = None
    duplicate_of: int | None = None  # the stored activity (or the batch's first one) this row repeats
    is_repeat: bool = False  # repeats an earlier row of the batch
    member_ref: str = ""  # the email of the partner's member credited with the activity, if named
    member_id: int | None = None
    day: date | None = None  # the day of `occurred_at` in the tenant's time zone (its rate's day), when it has one

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(str(message))


def _recorded_reason(*, source: str, approve: bool) -> CodedReason:
    """The history's first reason for an ingested activity, stored as a code (pages say it in the reader's words)."""
    return CodedReason("recorded_approved_from" if approve else "recorded_from", source=source)


class IngestTurn(Protocol):
    """Where a batch that runs beside others of the same job waits for them (`imports.services`' parallel CSV
    import): both are called inside the batch's transaction, and raise to abandon it."""

    def before_insert(self, external_ids: set[str]) -> None:
        """Before the batch's activities are inserted."""

    def before_posting(self) -> None:
        """After they are inserted, before any account is locked."""


def activities_ingest(
    *,
    rows: Sequence[Mapping[str, Any]],
    source: str,
    actor: User | None,
    approve: bool = True,
    dry_run: bool = False,
    turn: IngestTurn | None = None,
) -> list[IngestResult]:
    """Validate and record many activities at once; one result per row, in input order.

    Idempotent by (tenant, source, external_id): a stored one, or an earlier row of the batch, makes the row a
    "duplicate". Good rows are written even when others fail. With `approve` (the vendor's own systems are
    trusted) activities are recorded approved and earn points as `activity_approve` would; otherwise they wait
    in the review queue. `dry_run` validates and reports without writing ("created" then means "would be").
    A constant number of queries per batch, whatever its size. `turn` (optional) orders this batch after
    earlier ones running at the same time.
    """
    if source not in INGEST_SOURCES:
        raise ValidationError({"source": _("Unknown source %(source)r.") % {"source": source}})
    parsed = [_row_parse(index=index, row=row, source=source) for index, row in enumerate(rows)]
    _partners_attach(parsed)
    _members_attach(parsed)
    rates = _rates_of(parsed)
    window = activity_window()  # once per batch, not per row
    for row in parsed:
        # A field that did not parse has said so already; the rules speak for the others.
        errors = activity_errors(partner=row.partner, rates=rates, window=window, **_rule_values(row))
        for name, message in errors.items():
            if name not in row.errors:
                row.add_error(name, message)
        if not row.errors:
            conversion = activity_conversion(
                amount=row.values["amount"], currency=row.values["currency"] or "",
                occurred_at=row.values["occurred_at"], rates=rates, day=row.day,
            )  # fmt: skip
            row.values["amount_converted"] = conversion.amount_converted
            row.values["exchange_rate"] = conversion.exchange_rate
    if dry_run:
        _duplicates_mark(parsed, source=source)
        return [_result(row) for row in parsed]
    staged = copy_ingestion_applies(source=source)
    with transaction.atomic():
        if turn is not None:
            turn.before_insert({row.external_id for row in parsed if row.external_id})
            if staged and CHECKS_BEFORE_TURN:
                _constraints_immediate()
        create = _activities_create_staged if staged else _activities_create
        created = create(parsed, source=source, actor=actor, approve=approve)
        # The rules each new activity matches take no account lock: matched before the turn, beside the others'.
        matched = activities_rules_match(activities=created) if staged and approve and created else None
        if turn is not None:
            turn.before_posting()
        if approve and created:
            if staged:
                activities_points_earn(activities=created, actor=actor, matched=matched)
            else:
                activities_points_post(activities=created, actor=actor)
            enqueue_on_commit(rebates_accrue_pending_task)  # one set-based pass for the batch's sales
            # Each touched partner is re-scored once; a message per partner would cost more than the ingest.
            touched = sorted({activity.partner_id for activity in created})
            for start in range(0, len(touched), RESCORE_PARTNERS_PER_TASK):
                enqueue_on_commit(rescore_partners, partner_ids=touched[start : start + RESCORE_PARTNERS_PER_TASK])
    return [_result(row) for row in parsed]


# A batch run in turns (a CSV import's streams) checks its foreign keys at each statement, not at its commit.
CHECKS_BEFORE_TURN = True


def _constraints_immediate() -> None:
    """Check this transaction's deferrable constraints at the end of each statement from here on, not at commit.

    The same checks, the same constraints: only when they run. A CSV import's chunk commits in its turn, one chunk
    at a time, so the checks of its activities and their status changes, deferred to the commit, ran on the serial
    path of the streams (~5 of the ~13 per activity with points); at the activities' statement they run before the
    turn, beside the other streams' turns. The ledger's statement, in the turn, checks its entries and lots at its
    end instead of at the commit. Nothing in an ingest inserts a row before the row it references (a lot's entry is
    inserted by the same statement), so no check needs the commit.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _result(row: _Row) -> IngestResult:
    if row.duplicate_of is not None or row.is_repeat:
        return IngestResult(row.index, row.external_id, IngestStatus.DUPLICATE, row.duplicate_of, {})
    if row.errors:
        return IngestResult(row.index, row.external_id, IngestStatus.ERROR, None, row.errors)
    return IngestResult(row.index, row.external_id, IngestStatus.CREATED, row.activity_id, {})


def _row_parse(*, index: int, row: Mapping[str, Any], source: str) -> _Row:
    """Turn one row of strings (or already typed values) into Activity values, noting each field's parse error."""
    if not isinstance(row, Mapping):
        parsed = _Row(index=index, external_id="", partner_ref="", values={})
        parsed.add_error("row", _("Each row must be an object of fields."))
        return parsed
    parsed = _Row(index=index, external_id="", partner_ref="", values={})
    for name in row:
        if name not in INGEST_FIELDS:
            message = _("Unknown field. The fields are: %(fields)s.") % {"fields": ", ".join(INGEST_FIELDS)}
            parsed.add_error(str(name).replace(NUL, "\ufffd"), message)
    for name in TEXT_FIELDS:
        parsed.values[name] = _parse(parsed, name, _text, row.get(name))
    parsed.external_id = parsed.values["external_id"] or ""
    parsed.partner_ref = _parse(parsed, "partner", _text, row.get("partner")) or ""
    if not parsed.partner_ref and "partner" not in parsed.errors:
        parsed.add_error("partner", _("This field is required."))
    if not parsed.external_id and source in SOURCES_NEEDING_EXTERNAL_ID and "external_id" not in parsed.errors:
        parsed.add_error("external_id", _("This field is required."))
    parsed.values["occurred_at"] = _parse(parsed, "occurred_at", _moment, row.get("occurred_at"))
    parsed.values["amount"] = _parse(parsed, "amount", _decimal, row.get("amount"))
    parsed.values["quantity"] = _parse(parsed, "quantity", _quantity, row.get("quantity"))
    parsed.values["valid_until"] = _parse(parsed, "valid_until", _day, row.get("valid_until"))
    parsed.values["metadata"] = _parse(parsed, "metadata", _metadata, row.get("metadata"))
    parsed.member_ref = (_parse(parsed, "member", _text, row.get("member")) or "").lower()
    return parsed


def _parse(row: _Row, name: str, parser: Any, value: Any) -> Any:
    try:
        parsed = parser(value)
        if parsed is not None and parsed != "":
            passes, model_field = _field_checks()[name]
            # A value the cheap test passes passes the validators: skip the call (it is the hot path); the others
            # run them, for their words.
            if model_field is not None and not passes(parsed):
                model_field.run_validators(parsed)
    except ValidationError as error:
        for message in error.messages:
            row.add_error(name, message)
        return None
    return parsed


@cache
def _field_checks() -> dict[str, tuple[Callable[[Any], bool], Any]]:
    """Per input field: a cheap test that a value passes the model field's validators (length, digits, range), and
    the model field whose validators to run when it does not, None when there are none to run (the partner, dates,
    metadata). Read once, not per value."""
    checks: dict[str, tuple[Callable[[Any], bool], Any]] = dict.fromkeys(
        ("partner", "metadata", "member"), (_never, None)
    )
    for name in INGEST_FIELDS:
        if name not in checks:
            model_field = Activity._meta.get_field(name)
            checks[name] = (_validators_pass(model_field), model_field if model_field.validators else None)
    return checks


def _never(_value: Any) -> bool:
    return False


def _validators_pass(model_field: Any) -> Callable[[Any], bool]:
    """A test that is true only of values every validator of `model_field` accepts (false: run them)."""
    kinds = {type(validator) for validator in model_field.validators}
    if kinds == {MaxLengthValidator}:
        longest = model_field.max_length
        return lambda value: type(value) is str and len(value) <= longest
    if kinds == {DecimalValidator}:
        digits, places = model_field.max_digits, model_field.decimal_places
        return lambda value: type(value) is Decimal and _decimal_fits(value, digits, places)
    limits = [validator.limit_value for validator in model_field.validators]
    if kinds == {MinValueValidator, MaxValueValidator} and not any(callable(limit) for limit in limits):
        lowest = max(v.limit_value for v in model_field.validators if isinstance(v, MinValueValidator))
        highest = min(v.limit_value for v in model_field.validators if isinstance(v, MaxValueValidator))
        return lambda value: type(value) is int and lowest <= value <= highest
    return _never


def _decimal_fits(value: Decimal, max_digits: int, places: int) -> bool:
    """Whether Django's `DecimalValidator(max_digits, places)` accepts `value` (its arithmetic, without raising)."""
    _sign, digit_tuple, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return False
    if exponent >= 0:
        digits, decimals = len(digit_tuple) + (exponent if digit_tuple != (0,) else 0), 0
    elif -exponent > len(digit_tuple):
        digits = decimals = -exponent
    else:
        digits, decimals = len(digit_tuple), -exponent
    return digits <= max_digits and decimals <= places and digits - decimals <= max_digits - places


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    if type(value) is str:
        if NUL in value:
            raise ValidationError(nul_message())
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(_("Give this as text."))
    return _text(str(value))


def _moment(value: Any) -> datetime | None:
    """ISO 8601 with an offset; a date alone is midnight in the tenant's time zone (naive times fail validation)."""
    if _blank(value):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return timezone.make_aware(datetime.combine(value, datetime.min.time()))
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return timezone.make_aware(datetime.combine(date.fromisoformat(text), datetime.min.time()))
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    raise ValidationError(_("Give a date and time in ISO 8601 with its offset (2026-03-31T14:30:00+02:00) or a date."))


def _day(value: Any) -> date | None:
    if _blank(value):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError(_("Give a date as YYYY-MM-DD."))


def _decimal(value: Any) -> Decimal | None:
    if _blank(value):
        return None
    number = None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float | str) and not isinstance(value, bool):
        with suppress(InvalidOperation):
            number = Decimal(str(value).strip())
    if number is not None and number.is_finite():
        return number
    raise ValidationError(_("Give the amount as a number, like 1250.00."))


def _quantity(value: Any) -> int:
    if _blank(value):
        return 1
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and ascii_whole_number(value.strip().removeprefix("-")) is not None:
        return int(value.strip())
    raise ValidationError(_("The quantity must be a whole number of at least 1."))


def _metadata(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        # Stored as jsonb, which holds no NUL; a depth the API's parser allows, whoever calls.
        for messages in json_problems(value).values():
            raise ValidationError(messages)
        return value
    raise ValidationError(_("Metadata must be an object."))


def _rates_of(rows: list[_Row]) -> dict:
    """The exchange rates of every (currency, day) the rows' amounts need, in one query; notes each such row's day
    (the conversion reads it again)."""
    zone = timezone.get_current_timezone()
    for row in rows:
        occurred_at = row.values.get("occurred_at")
        if (
            row.values.get("amount") is not None
            and isinstance(occurred_at, datetime)
            and occurred_at.utcoffset() is not None
            and not date_range_message(occurred_at)
        ):
            row.day = occurred_at.astimezone(zone).date()  # `rate_day`, without its checks per row
    return rates_for((row.values["currency"] or "", row.day) for row in rows if row.day is not None)


def _rule_values(row: _Row) -> dict[str, Any]:
    values = row.values
    return {
        "kind": values["kind"] or "",
        "occurred_at": values["occurred_at"],
        "amount": values["amount"],
        "currency": values["currency"] or "",
        "quantity": 1 if values["quantity"] is None else values["quantity"],
        "valid_until": values["valid_until"],
    }


def _partners_attach(rows: list[_Row]) -> None:
    """Find every row's partner by its external id, in one query; this tenant's partners only."""
    refs = {row.partner_ref for row in rows if row.partner_ref}
    partners = {
        values[1]: PartnerRef(*values)
        for values in Partner.objects.filter(AnyOf("external_id", refs)).values_list(
            "pk", "external_id", "status", "partner_type_id"
        )
    }
    for row in rows:
        if not row.partner_ref:
            continue
        row.partner = partners.get(row.partner_ref)
        if row.partner is None:
            row.add_error("partner", _("Unknown partner %(partner)r.") % {"partner": row.partner_ref})


def _members_attach(rows: list[_Row]) -> None:
    """Credit each row naming a member (by email) to that active member of the row's partner, in one query; the
    team's leaderboard counts the activity for them (issue 17, item 13). Anyone else is a row error."""
    named = [row for row in rows if row.member_ref and row.partner is not None]
    if not named:
        return
    members = {
        (partner_id, email): user_id
        for partner_id, email, user_id in Membership.objects.filter(
            AnyOf("partner_id", {row.partner.pk for row in named}), is_active=True, role__in=sorted(PARTNER_ROLES)
        )
        .annotate(email=Lower("user__email"))
        .filter(AnyOf("email", {row.member_ref for row in named}))
        .values_list("partner_id", "email", "user_id")
    }
    for row in named:
        row.member_id = members.get((row.partner.pk, row.member_ref))
        if row.member_id is None:
            row.add_error(
                "member", _("%(member)r is not an active member of this partner.") % {"member": row.member_ref}
            )


def _duplicates_mark(rows: list[_Row], *, source: str) -> list[_Row]:
    """Mark rows already stored, and repeats of an earlier good row; return the rows to create, in input order."""
    external_ids = {row.external_id for row in rows if row.external_id}
    stored = dict(
        Activity.objects.filter(AnyOf("external_id", external_ids), source=source).values_list("external_id", "pk")
    )
    seen: dict[str, _Row] = {}
    to_create = []
    for row in rows:
        if row.external_id in stored:
            row.duplicate_of = stored[row.external_id]
            row.errors = {}
        elif row.errors:
            continue
        elif row.external_id in seen:
            row.is_repeat = True
        else:
            if row.external_id:
                seen[row.external_id] = row
            to_create.append(row)
    return to_create


def _activities_create(rows: list[_Row], *, source: str, actor: User | None, approve: bool) -> list[EarningActivity]:
    """Insert the new activities and their first status change; a row inserted meanwhile by a concurrent ingest
    becomes a duplicate (the insert is retried without it). Returns what earning needs of each new activity.

    Built as columns, not model instances: an `Activity` costs more Python to build than the database spends
    inserting it (bench/ingest.py).
    """
    tenant = current_tenant()
    status = Activity.Status.APPROVED if approve else Activity.Status.PENDING
    actor_id = actor.pk if actor is not None else None
    for _attempt in range(INSERT_ATTEMPTS):
        # Inserting in external-id order means two concurrent batches wait on each other's keys in the same order,
        # so they cannot deadlock; the loser of a key gets an IntegrityError and retries without it.
        to_create = sorted(_duplicates_mark(rows, source=source), key=lambda row: row.external_id)
        count = len(to_create)
        try:
            with transaction.atomic():
                columns = _activity_columns(to_create, source=source, status=status, actor_id=actor_id)
                ids = columns_insert(Activity, columns)
        except IntegrityError:
            continue
        break
    else:
        raise IntegrityError("Could not insert the activities after several concurrent conflicts.")
    for row, activity_id in zip(to_create, ids, strict=True):
        row.activity_id = activity_id
    created = {row.external_id: row.activity_id for row in to_create if row.external_id}
    for row in rows:
        if row.is_repeat and row.duplicate_of is None:
            row.duplicate_of = created[row.external_id]
    reason = _recorded_reason(source=source, approve=approve)
    columns_insert(
        ActivityStatusChange,
        {
            "tenant_id": [tenant.pk] * count,
            "activity_id": ids,
            "to_status": [status] * count,
            "actor_id": [actor_id] * count,
            "reason": [str(reason)] * count,
            "reason_code": [reason.code] * count,
            "reason_params": [reason.params] * count,
        },
    )
    # Input order: the ledger must be what approving the rows one by one, in order, would give.
    in_order = sorted(to_create, key=lambda row: row.index)
    return [
        EarningActivity(
            pk=row.activity_id,
            partner_id=row.partner.pk,
            partner_type_id=row.partner.partner_type_id,
            kind=row.values["kind"],
            occurred_at=row.values["occurred_at"],
            amount=row.values["amount_converted"],
            quantity=row.values["quantity"],
            code=row.values["code"],
            product_category=row.values["product_category"],
        )
        for row in in_order
    ]


# The COPY path (PostgreSQL): stage the batch, de-duplicate and insert in SQL. False makes every batch take the
# reference path above (the tests compare the two on the same input).
COPY_INGESTION = True
ACTIVITY_STAGE = "ingest_activity_stage"
# Staged per row: its position, whether it is to be created, its external id (text: a bad row's may be too long for
# the column), then the values of a good row in Activity's column types (NULL on a bad row).
STAGED_VALUES = (
    "partner_id",
    "created_by_id",
    "currency",
    "amount_converted",
    "exchange_rate",
    *STORED_AS_PARSED,
)


def copy_ingestion_applies(*, source: str) -> bool:
    """Whether a batch from `source` takes the COPY path: on PostgreSQL, for sources that send external ids (the
    staged de-duplication matches rows by them)."""
    return COPY_INGESTION and connection.vendor == "postgresql" and source in SOURCES_NEEDING_EXTERNAL_ID


@cache
def _activity_stage_columns() -> tuple[tuple[str, str], ...]:
    return (
        ("idx", "integer"),
        ("is_good", "boolean"),
        ("external_id", "varchar"),
        *((name, field_sql_type(Activity, name)) for name in STAGED_VALUES),
    )


def _activities_create_staged(
    rows: list[_Row], *, source: str, actor: User | None, approve: bool
) -> list[EarningActivity]:
    """`_activities_create` by COPY: the batch is staged, then one statement finds the stored external ids (which
    make any row a duplicate, as `_duplicates_mark` does), keeps the first good row of each new external id, inserts
    those in external-id order (`ON CONFLICT DO NOTHING`: a concurrent ingest's row, committed meanwhile, is
    skipped, not an error) with their status changes, and returns both sets of ids.
    """
    tenant = current_tenant()
    status = Activity.Status.APPROVED if approve else Activity.Status.PENDING
    actor_id = actor.pk if actor is not None else None
    # COPY text in one pass, a line per row in `_activity_stage_columns`' order (a good row's values are typed by
    # parsing: text escaped, None as NULL).
    lines = []
    bad_values = "\t".join([COPY_NULL] * len(STAGED_VALUES))
    for row in rows:
        if not row.errors:
            values = row.values
            created_by_id = row.member_id or actor_id
            # A currency without an amount means nothing; it is not stored.
            currency = values["currency"] if values["amount"] is not None else ""
            metadata = copy_text(values["metadata"]) if values["metadata"] else "{}"
            lines.append(
                f"{row.index}\tt\t{copy_escape(row.external_id)}\t{row.partner.pk}"
                f"\t{COPY_NULL if created_by_id is None else created_by_id}\t{copy_escape(currency)}"
                f"\t{_copy_or_null(values['amount_converted'])}\t{_copy_or_null(values['exchange_rate'])}"
                f"\t{copy_escape(values['kind'])}\t{values['occurred_at'].isoformat()}"
                f"\t{_copy_or_null(values['amount'])}\t{values['quantity']}\t{copy_escape(values['product_sku'])}"
                f"\t{copy_escape(values['product_category'])}\t{copy_escape(values['code'])}"
                f"\t{_copy_or_null(values['valid_until'])}\t{metadata}"
            )
        elif row.external_id:  # a stored external id makes even a bad row a duplicate
            lines.append(f"{row.index}\tf\t{copy_escape(row.external_id)}\t{bad_values}")
    stage = stage_lines(name=ACTIVITY_STAGE, columns=_activity_stage_columns(), lines=lines)
    reason = _recorded_reason(source=source, approve=approve)
    now = timezone.now()
    constants = {
        "tenant_id": tenant.pk, "source": source, "status": status, "evidence": "", "created_at": now,
    }  # fmt: skip
    columns = [field.column for field in Activity._meta.concrete_fields if field is not Activity._meta.pk]
    selected = ", ".join(
        f"fresh.{name}" if name in STAGED_VALUES or name == "external_id" else f"%({name})s" for name in columns
    )
    with connection.cursor() as cursor:
        # Names come from the model and the constants above; every value is a parameter.
        cursor.execute(
            f"""
            WITH stored AS (
                -- A probe of the unique (tenant, source, external id) index per staged row, whatever the
                -- planner guesses of a table it has no statistics for.
                SELECT * FROM (
                    SELECT stage.idx, (
                        SELECT activity.id FROM {Activity._meta.db_table} AS activity
                        WHERE activity.tenant_id = %(tenant_id)s AND activity.source = %(source)s
                          AND activity.external_id = stage.external_id AND activity.external_id <> ''
                    ) AS id
                    FROM pg_temp.{stage} AS stage
                ) AS probed
                WHERE probed.id IS NOT NULL
            ),
            fresh AS (
                SELECT DISTINCT ON (stage.external_id) stage.*
                FROM pg_temp.{stage} AS stage
                WHERE stage.is_good AND NOT EXISTS (SELECT FROM stored WHERE stored.idx = stage.idx)
                ORDER BY stage.external_id, stage.idx
            ),
            inserted AS (
                INSERT INTO {Activity._meta.db_table} ({", ".join(columns)})
                SELECT {selected} FROM fresh ORDER BY fresh.external_id
                ON CONFLICT DO NOTHING
                RETURNING id, external_id
            ),
            changes AS (
                INSERT INTO {ActivityStatusChange._meta.db_table}
                    (tenant_id, activity_id, from_status, to_status, actor_id, reason, reason_code, reason_params,
                     created_at)
                SELECT %(tenant_id)s, inserted.id, '', %(status)s, %(actor_id)s, %(reason)s, %(reason_code)s,
                    %(reason_params)s::jsonb, %(created_at)s
                FROM inserted
            )
            SELECT stored.idx, stored.id, NULL FROM stored
            UNION ALL
            SELECT NULL, inserted.id, inserted.external_id FROM inserted
            """,  # noqa: S608
            constants
            | {
                "actor_id": actor_id,
                "reason": str(reason),
                "reason_code": reason.code,
                "reason_params": json.dumps(reason.params),
            },
        )
        results = cursor.fetchall()
    stored = {index: activity_id for index, activity_id, _external_id in results if index is not None}
    created = {external_id: activity_id for index, activity_id, external_id in results if index is None}
    first_of: dict[str, _Row] = {}
    # Rows whose external id a concurrent ingest committed after this statement began (ON CONFLICT skipped them),
    # and their repeats: duplicates of that activity.
    late: list[_Row] = []
    for row in rows:
        if row.index in stored:
            row.duplicate_of = stored[row.index]
            row.errors = {}
        elif row.errors:
            continue
        elif row.external_id in first_of:
            row.is_repeat = True
            row.duplicate_of = first_of[row.external_id].activity_id
        elif row.external_id in created:
            row.activity_id = created[row.external_id]
            first_of[row.external_id] = row
        else:
            late.append(row)
    if late:
        concurrent = dict(
            Activity.objects.filter(AnyOf("external_id", {row.external_id for row in late}), source=source).values_list(
                "external_id", "pk"
            )
        )
        for row in late:
            row.duplicate_of = concurrent[row.external_id]
    return [
        EarningActivity(
            pk=row.activity_id,
            partner_id=row.partner.pk,
            partner_type_id=row.partner.partner_type_id,
            kind=row.values["kind"],
            occurred_at=row.values["occurred_at"],
            amount=row.values["amount_converted"],
            quantity=row.values["quantity"],
            code=row.values["code"],
            product_category=row.values["product_category"],
        )
        for row in rows
        if row.activity_id is not None
    ]


def _copy_or_null(value: Decimal | date | None) -> str:
    return COPY_NULL if value is None else str(value)


def _activity_columns(rows: list[_Row], *, source: str, status: str, actor_id: int | None) -> dict[str, list]:
    count = len(rows)
    return {
        "tenant_id": [current_tenant().pk] * count,
        "partner_id": [row.partner.pk for row in rows],
        "source": [source] * count,
        "external_id": [row.external_id for row in rows],
        "status": [status] * count,
        "created_by_id": [row.member_id or actor_id for row in rows],
        # A currency without an amount means nothing; it is not stored.
        "currency": [row.values["currency"] if row.values["amount"] is not None else "" for row in rows],
        "amount_converted": [row.values["amount_converted"] for row in rows],
        "exchange_rate": [row.values["exchange_rate"] for row in rows],
        **{name: [row.values[name] for row in rows] for name in STORED_AS_PARSED},
    }
