"""Writes of webhooks: events into the outbox (inside the caller's transaction), attempts, resends and secrets."""

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from deals.models import DealRegistration
from funds.models import FundClaim, FundPayout, FundRequest
from loyalty.ledger.models import PointsLot
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from loyalty.tenancy.tasks import enqueue_on_commit
from partners.models import Activity, Partner
from rewards.models import Redemption
from tiers.models import Tier, TierChange
from tiers.selectors import tier_entitlements
from webhooks.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint, generate_secret
from webhooks.selectors import webhook_endpoints_for
from webhooks.sending import SendOutcome, webhook_post

# Waits after each failed try: 1 min, 5 min, 30 min, 2 h, 6 h, 12 h, 24 h; the 8th failure gives up (~45 h in all).
BACKOFF_SECONDS = (60, 5 * 60, 30 * 60, 2 * 3600, 6 * 3600, 12 * 3600, 24 * 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
# How long the last try holds its row: if its worker dies, the sweeper then marks it failed.
FINAL_ATTEMPT_LEASE = timedelta(minutes=5)
POINTS_EXPIRING_DAYS = 30


def retry_delay(attempt: int) -> timedelta | None:
    """The wait after the `attempt`-th failed try, ±10 % so one outage's retries spread out; None: give up."""
    if attempt >= MAX_ATTEMPTS:
        return None
    return timedelta(seconds=BACKOFF_SECONDS[attempt - 1] * random.uniform(0.9, 1.1))  # noqa: S311 - jitter


@dataclass(frozen=True)
class EventData:
    data: dict
    key: str = ""  # set for events sent at most once per endpoint (points.expiring)


def webhook_event_emit(*, event: str, items: list[EventData] | Callable[[], list[EventData]]) -> int:
    """Write one pending delivery per item and subscribed active endpoint; each is sent once the caller commits.

    Call it inside the transaction of the change the event reports, so an event exists if and only if the
    change committed. `items` may be a callable: it is only called (and its queries run) when some endpoint
    listens. Items with a key already emitted to an endpoint are skipped. Returns the deliveries written.
    """
    endpoints = webhook_endpoints_for(event=event)
    if not endpoints:
        return 0
    if callable(items):
        items = items()
    tenant = current_tenant()
    now = timezone.now()
    rows = []
    for item in items:
        event_id = uuid.uuid4()
        payload = {"id": str(event_id), "type": event, "created_at": now, "tenant": tenant.slug, "data": item.data}
        rows += [
            WebhookDelivery(
                tenant=tenant,
                endpoint_id=endpoint_id,
                event=event,
                event_id=event_id,
                event_key=item.key,
                payload=payload,
                next_attempt_at=now,
                created_at=now,
            )
            for endpoint_id in endpoints
        ]
    if not rows:
        return 0
    if any(row.event_key for row in rows):
        # The unique (endpoint, key) constraint drops what an earlier run already emitted.
        WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        ids = list(
            WebhookDelivery.objects.filter(event_id__in={row.event_id for row in rows}).values_list("pk", flat=True)
        )
    else:
        ids = [row.pk for row in WebhookDelivery.objects.bulk_create(rows)]
    _enqueue(ids)
    return len(ids)


def _enqueue(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        enqueue_on_commit("webhooks.deliver", delivery_id=delivery_id)  # by name: that task imports this module


def _partner(partner_id: int, external_id: str, name: str) -> dict:
    return {"id": partner_id, "external_id": external_id, "name": name}


def tier_changes_emit(*, changes: list[TierChange]) -> int:
    """partner.tier_changed for each change: three reads (partners, tiers, benefits) and one insert, however many.

    Each tier carries its typed entitlements (kind, value, currency), so an ERP can apply discount and rebate rates.
    """

    def items() -> list[EventData]:
        partners = {
            row[0]: _partner(*row)
            for row in Partner.objects.filter(pk__in={change.partner_id for change in changes}).values_list(
                "pk", "external_id", "name"
            )
        }
        tier_ids = {change.to_tier_id for change in changes} | {change.from_tier_id for change in changes}
        tiers = {
            tier.pk: {
                "id": tier.pk,
                "name": tier.name,
                "rank": tier.rank,
                "entitlements": [entitlement.as_dict() for entitlement in tier_entitlements(tier=tier)],
            }
            for tier in Tier.objects.filter(pk__in=tier_ids).prefetch_related("benefits")
        }
        return [
            EventData(
                {
                    "tier_change_id": change.pk,
                    "partner": partners[change.partner_id],
                    "from_tier": tiers.get(change.from_tier_id),
                    "to_tier": tiers[change.to_tier_id],
                    "cause": change.cause,
                    "evaluated_on": change.evaluated_on,
                }
            )
            for change in changes
        ]

    if not changes:
        return 0
    return webhook_event_emit(event=Event.PARTNER_TIER_CHANGED, items=items)


def redemption_status_emit(*, redemption: Redemption, from_status: str, to_status: str, reason: str) -> int:
    """redemption.status_changed for one move of the workflow."""

    def items() -> list[EventData]:
        partner = redemption.partner
        reward = redemption.reward
        return [
            EventData(
                {
                    "redemption": {
                        "id": redemption.pk,
                        "reward": {"id": reward.pk, "sku": reward.sku, "name": reward.name},
                        "quantity": redemption.quantity,
                        "points": redemption.points,
                        "credit_note": redemption.credit_note,
                    },
                    "partner": _partner(partner.pk, partner.external_id, partner.name),
                    "from_status": from_status,
                    "to_status": to_status,
                    "reason": reason,
                }
            )
        ]

    return webhook_event_emit(event=Event.REDEMPTION_STATUS_CHANGED, items=items)


def deal_status_emit(*, deal: DealRegistration, from_status: str, to_status: str, reason: str) -> int:
    """deal.status_changed for every move of a registration, and deal.submitted when it is submitted."""

    def items() -> list[EventData]:
        partner = deal.partner
        return [
            EventData(
                {
                    "deal": {
                        "id": deal.pk,
                        "reference": deal.reference,
                        "external_id": deal.external_id,
                        "customer": {
                            "name": deal.customer_name,
                            "domain": deal.customer_domain,
                            "country": str(deal.customer_country or ""),
                        },
                        "amount": str(deal.amount),
                        "currency": deal.currency,
                        "expected_close": deal.expected_close.isoformat(),
                        "protected_until": deal.protected_until.isoformat() if deal.protected_until else None,
                        "conflicts": deal.conflicts.count(),
                    },
                    "partner": _partner(partner.pk, partner.external_id, partner.name),
                    "from_status": from_status,
                    "to_status": to_status,
                    "reason": reason,
                }
            )
        ]

    sent = webhook_event_emit(event=Event.DEAL_STATUS_CHANGED, items=items)
    if to_status == DealRegistration.Status.SUBMITTED:
        sent += webhook_event_emit(event=Event.DEAL_SUBMITTED, items=items)
    return sent


def fund_decision_emit(
    *, request: FundRequest, claim: FundClaim | None, decision: str, payout: FundPayout | None
) -> int:
    """fund.decided: a request pre-approved, partially approved, rejected or expired; a claim paid or rejected.
    Amounts are decimal strings with their currency, so finance books them to the cent."""

    def money(value: object) -> str | None:
        return None if value is None else str(value)

    def items() -> list[EventData]:
        partner = request.partner
        return [
            EventData(
                {
                    "decision": decision,
                    "fund_request": {
                        "id": request.pk,
                        "title": request.title,
                        "activity_type": request.activity_type,
                        "planned_on": request.planned_on.isoformat(),
                        "requested_amount": money(request.requested_amount),
                        "approved_amount": money(request.approved_amount),
                        "currency": request.currency,
                        "status": request.status,
                        "claim_deadline": request.claim_deadline.isoformat() if request.claim_deadline else None,
                    },
                    "claim": None
                    if claim is None
                    else {
                        "id": claim.pk,
                        "total_cost": money(claim.total_cost),
                        "amount": money(claim.amount),
                        "approved_amount": money(claim.approved_amount),
                        "status": claim.status,
                    },
                    "payout": None
                    if payout is None
                    else {
                        "number": payout.number,
                        "method": payout.method,
                        "amount": money(payout.amount),
                        "currency": payout.currency,
                    },
                    "partner": _partner(partner.pk, partner.external_id, partner.name),
                    "reason": claim.decision_reason if claim is not None else request.decision_reason,
                },
                key=f"{'claim' if claim else 'request'}:{claim.pk if claim else request.pk}:{decision}",
            )
        ]

    return webhook_event_emit(event=Event.FUND_DECIDED, items=items)


def activity_review_emit(*, activity: Activity, from_status: str, to_status: str, actor: User, reason: str) -> int:
    """activity.reviewed when a person approves or rejects an activity."""

    def items() -> list[EventData]:
        partner = activity.partner
        return [
            EventData(
                {
                    "activity": {
                        "id": activity.pk,
                        "external_id": activity.external_id,
                        "source": activity.source,
                        "kind": activity.kind,
                        "occurred_at": activity.occurred_at,
                        "amount": activity.amount,
                        "currency": activity.currency,
                        "quantity": activity.quantity,
                    },
                    "partner": _partner(partner.pk, partner.external_id, partner.name),
                    "from_status": from_status,
                    "to_status": to_status,
                    "reason": reason,
                    "reviewed_by": actor.email,
                }
            )
        ]

    return webhook_event_emit(event=Event.ACTIVITY_REVIEWED, items=items)


@transaction.atomic
def points_expiring_emit(*, now: datetime | None = None) -> int:
    """points.expiring per partner and expiry date within 30 days; a re-run emits nothing it emitted before."""
    now = now or timezone.now()

    def items() -> list[EventData]:
        rows = (
            PointsLot.objects.filter(
                remaining__gt=0, expires_at__gt=now, expires_at__lte=now + timedelta(days=POINTS_EXPIRING_DAYS)
            )
            .annotate(expires_on=TruncDate("expires_at"))
            .values("account__partner_id", "account__partner__external_id", "account__partner__name", "expires_on")
            .annotate(points=Sum("remaining"))
            .order_by("account__partner_id", "expires_on")
        )
        return [
            EventData(
                {
                    "partner": _partner(
                        row["account__partner_id"], row["account__partner__external_id"], row["account__partner__name"]
                    ),
                    "points": row["points"],
                    "expires_on": row["expires_on"],
                },
                key=f"{row['account__partner_id']}:{row['expires_on'].isoformat()}",
            )
            for row in rows
        ]

    return webhook_event_emit(event=Event.POINTS_EXPIRING, items=items)


@transaction.atomic
def webhook_delivery_claim(*, delivery_id: int) -> WebhookDelivery | None:
    """Take a due delivery for one try, or None when it is not due, done, or another worker holds it.

    The row is locked (skipping a row another worker has locked) and its next try moved to the retry time
    before anything is sent: a second worker, or the sweeper, finds it not due until this try has had its
    chance, so an attempt is sent once. If this worker dies mid-send, the row comes due again by itself.
    """
    now = timezone.now()
    delivery = (
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("endpoint")
        .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .first()
    )
    if delivery is None:
        return None
    if delivery.attempts >= MAX_ATTEMPTS or not delivery.endpoint.is_active:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
        delivery.last_error = (
            "The endpoint is inactive."
            if not delivery.endpoint.is_active
            else "Gave up: the worker of the last try stopped before recording its outcome."
        )
        delivery.save(update_fields=["status", "next_attempt_at", "last_error"])
        return None
    delivery.attempts += 1
    delivery.next_attempt_at = now + (retry_delay(delivery.attempts) or FINAL_ATTEMPT_LEASE)
    delivery.save(update_fields=["attempts", "next_attempt_at"])
    return delivery


@transaction.atomic
def webhook_attempt_record(*, delivery: WebhookDelivery, attempted_at: datetime, outcome: SendOutcome) -> None:
    """Log a try and settle the delivery: succeeded, failed for good, or pending until its retry time."""
    retry_at = None
    if outcome.succeeded:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            WebhookDelivery.Status.SUCCEEDED,
            timezone.now(),
            None,
        )
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
    else:
        retry_at = delivery.next_attempt_at
    delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        attempted_at=attempted_at,
        duration_ms=outcome.duration_ms,
        status_code=outcome.status_code,
        error=outcome.error,
        retry_at=retry_at,
    )
    delivery.save(update_fields=["status", "delivered_at", "next_attempt_at", "last_status_code", "last_error"])


def webhook_delivery_attempt(*, delivery_id: int) -> bool:
    """One try at a delivery if it is due: claim, POST the signed payload, record. False: nothing to do."""
    delivery = webhook_delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        return False
    attempted_at = timezone.now()
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    outcome = webhook_post(
        url=delivery.endpoint.url,
        secret=delivery.endpoint.secret,
        event=delivery.event,
        event_id=str(delivery.event_id),
        body=body,
    )
    webhook_attempt_record(delivery=delivery, attempted_at=attempted_at, outcome=outcome)
    return True


@transaction.atomic
def webhook_delivery_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send an event again as a new delivery (same event id and payload); the original keeps its history."""
    now = timezone.now()
    again = WebhookDelivery.objects.create(
        endpoint=delivery.endpoint,
        event=delivery.event,
        event_id=delivery.event_id,
        event_key=delivery.event_key,
        payload=delivery.payload,
        next_attempt_at=now,
        created_at=now,
        resend_of=delivery,
    )
    _enqueue([again.pk])
    return again


@transaction.atomic
def webhook_test_send(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A webhook.test event to one endpoint, whatever it subscribes to, to check the receiver and its signature."""
    event_id, now = uuid.uuid4(), timezone.now()
    payload = {
        "id": str(event_id),
        "type": Event.TEST.value,
        "created_at": now,
        "tenant": current_tenant().slug,
        "data": {"endpoint_id": endpoint.pk, "message": "A test event from the Tierline admin."},
    }
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event=Event.TEST, event_id=event_id, payload=payload, next_attempt_at=now, created_at=now
    )
    _enqueue([delivery.pk])
    return delivery


def webhook_endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Replace the signing secret at once; deliveries sent from now on are signed with the new one."""
    endpoint.secret = generate_secret()
    endpoint.save(update_fields=["secret"])
    return endpoint
