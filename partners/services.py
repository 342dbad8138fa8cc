"""Writes of partners, activities and notes: recording and validating activities, upserting partners.

Reviews of activities and claims (approval earns points, rejection reverses them) are `earning.services`.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from partners.evidence import validate_evidence
from partners.models import Activity, ActivityKind, ActivityStatusChange, Claim, Partner, PartnerNote, PartnerType

KINDS_WITH_AMOUNT = frozenset({ActivityKind.SALE, ActivityKind.DEAL_REGISTRATION})
ACTIVITY_KINDS = frozenset(ActivityKind.values)  # `.values` builds a new list on every call


def activity_errors(
    *,
    partner: Partner | None,
    kind: str,
    occurred_at: datetime | None,
    amount: Decimal | None,
    currency: str,
    quantity: int,
    valid_until: date | None,
) -> dict[str, str]:
    """The rules every activity obeys, whatever its source: a message per failing field (empty when valid).

    `partner` is None when the caller could not find it (bulk ingestion reports that itself).
    """
    errors: dict[str, str] = {}
    if kind not in ACTIVITY_KINDS:
        errors["kind"] = _("Unknown activity kind %(kind)r.") % {"kind": kind}
    if partner is not None and partner.status != Partner.Status.ACTIVE:
        errors["partner"] = _("The partner is not active.")
    if occurred_at is None or timezone.is_naive(occurred_at):
        errors["occurred_at"] = _("Give the date and time with a time zone.")
    elif occurred_at > timezone.now() + timedelta(hours=settings.ACTIVITY_FUTURE_TOLERANCE_HOURS):
        errors["occurred_at"] = _("The activity cannot be in the future.")
    if amount is not None:
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
            errors["amount"] = _("The amount must be a positive number.")
        elif currency != current_tenant().currency:
            errors["currency"] = _("Amounts are in %(currency)s in this program, not %(given)r.") % {
                "currency": current_tenant().currency,
                "given": currency,
            }
    elif kind == ActivityKind.SALE:
        errors["amount"] = _("A sale needs an amount.")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        errors["quantity"] = _("The quantity must be a whole number of at least 1.")
    if valid_until is not None and occurred_at is not None and valid_until < timezone.localdate(occurred_at):
        errors["valid_until"] = _("A certification cannot lapse before it was earned.")
    return errors


def activity_validate(
    *,
    partner: Partner,
    kind: str,
    occurred_at: datetime,
    amount: Decimal | None,
    currency: str,
    quantity: int,
    valid_until: date | None,
) -> None:
    """The rules of `activity_errors`; raises ValidationError keyed by field."""
    errors = activity_errors(
        partner=partner,
        kind=kind,
        occurred_at=occurred_at,
        amount=amount,
        currency=currency,
        quantity=quantity,
        valid_until=valid_until,
    )
    if errors:
        raise ValidationError(errors)


@dataclass(frozen=True)
class RecordedActivity:
    activity: Activity
    created: bool


@transaction.atomic
def activity_record(
    *,
    partner: Partner,
    kind: str,
    occurred_at: datetime,
    source: str,
    external_id: str = "",
    amount: Decimal | None = None,
    currency: str = "",
    quantity: int = 1,
    product_sku: str = "",
    product_category: str = "",
    code: str = "",
    valid_until: date | None = None,
    metadata: dict | None = None,
    evidence: UploadedFile | None = None,
    created_by: User | None = None,
) -> RecordedActivity:
    """Record a pending activity; idempotent by (source, external_id): a repeat returns the first one."""
    if source not in Activity.Source.values:
        raise ValidationError({"source": _("Unknown source.")})
    if external_id:
        existing = Activity.objects.filter(source=source, external_id=external_id).first()
        if existing is not None:
            return RecordedActivity(existing, created=False)
    activity_validate(
        partner=partner,
        kind=kind,
        occurred_at=occurred_at,
        amount=amount,
        currency=currency,
        quantity=quantity,
        valid_until=valid_until,
    )
    if evidence is not None:
        validate_evidence(evidence)
    activity = Activity(
        partner=partner,
        kind=kind,
        occurred_at=occurred_at,
        amount=amount,
        currency=currency if amount is not None else "",
        quantity=quantity,
        product_sku=product_sku,
        product_category=product_category,
        code=code,
        valid_until=valid_until,
        source=source,
        external_id=external_id,
        metadata=metadata or {},
        created_by=created_by,
    )
    if evidence is not None:
        activity.metadata = {**activity.metadata, "evidence_name": evidence.name}
        activity.evidence = evidence
    try:
        with transaction.atomic():
            activity.save()
    except IntegrityError:
        # A concurrent import recorded the same (source, external_id) first.
        return RecordedActivity(Activity.objects.get(source=source, external_id=external_id), created=False)
    ActivityStatusChange.objects.create(
        activity=activity, to_status=Activity.Status.PENDING, actor=created_by, reason=_("Recorded")
    )
    return RecordedActivity(activity, created=True)


def claim_review_reasons(*, partner: Partner, invoice_number: str, invoice_date: date | None, amount: Decimal | None):
    """Why a new claim must wait for a person, and the earlier claim it resembles (if any)."""
    reasons: list[str] = []
    resemblance = Q(partner=partner, amount=amount, invoice_date=invoice_date) if amount and invoice_date else Q()
    if invoice_number:
        resemblance |= Q(invoice_number__iexact=invoice_number)
    duplicate_of = Claim.objects.filter(resemblance).order_by("pk").first() if resemblance else None
    if duplicate_of is not None:
        reasons.append("duplicate")
    threshold = current_tenant().claim_review_threshold
    if threshold is not None and amount is not None and amount > threshold:
        reasons.append("above_threshold")
    if not current_tenant().claims_auto_approve:
        reasons.append("review_required")
    return reasons, duplicate_of


def partner_note_create(*, partner: Partner, author: User, body: str) -> PartnerNote:
    """Record a staff note about a partner; a blank note is refused."""
    body = body.strip()
    if not body:
        raise ValidationError({"body": _("Write something first.")})
    return PartnerNote.objects.create(partner=partner, author=author, body=body)


@dataclass(frozen=True)
class UpsertedPartner:
    partner: Partner
    created: bool


@transaction.atomic
def partner_upsert(
    *,
    external_id: str,
    name: str,
    partner_type: PartnerType,
    region: str | None = None,
    segment: str | None = None,
    account_manager: User | None = None,
    joined_at: date | None = None,
    status: str | None = None,
    clear_account_manager: bool = False,
) -> UpsertedPartner:
    """Create the partner with this CRM id, or update it: fields left as None keep their value (or default).

    Safe under concurrency: the row is locked when it exists; a concurrent creation loses the unique
    constraint and updates the winner's row instead.
    """
    external_id = external_id.strip()
    if not external_id:
        raise ValidationError({"external_id": _("Give the partner's id in your CRM.")})
    if status is not None and status not in Partner.Status.values:
        raise ValidationError({"status": _("Unknown status.")})
    given = {
        "name": name,
        "partner_type": partner_type,
        "region": region,
        "segment": segment,
        "account_manager": account_manager,
        "joined_at": joined_at,
        "status": status,
    }
    changes = {field: value for field, value in given.items() if value is not None}
    if clear_account_manager:
        changes["account_manager"] = None
    existing = Partner.objects.select_for_update().filter(external_id=external_id).first()
    if existing is None:
        try:
            with transaction.atomic():
                return UpsertedPartner(Partner.objects.create(external_id=external_id, **changes), created=True)
        except IntegrityError:
            existing = Partner.objects.select_for_update().get(external_id=external_id)
    for field, value in changes.items():
        setattr(existing, field, value)
    existing.save(update_fields=list(changes))
    return UpsertedPartner(existing, created=False)
