"""Deal registration (DESIGN §11): register, submit with conflict detection, review, protect by tier, close, expire.

Every move is checked against TRANSITIONS, recorded as a DealEvent (who, when, why) and announced as the domain
event `deal.status_changed`. Decisions that compare registrations (submission, approval) hold the tenant's
customers lock (`lock_objects.customers_lock`), so two partners registering one customer at once take turns.
"""

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from deals.lock_objects import customers_lock, deal_lock, deals_lock
from deals.matching import Customer, customer_match, normalise_domain, normalise_name, normalise_tax_id
from deals.models import DealAttachment, DealConflict, DealEvent, DealRegistration, DealSettings
from loyalty.events import event_emit
from loyalty.reasons import CodedReason
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from loyalty.tenancy.tasks import enqueue_on_commit
from loyalty.uploads import EVIDENCE, upload_scan
from partners.currency import currency_known
from partners.models import Activity, ActivityKind, Partner
from tiers.models import BenefitKind
from tiers.selectors import partner_entitlement_value
from tiers.tasks import rescore_partner

Status = DealRegistration.Status
OPEN_STATUSES = (Status.SUBMITTED, Status.APPROVED)
MAX_ATTACHMENTS = 5
# Allowed moves; anything else is refused. (An extension is recorded as approved → approved, once.)
TRANSITIONS = {
    Status.DRAFT: {Status.SUBMITTED},
    Status.SUBMITTED: {Status.APPROVED, Status.REJECTED, Status.LOST},
    Status.APPROVED: {Status.WON, Status.LOST, Status.EXPIRED},
}


def deal_settings_get() -> DealSettings:
    """The program's deal rules (the defaults, unsaved, until staff change them in the admin)."""
    return DealSettings.objects.first() or DealSettings(tenant=current_tenant())


def _refuse_unless_allowed(*, deal: DealRegistration, to_status: str) -> None:
    if to_status not in TRANSITIONS.get(deal.status, set()):
        raise ValidationError(
            _("A registration that is %(status)s cannot become %(to)s.")
            % {"status": Status(deal.status).label.lower(), "to": Status(to_status).label.lower()}
        )


def _move(*, deal: DealRegistration, to_status: str, actor: User | None, reason: str = "") -> DealEvent:
    """Record a move the caller holds the row for; refuse one the workflow does not allow."""
    _refuse_unless_allowed(deal=deal, to_status=to_status)
    event = DealEvent.objects.create(
        deal=deal, from_status=deal.status, to_status=to_status, actor=actor, reason=reason
    )
    from_status = deal.status
    deal.status, deal.updated_at = to_status, timezone.now()
    deal.save(update_fields=["status", "updated_at"])
    event_emit("deal.status_changed", deal=deal, from_status=from_status, to_status=to_status, reason=reason)
    return event


# A registration protects a deal the partner expects to close: one further away than this is a typo (9999-12-31)
# or not yet a deal, and would hold the customer against other partners for as long.
EXPECTED_CLOSE_YEARS = 5


def deal_fields_clean(
    *,
    customer_name: str,
    customer_domain: str,
    customer_tax_id: str,
    contact_email: str,
    amount: Decimal | str | None,
    currency: str,
    expected_close: date | None,
) -> dict:
    errors: dict[str, str] = {}
    name = " ".join(customer_name.split())
    if not name:
        errors["customer_name"] = _("Give the customer's company name.")
    elif len(name) > 200:
        errors["customer_name"] = _("The company name is at most 200 characters.")
    domain = normalise_domain(customer_domain)
    if domain and ("." not in domain or len(domain) > 253 or not all(part for part in domain.split("."))):
        errors["customer_domain"] = _("Give a web domain such as example.com.")
    tax_id = normalise_tax_id(customer_tax_id)
    if len(tax_id) > 50:
        errors["customer_tax_id"] = _("The tax id is at most 50 letters and digits.")
    if contact_email:
        try:
            validate_email(contact_email)
        except ValidationError:
            errors["contact_email"] = _("Enter a valid email address.")
    try:
        value = Decimal(str(amount)) if amount not in (None, "") else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0 or value >= Decimal("1e12"):
        errors["amount"] = _("Give the estimated amount, more than zero.")
    elif value != value.quantize(Decimal("0.01")):
        errors["amount"] = _("Give the amount with at most two decimals.")
    code = currency.strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        errors["currency"] = _("Give the currency as a three-letter code (e.g. USD).")
    elif not currency_known(code):
        errors["currency"] = _("Unknown currency %(given)r: give a three-letter ISO 4217 code.") % {"given": code}
    today = timezone.localdate()
    if expected_close is None:
        errors["expected_close"] = _("Give the expected close date.")
    elif expected_close < today:
        errors["expected_close"] = _("The expected close date is in the past.")
    elif expected_close > (latest := today + relativedelta(years=EXPECTED_CLOSE_YEARS)):
        errors["expected_close"] = _(
            "The expected close date is more than %(years)s years away: give a date up to %(latest)s."
        ) % {"years": EXPECTED_CLOSE_YEARS, "latest": date_format(latest)}
    if errors:
        raise ValidationError(errors)
    key = normalise_name(name) or name.lower()
    return {
        "customer_name": name,
        "customer_key": key,
        "customer_domain": domain,
        "customer_tax_id": tax_id,
        "amount": value,
        "currency": code,
    }


def _attachments_scan(attachments: Sequence[UploadedFile]) -> list[str]:
    """Each file's content type, sniffed; too many files or one of the wrong kind is an `attachments` error."""
    if len(attachments) > MAX_ATTACHMENTS:
        raise ValidationError({"attachments": _("Attach at most %(count)s files.") % {"count": MAX_ATTACHMENTS}})
    content_types, problems = [], []
    for upload in attachments:
        try:
            content_types.append(upload_scan(file=upload, kind=EVIDENCE, field="attachments"))
        except ValidationError as error:
            problems += [f"{upload.name}: {message}" for message in error.message_dict["attachments"]]
    if problems:
        raise ValidationError({"attachments": problems})
    return content_types


@transaction.atomic
def deal_register(
    *,
    partner: Partner,
    registered_by: User | None,
    customer_name: str,
    amount: Decimal | str | None,
    currency: str,
    expected_close: date | None,
    customer_domain: str = "",
    customer_country: str = "",
    customer_tax_id: str = "",
    contact_name: str = "",
    contact_email: str = "",
    products: str = "",
    notes: str = "",
    source: str = DealRegistration.Source.PORTAL,
    external_id: str = "",
    submit: bool = True,
    attachments: Sequence[UploadedFile] = (),
) -> DealRegistration:
    """Register a customer opportunity for the partner, and submit it for review unless `submit` is False.

    The same `external_id` again (a CRM re-sending, a form posted twice) returns the first registration.
    `attachments` are scanned by content before anything is written; one that is refused refuses the registration.
    """
    if partner.status != Partner.Status.ACTIVE:
        raise ValidationError(_("Your company's membership of the program is not active."))
    cleaned = deal_fields_clean(
        customer_name=customer_name,
        customer_domain=customer_domain,
        customer_tax_id=customer_tax_id,
        contact_email=contact_email,
        amount=amount,
        currency=currency,
        expected_close=expected_close,
    )
    content_types = _attachments_scan(attachments)
    external_id = external_id.strip()[:200]
    if external_id and (existing := DealRegistration.objects.filter(partner=partner, external_id=external_id).first()):
        return existing
    try:
        with transaction.atomic():
            deal = DealRegistration.objects.create(
                partner=partner,
                registered_by=registered_by,
                source=source,
                external_id=external_id,
                customer_country=customer_country,
                contact_name=contact_name.strip()[:200],
                contact_email=contact_email.strip(),
                products=products.strip()[:500],
                expected_close=expected_close,
                notes=notes.strip(),
                **cleaned,
            )
    except IntegrityError:
        # The same external id posted twice at once: the other request created it.
        return DealRegistration.objects.get(partner=partner, external_id=external_id)
    DealEvent.objects.create(deal=deal, to_status=Status.DRAFT, actor=registered_by)
    for upload, content_type in zip(attachments, content_types, strict=True):
        upload.seek(0)
        attachment = DealAttachment(
            deal=deal, content_type=content_type, original_name=upload.name[:200], uploaded_by=registered_by
        )
        attachment.file.save(upload.name, upload, save=False)
        attachment.save()
    if submit:
        deal = deal_submit(deal=deal, actor=registered_by)
    return deal


def _candidates(*, deal: DealRegistration, recently_won_since: date) -> list[DealRegistration]:
    """Open or recently won registrations sharing a key with this one: tax id, domain, name or its first word."""
    keys = Q(customer_key=deal.customer_key) | Q(customer_key__startswith=deal.customer_key.split(" ")[0])
    if deal.customer_domain:
        keys |= Q(customer_domain=deal.customer_domain)
    if deal.customer_tax_id:
        keys |= Q(customer_tax_id=deal.customer_tax_id)
    live = Q(status__in=OPEN_STATUSES) | Q(status=Status.WON, closed_at__date__gte=recently_won_since)
    return list(DealRegistration.objects.filter(keys, live).exclude(pk=deal.pk).order_by("submitted_at", "pk"))


def _customer(deal: DealRegistration) -> Customer:
    return Customer(key=deal.customer_key, domain=deal.customer_domain, tax_id=deal.customer_tax_id)


@transaction.atomic
def deal_submit(*, deal: DealRegistration, actor: User | None) -> DealRegistration:
    """Send a draft for review; record every earlier open or recently won registration of the same customer."""
    customers_lock(tenant_id=current_tenant().pk)
    locked = deal_lock(deal_id=deal.pk)
    if locked.status != Status.DRAFT:
        if locked.status == Status.SUBMITTED:
            return locked  # submitted twice: nothing more to do
        _refuse_unless_allowed(deal=locked, to_status=Status.SUBMITTED)
    settings = deal_settings_get()
    since = timezone.localdate() - timedelta(days=settings.recently_won_days)
    conflicts = []
    for other in _candidates(deal=locked, recently_won_since=since):
        match = customer_match(_customer(locked), _customer(other))
        if match is not None:
            conflicts.append(
                DealConflict(
                    tenant_id=locked.tenant_id,
                    deal=locked,
                    other=other,
                    rule=match.rule,
                    score=match.score,
                    is_same_partner=other.partner_id == locked.partner_id,
                )
            )
    DealConflict.objects.bulk_create(conflicts, ignore_conflicts=True)
    locked.submitted_at = timezone.now()
    locked.save(update_fields=["submitted_at"])
    reason = CodedReason("possible_conflicts", count=len(conflicts)) if conflicts else ""
    _move(deal=locked, to_status=Status.SUBMITTED, actor=actor, reason=reason)
    return locked


def protection_days_for(*, partner: Partner) -> int:
    """Days of protection an approval grants now: the partner's tier entitlement, else the program's default."""
    days = partner_entitlement_value(partner=partner, kind=BenefitKind.DEAL_PROTECTION_DAYS)
    return int(days) if days is not None else deal_settings_get().default_protection_days


def _approval_blocker(*, deal: DealRegistration) -> str | None:
    """Why this registration cannot be protected now (None: it can).

    Never two protected registrations for one customer; under first-come, an earlier registration by another
    partner that is still submitted, approved or recently won keeps the customer.
    """
    links = DealConflict.objects.filter(Q(deal=deal) | Q(other=deal)).values_list("deal_id", "other_id")
    counterpart_ids = {other if mine == deal.pk else mine for mine, other in links}
    if not counterpart_ids:
        return None
    counterparts = list(DealRegistration.objects.filter(pk__in=counterpart_ids).select_related("partner"))
    for other in counterparts:
        if other.status == Status.APPROVED:
            return _("%(reference)s already protects this customer for %(partner)s until %(date)s.") % {
                "reference": other.reference,
                "partner": other.partner.name,
                "date": other.protected_until,
            }
    if deal_settings_get().conflict_policy == DealSettings.Policy.FIRST_COME:
        since = timezone.now() - timedelta(days=deal_settings_get().recently_won_days)
        for other in counterparts:
            is_earlier = (other.submitted_at or other.created_at, other.pk) < (
                deal.submitted_at or deal.created_at,
                deal.pk,
            )
            is_live = other.status == Status.SUBMITTED or (
                other.status == Status.WON and other.closed_at and other.closed_at >= since
            )
            if other.partner_id != deal.partner_id and is_earlier and is_live:
                return _(
                    "%(reference)s by %(partner)s was registered first and is %(status)s: the first registration "
                    "keeps the customer (first-come protection)."
                ) % {
                    "reference": other.reference,
                    "partner": other.partner.name,
                    "status": other.get_status_display().lower(),
                }
    return None


@transaction.atomic
def deal_approve(*, deal: DealRegistration, actor: User | None, reason: str = "") -> DealRegistration:
    """Approve a submitted registration: protected for the days the partner's tier grants today.

    The days are fixed at approval: a later tier change neither shortens nor lengthens a running protection
    (only an extension reads the tier again).
    """
    customers_lock(tenant_id=current_tenant().pk)
    locked = deal_lock(deal_id=deal.pk)
    _refuse_unless_allowed(deal=locked, to_status=Status.APPROVED)
    if blocker := _approval_blocker(deal=locked):
        raise ValidationError(blocker)
    days = protection_days_for(partner=locked.partner)
    locked.approved_at = timezone.now()
    locked.protection_days = days
    locked.protected_until = timezone.localdate() + timedelta(days=days)
    locked.save(update_fields=["approved_at", "protection_days", "protected_until"])
    text = reason.strip() or CodedReason("protected", days=days, date=locked.protected_until)
    _move(deal=locked, to_status=Status.APPROVED, actor=actor, reason=text)
    # The scorecard counts approved registrations: the partner's progress moves the same minute.
    enqueue_on_commit(rescore_partner, partner_id=locked.partner_id)
    return locked


@transaction.atomic
def deal_reject(*, deal: DealRegistration, actor: User | None, reason: str) -> DealRegistration:
    """Refuse a submitted registration; the partner reads the reason."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the registration is rejected.")})
    locked = deal_lock(deal_id=deal.pk)
    _move(deal=locked, to_status=Status.REJECTED, actor=actor, reason=reason.strip())
    return locked


@transaction.atomic
def deal_extend(*, deal: DealRegistration, actor: User | None, reason: str) -> DealRegistration:
    """Extend an approved registration's protection once, by the days the partner's tier grants today."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the protection should be extended.")})
    locked = deal_lock(deal_id=deal.pk)
    if locked.status != Status.APPROVED:
        raise ValidationError(_("Only an approved registration's protection can be extended."))
    if locked.extended_at is not None:
        raise ValidationError(_("This registration's protection was already extended once."))
    days = protection_days_for(partner=locked.partner)
    start = max(locked.protected_until, timezone.localdate())
    locked.protected_until = start + timedelta(days=days)
    locked.extended_at = timezone.now()
    locked.save(update_fields=["protected_until", "extended_at"])
    DealEvent.objects.create(
        deal=locked,
        from_status=Status.APPROVED,
        to_status=Status.APPROVED,
        actor=actor,
        reason=CodedReason("extended", days=days, date=locked.protected_until, reason=reason.strip()),
    )
    locked.updated_at = timezone.now()
    locked.save(update_fields=["updated_at"])
    return locked


@transaction.atomic
def deal_mark_won(*, deal: DealRegistration, actor: User | None, reason: str = "") -> DealRegistration:
    """Close an approved registration as won (the sale it brings is recorded by the caller, see docs/deals.md)."""
    locked = deal_lock(deal_id=deal.pk)
    if locked.status == Status.WON:
        return locked  # replayed: already won
    _move(deal=locked, to_status=Status.WON, actor=actor, reason=reason.strip())
    locked.closed_at = timezone.now()
    locked.save(update_fields=["closed_at"])
    enqueue_on_commit(rescore_partner, partner_id=locked.partner_id)  # programs may count won registrations
    return locked


@transaction.atomic
def deal_mark_lost(*, deal: DealRegistration, actor: User | None, reason: str) -> DealRegistration:
    """Close a submitted or approved registration as lost, with a reason."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the deal was lost.")})
    locked = deal_lock(deal_id=deal.pk)
    if locked.status == Status.LOST:
        return locked
    _move(deal=locked, to_status=Status.LOST, actor=actor, reason=reason.strip())
    locked.closed_at = timezone.now()
    locked.save(update_fields=["closed_at"])
    return locked


@transaction.atomic
def deals_expire(*, today: date | None = None) -> int:
    """Expire approved registrations whose protection ended before `today` (the program's today by default).

    Idempotent: a second run finds none left approved and lapsed; a registration won or extended meanwhile is
    skipped because the rows are re-read under their locks.
    """
    today = today or timezone.localdate()
    lapsed = DealRegistration.objects.filter(status=Status.APPROVED, protected_until__lt=today)
    ids = list(lapsed.values_list("pk", flat=True).order_by("pk"))
    expired = 0
    for deal in deals_lock(deal_ids=ids):
        if deal.status != Status.APPROVED or deal.protected_until >= today:
            continue
        _move(
            deal=deal,
            to_status=Status.EXPIRED,
            actor=None,
            reason=CodedReason("protection_ended", date=deal.protected_until),
        )
        deal.closed_at = timezone.now()
        deal.save(update_fields=["closed_at"])
        expired += 1
    return expired


@transaction.atomic
def deal_sale_link(*, deal: DealRegistration, activity: Activity) -> DealRegistration:
    """Link a won registration to the sale activity its win recorded; a registration has one sale, linked once."""
    locked = deal_lock(deal_id=deal.pk)
    if locked.status != Status.WON:
        raise ValidationError(_("Only a won registration is linked to its sale."))
    if locked.sale_activity_id not in (None, activity.pk):
        raise ValidationError(_("This registration is already linked to its sale."))
    if activity.partner_id != locked.partner_id or activity.kind != ActivityKind.SALE:
        raise ValidationError(_("A registration is linked only to a sale of its own partner."))
    locked.sale_activity = activity
    locked.save(update_fields=["sale_activity"])
    return locked
