"""Writes of activities and claims: recording, approval (which earns points), rejection (which reverses them)."""

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

from loyalty.ledger.earning import activity_points_post, activity_points_reverse
from loyalty.ledger.models import LedgerEntry
from loyalty.notifications.events import claim_reviewed_notify
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from loyalty.tenancy.tasks import enqueue_on_commit
from loyalty.webhooks.services import activity_review_emit
from partners.evidence import validate_evidence
from partners.lock_objects import activity_lock, claim_lock
from partners.models import Activity, ActivityKind, ActivityStatusChange, Claim, Partner, PartnerNote, PartnerType
from tiers.tasks import rescore_partner

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
    return activity_points_post(activity=locked, actor=actor)


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
        return activity_points_reverse(activity=locked, actor=actor, reason=reason)
    return []


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


CLAIM_KIND = {
    Claim.Type.SALE: ActivityKind.SALE,
    Claim.Type.TRAINING: ActivityKind.TRAINING,
    Claim.Type.CERTIFICATION: ActivityKind.CERTIFICATION,
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
    """A partner member claims credit for a sale, training or certification, with evidence.

    Claims resembling an earlier one (same invoice number, or same partner, amount and date) are flagged and
    never approved automatically; claims above the tenant's threshold always wait for review.
    """
    if claim_type not in Claim.Type.values:
        raise ValidationError({"claim_type": _("Unknown claim type.")})
    if claim_type == Claim.Type.SALE and not invoice_number.strip():
        raise ValidationError({"invoice_number": _("A sale claim needs the invoice number.")})
    if claim_type != Claim.Type.SALE and not code.strip():
        raise ValidationError({"code": _("Give the course or certification id.")})
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
    if not reasons:
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
    activity_approve(activity=reviewed.activity, actor=actor, reason=note or _("Claim approved"))
    return reviewed


@transaction.atomic
def claim_reject(*, claim: Claim, actor: User, reason: str) -> Claim:
    """Reject a pending claim with a reason the partner will see."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the claim is rejected.")})
    reviewed = _claim_review(claim=claim, status=Claim.Status.REJECTED, actor=actor, note=reason)
    activity_reject(activity=reviewed.activity, actor=actor, reason=reason)
    return reviewed


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
