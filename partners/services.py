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

from loyalty.inputs import LATEST_DATE, date_range_message
from loyalty.reasons import CodedReason
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import AuditEntry, Role, User
from loyalty.tenancy.services import audit_record, invitation_create
from loyalty.tenancy.tasks import enqueue_on_commit
from partners.applications import website_domain
from partners.currency import activity_conversion, currency_errors
from partners.evidence import validate_evidence
from partners.models import (
    Activity,
    ActivityKind,
    ActivityStatusChange,
    Claim,
    Partner,
    PartnerApplication,
    PartnerNote,
    PartnerType,
)

KINDS_WITH_AMOUNT = frozenset({ActivityKind.SALE, ActivityKind.DEAL_REGISTRATION})
ACTIVITY_KINDS = frozenset(ActivityKind.values)  # `.values` builds a new list on every call


def activity_oldest_accepted() -> datetime:
    """The earliest moment an activity may have happened: midnight (program time) `activity_max_age_days` ago."""
    oldest = timezone.localdate() - timedelta(days=current_tenant().activity_max_age_days)  # the tenant's zone
    return timezone.make_aware(datetime.combine(oldest, datetime.min.time()))


@dataclass(frozen=True)
class ActivityWindow:
    """The moments an activity may have happened between, as of one moment (`activity_window`)."""

    oldest: datetime  # `activity_oldest_accepted`
    latest: datetime  # now and the future tolerance


def activity_window() -> ActivityWindow:
    """The window as of now. A batch computes it once and passes it to `activity_errors` for every row: per row it
    cost more than the checks it serves."""
    latest = timezone.now() + timedelta(hours=settings.ACTIVITY_FUTURE_TOLERANCE_HOURS)
    return ActivityWindow(oldest=activity_oldest_accepted(), latest=latest)


def _amount_cap_message(*, amount: Decimal, currency: str, occurred_at: datetime | None, rates: dict | None) -> str:
    """Why an amount is larger than the program accepts (compared in the program's currency), or ""."""
    tenant = current_tenant()
    if currency != tenant.currency:
        if occurred_at is None:
            return ""
        amount = activity_conversion(amount=amount, currency=currency, occurred_at=occurred_at, rates=rates)
        amount = amount.amount_converted
    if amount <= tenant.activity_max_amount:
        return ""
    return _("The program accepts amounts up to %(largest)s %(currency)s; check the figure.") % {
        "largest": f"{tenant.activity_max_amount:,.2f}",
        "currency": tenant.currency,
    }


def activity_errors(
    *,
    partner: Partner | None,
    kind: str,
    occurred_at: datetime | None,
    amount: Decimal | None,
    currency: str,
    quantity: int,
    valid_until: date | None,
    rates: dict | None = None,
    window: ActivityWindow | None = None,
) -> dict[str, str]:
    """The rules every activity obeys, whatever its source: a message per failing field (empty when valid).

    `partner` is None when the caller could not find it (bulk ingestion reports that itself). An amount in another
    currency needs the rate of its day (`rates`, from `partners.currency.rates_for`, saves a query per row).
    `window` (`activity_window()`) lets a batch compute the accepted moments once.
    """
    if window is None:
        window = activity_window()
    errors: dict[str, str] = {}
    if kind not in ACTIVITY_KINDS:
        errors["kind"] = _("Unknown activity kind %(kind)r.") % {"kind": kind}
    if partner is not None and partner.status != Partner.Status.ACTIVE:
        errors["partner"] = _("The partner is not active.")
    if occurred_at is None or timezone.is_naive(occurred_at):
        errors["occurred_at"] = _("Give the date and time with a time zone.")
    elif occurred_at.date() > LATEST_DATE or occurred_at > window.latest:
        # The first test first: comparing a moment of year 9999 converts it to UTC, which may overflow.
        errors["occurred_at"] = _("The activity cannot be in the future.")
    elif message := date_range_message(occurred_at):
        errors["occurred_at"] = message
    elif occurred_at < (oldest := window.oldest):
        errors["occurred_at"] = _(
            "The program accepts activities from the last %(days)s days (since %(oldest)s), not older ones."
        ) % {"days": current_tenant().activity_max_age_days, "oldest": oldest.date().isoformat()}
    checkable_at = occurred_at if "occurred_at" not in errors else None  # a valid moment to take a rate on
    if amount is not None:
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
            errors["amount"] = _("The amount must be a positive number.")
        elif message := currency_errors(currency=currency, occurred_at=checkable_at, rates=rates):
            errors["currency"] = message
        elif message := _amount_cap_message(amount=amount, currency=currency, occurred_at=checkable_at, rates=rates):
            errors["amount"] = message
    elif kind == ActivityKind.SALE:
        errors["amount"] = _("A sale needs an amount.")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        errors["quantity"] = _("The quantity must be a whole number of at least 1.")
    if message := date_range_message(valid_until):
        errors["valid_until"] = message
    elif valid_until is not None and "occurred_at" not in errors and valid_until < timezone.localdate(occurred_at):
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
    conversion = activity_conversion(amount=amount, currency=currency, occurred_at=occurred_at)
    activity = Activity(
        partner=partner,
        kind=kind,
        occurred_at=occurred_at,
        amount=amount,
        currency=currency if amount is not None else "",
        amount_converted=conversion.amount_converted,
        exchange_rate=conversion.exchange_rate,
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
        activity=activity, to_status=Activity.Status.PENDING, actor=created_by, reason=CodedReason("recorded")
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


@transaction.atomic
def application_submit(
    *,
    company_name: str,
    website: str,
    country: str,
    partner_type: PartnerType,
    contact_name: str,
    contact_email: str,
    message: str = "",
    ip_address: str | None = None,
) -> PartnerApplication:
    """Record an application from the public page and email its contact a link to confirm the address."""
    if not current_tenant().applications_open:
        raise ValidationError(_("This program does not take applications at the moment."))
    now = timezone.now()
    application = PartnerApplication(
        company_name=company_name.strip(),
        website=website.strip(),
        domain=website_domain(website.strip()),
        country=country,
        partner_type=partner_type,
        contact_name=contact_name.strip(),
        contact_email=contact_email.strip().lower(),
        message=message.strip(),
        terms_accepted_at=now,
        ip_address=ip_address,
        submitted_at=now,
    )
    application.full_clean()
    application.save()
    enqueue_on_commit("partners.application_verification_send", application_id=application.pk)
    return application


def application_verify(*, application: PartnerApplication) -> PartnerApplication:
    """The contact followed the emailed link: the application joins the review queue (a repeat changes nothing)."""
    PartnerApplication.objects.filter(pk=application.pk, status=PartnerApplication.Status.UNVERIFIED).update(
        status=PartnerApplication.Status.PENDING, verified_at=timezone.now()
    )
    return PartnerApplication.objects.get(pk=application.pk)


def _application_for_decision(application: PartnerApplication) -> PartnerApplication:
    locked = PartnerApplication.objects.select_for_update().get(pk=application.pk)
    if locked.status != PartnerApplication.Status.PENDING:
        raise ValidationError(_("This application was already decided, or its email is not confirmed yet."))
    return locked


@transaction.atomic
def application_approve(*, application: PartnerApplication, reviewer: User) -> Partner:
    """Create the partner and invite the contact as its partner admin (the invitation is the onboarding)."""
    application = _application_for_decision(application)
    external_id = f"APP-{application.pk}"
    if Partner.objects.filter(external_id=external_id).exists():
        raise ValidationError(_("A partner with the id %(id)s exists already.") % {"id": external_id})
    partner = Partner.objects.create(
        external_id=external_id,
        name=application.company_name,
        partner_type=application.partner_type,
        region=application.country.name,
    )
    invitation_create(email=application.contact_email, role=Role.PARTNER_ADMIN, partner=partner, invited_by=reviewer)
    application.status = PartnerApplication.Status.APPROVED
    application.reviewed_by = reviewer
    application.reviewed_at = timezone.now()
    application.partner = partner
    application.save(update_fields=["status", "reviewed_by", "reviewed_at", "partner"])
    audit_record(
        actor=reviewer,
        action=AuditEntry.Action.ACTION,
        target=application,
        summary=f"Approved the application of {application.company_name}: partner {external_id} created",
    )
    return partner


@transaction.atomic
def application_reject(*, application: PartnerApplication, reviewer: User, reason: str) -> PartnerApplication:
    """Turn an application down with a reason, which the contact receives by email."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why: the applicant receives the reason.")})
    application = _application_for_decision(application)
    application.status = PartnerApplication.Status.REJECTED
    application.reviewed_by = reviewer
    application.reviewed_at = timezone.now()
    application.decision_reason = reason.strip()
    application.save(update_fields=["status", "reviewed_by", "reviewed_at", "decision_reason"])
    audit_record(
        actor=reviewer,
        action=AuditEntry.Action.ACTION,
        target=application,
        summary=f"Rejected the application of {application.company_name}",
    )
    enqueue_on_commit("partners.application_rejection_send", application_id=application.pk)
    return application
