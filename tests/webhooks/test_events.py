"""Events through the real services, delivered to a real receiver on loopback: each emitted exactly once,
signed, and only when the change committed, only to active, subscribed endpoints of the same tenant."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from earning.services import activity_approve, activity_reject
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ActivityKind
from partners.services import activity_record
from rewards.services import redemption_fulfil, redemption_reject
from tests.conftest import World
from tests.rewards.factories import RewardFactory, give_points, redeem
from tests.tiers.factories import revenue_program, sale
from tests.webhooks.conftest import ALL_EVENTS, Receiver, deliveries, endpoint_for, signature_verifies
from tiers.models import BenefitKind, Tier, TierBenefit, TierChange
from tiers.services import evaluation_chunk, partner_rescore, partner_tier_pin, tenant_evaluate, tier_model_publish
from webhooks.models import Event, WebhookDelivery, WebhookEndpoint
from webhooks.services import tier_changes_emit


def recorded_activity(world: World, external_id: str = "CRM-1") -> Activity:
    return activity_record(
        partner=world.partner,
        kind=ActivityKind.TRAINING,
        occurred_at=timezone.now() - timedelta(days=1),
        source=Activity.Source.API,
        external_id=external_id,
    ).activity


def test_a_reviewed_activity_is_posted_once_signed_with_the_endpoint_secret(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(acme.tenant), django_capture_on_commit_callbacks(execute=True):
        activity = recorded_activity(acme)
        activity_approve(activity=activity, actor=acme.manager, reason="Looks right")

    assert len(receiver.received) == 1
    request = receiver.received[0]
    delivery = deliveries(acme)[0]
    assert request.path == "/hooks/tierline"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Tierline-Event"] == "activity.reviewed"
    assert request.headers["Tierline-Delivery"] == str(delivery.event_id)
    assert signature_verifies(endpoint.secret, request.headers["Tierline-Signature"], request.body)
    assert not signature_verifies("whsec_another", request.headers["Tierline-Signature"], request.body)
    assert not signature_verifies(endpoint.secret, request.headers["Tierline-Signature"], request.body + b" ")
    body = request.json
    assert set(body) == {"id", "type", "created_at", "tenant", "data"}
    assert (body["id"], body["type"], body["tenant"]) == (str(delivery.event_id), "activity.reviewed", "acme")
    assert body["data"] == {
        "activity": {
            "id": activity.pk,
            "external_id": "CRM-1",
            "source": "api",
            "kind": "training",
            "occurred_at": body["data"]["activity"]["occurred_at"],
            "amount": None,
            "currency": "",
            "quantity": 1,
        },
        "partner": {"id": acme.partner.pk, "external_id": acme.partner.external_id, "name": acme.partner.name},
        "from_status": "pending",
        "to_status": "approved",
        "reason": "Looks right",
        "reviewed_by": acme.manager.email,
    }
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        WebhookDelivery.Status.SUCCEEDED,
        1,
        200,
        "",
    )
    assert delivery.delivered_at is not None
    assert delivery.next_attempt_at is None


def test_a_rejection_by_a_person_is_reported_and_an_automatic_approval_is_not(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(acme.tenant), django_capture_on_commit_callbacks(execute=True):
        automatic = recorded_activity(acme, "CRM-auto")
        activity_approve(activity=automatic, actor=None)
        rejected = recorded_activity(acme, "CRM-rejected")
        activity_reject(activity=rejected, actor=acme.manager, reason="No evidence")

    assert [(r.json["type"], r.json["data"]["activity"]["external_id"]) for r in receiver.received] == [
        ("activity.reviewed", "CRM-rejected")
    ]
    data = receiver.received[0].json["data"]
    assert (data["from_status"], data["to_status"], data["reason"]) == ("pending", "rejected", "No evidence")


def test_nothing_is_emitted_or_sent_when_the_change_rolls_back(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    written_inside = []

    @transaction.atomic
    def approve_then_fail(activity: Activity) -> None:
        activity_approve(activity=activity, actor=acme.manager)
        written_inside.append(WebhookDelivery.objects.count())
        raise RuntimeError("the caller fails after the approval")

    with tenant_context(acme.tenant):
        activity = recorded_activity(acme)
        with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
            approve_then_fail(activity)
        assert written_inside == [1]  # written in the same transaction…
        activity.refresh_from_db()
        assert activity.status == Activity.Status.PENDING
        assert WebhookDelivery.objects.count() == 0  # …and gone with it
    assert callbacks == []
    assert receiver.received == []


def test_only_active_subscribed_endpoints_of_the_same_tenant_receive_an_event(
    acme: World, globex: World, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    subscribed = endpoint_for(acme, receiver.url + "/subscribed", events=[Event.ACTIVITY_REVIEWED])
    endpoint_for(acme, receiver.url + "/other-events", events=[Event.PARTNER_TIER_CHANGED, Event.POINTS_EXPIRING])
    endpoint_for(acme, receiver.url + "/inactive", is_active=False)
    endpoint_for(globex, receiver.url + "/globex")

    with tenant_context(acme.tenant), django_capture_on_commit_callbacks(execute=True):
        activity_approve(activity=recorded_activity(acme), actor=acme.manager)

    assert [request.path for request in receiver.received] == ["/hooks/tierline/subscribed"]
    assert [(delivery.endpoint_id, delivery.event) for delivery in deliveries(acme)] == [
        (subscribed.pk, "activity.reviewed")
    ]
    assert deliveries(globex) == []


def test_redemption_moves_are_reported_in_order(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(acme.tenant), django_capture_on_commit_callbacks(execute=True):
        reward = RewardFactory(sku="HEADSET-1", name="Headset", points_cost=300)
        give_points(acme.partner, 1000, "seed")
        shipped = redeem(acme.partner, acme.partner_user, reward, "order-1")  # approved at once (manual)
        redemption_fulfil(redemption=shipped, actor=acme.manager, tracking="1Z999")
        refused = redeem(acme.partner, acme.partner_user, reward, "order-2")
        redemption_reject(redemption=refused, actor=acme.manager, reason="Out of season")

    moves = [
        (r.json["data"]["redemption"]["id"], r.json["data"]["from_status"], r.json["data"]["to_status"])
        for r in receiver.received
    ]
    assert moves == [
        (shipped.pk, "requested", "approved"),
        (shipped.pk, "approved", "fulfilled"),
        (refused.pk, "requested", "approved"),
        (refused.pk, "approved", "rejected"),
    ]
    last = receiver.received[-1].json["data"]
    assert last == {
        "redemption": {
            "id": refused.pk,
            "reward": {"id": reward.pk, "sku": "HEADSET-1", "name": "Headset"},
            "quantity": 1,
            "points": 300,
            "credit_note": "",
        },
        "partner": {"id": acme.partner.pk, "external_id": acme.partner.external_id, "name": acme.partner.name},
        "from_status": "approved",
        "to_status": "rejected",
        "reason": "Out of season",
    }
    assert receiver.received[1].json["data"]["reason"] == "1Z999"
    assert len({r.headers["Tierline-Delivery"] for r in receiver.received}) == 4


def test_an_instant_rescore_that_moves_the_tier_is_reported(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(acme.tenant):
        program = revenue_program()
        TierBenefit.objects.create(tier=program.tiers["Platinum"], kind=BenefitKind.REBATE_RATE, value=Decimal("3.5"))
        tier_model_publish(model=program.model, actor=acme.manager)
        sale(acme.partner, timezone.localdate() - timedelta(days=3), "90000")
        with django_capture_on_commit_callbacks(execute=True):
            partner_rescore(partner=acme.partner)
        change = TierChange.objects.get()
        evaluated_on = timezone.localdate().isoformat()

    assert len(receiver.received) == 1
    body = receiver.received[0].json
    assert body["type"] == "partner.tier_changed"
    assert body["data"] == {
        "tier_change_id": change.pk,
        "partner": {"id": acme.partner.pk, "external_id": acme.partner.external_id, "name": acme.partner.name},
        "from_tier": None,
        "to_tier": {
            "id": program.tiers["Platinum"].pk,
            "name": "Platinum",
            "rank": 4,
            "entitlements": [
                {
                    "kind": "rebate_rate",
                    "value": "3.50",
                    "currency": "",
                    "text": "",
                    "label": "3.5 % rebate on approved sales",
                }
            ],
        },
        "cause": "instant",
        "evaluated_on": evaluated_on,
    }


def test_a_pin_is_reported_with_both_tiers(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(acme.tenant):
        program = revenue_program()
        tier_model_publish(model=program.model, actor=acme.manager)
        silver, gold = (Tier.objects.get(pk=program.tiers[name].pk) for name in ("Silver", "Gold"))
        until = timezone.localdate() + timedelta(days=30)
        with django_capture_on_commit_callbacks(execute=True):
            partner_tier_pin(partner=acme.partner, tier=silver, until=until, reason="Launch", actor=acme.manager)
            partner_tier_pin(partner=acme.partner, tier=gold, until=until, reason="Promoted", actor=acme.manager)

    assert [
        (
            (r.json["data"]["from_tier"] or {}).get("name"),
            r.json["data"]["to_tier"]["name"],
            r.json["data"]["cause"],
        )
        for r in receiver.received
    ] == [(None, "Silver", "pin"), ("Silver", "Gold", "pin")]


def test_tier_changes_cost_five_queries_whatever_their_number_and_one_without_listeners(
    acme: World, receiver: Receiver, django_assert_num_queries
) -> None:
    with tenant_context(acme.tenant):
        program = revenue_program()
        silver, gold = program.tiers["Silver"], program.tiers["Gold"]
        today = timezone.localdate()
        changes = {
            size: [
                TierChange.objects.create(
                    partner=partner, from_tier=silver, to_tier=gold, cause="pin", evaluated_on=today
                )
                for partner in [acme.partner, acme.unmanaged_partner] * (size // 2)
            ]
            for size in (2, 40)
        }
        # SELECT the tenant's active endpoints (none listen: nothing else happens).
        with django_assert_num_queries(1):
            assert tier_changes_emit(changes=changes[40]) == 0
        endpoint_for(acme, receiver.url, events=[Event.PARTNER_TIER_CHANGED])
        for size, batch in changes.items():
            # SELECT the endpoints; SELECT the partners' CRM ids; SELECT the tiers' names; SELECT their benefits
            # (the payload carries the entitlements); INSERT the deliveries.
            with django_assert_num_queries(5):
                assert tier_changes_emit(changes=batch) == size
        assert WebhookDelivery.objects.count() == 42


def test_every_event_of_one_change_shares_its_id_across_endpoints(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    first = endpoint_for(acme, receiver.url + "/one")
    second = endpoint_for(acme, receiver.url + "/two", events=ALL_EVENTS)
    with tenant_context(acme.tenant), django_capture_on_commit_callbacks(execute=True):
        activity_approve(activity=recorded_activity(acme), actor=acme.manager)

    rows = deliveries(acme)
    assert sorted(row.endpoint_id for row in rows) == [first.pk, second.pk]
    assert rows[0].event_id == rows[1].event_id
    assert {request.headers["Tierline-Delivery"] for request in receiver.received} == {str(rows[0].event_id)}
    assert signature_verifies(first.secret, *_signed(receiver, "/hooks/tierline/one"))
    assert signature_verifies(second.secret, *_signed(receiver, "/hooks/tierline/two"))
    assert first.secret != second.secret


def _signed(receiver: Receiver, path: str) -> tuple[str, bytes]:
    request = next(request for request in receiver.received if request.path == path)
    return request.headers["Tierline-Signature"], request.body


def test_the_nightly_evaluation_reports_each_move_once_and_a_rerun_reports_nothing(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(acme.tenant):
        program = revenue_program()
        tier_model_publish(model=program.model, actor=acme.manager)
        sale(acme.partner, timezone.localdate() - timedelta(days=3), "50000")  # Silver
        sale(acme.unmanaged_partner, timezone.localdate() - timedelta(days=3), "70000")  # Gold
        today = timezone.localdate()

        def run_nightly() -> None:
            with django_capture_on_commit_callbacks(execute=True):
                tenant_evaluate(
                    evaluated_on=today, dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
                )

        run_nightly()
        run_nightly()
        assert WebhookDelivery.objects.count() == TierChange.objects.count() == 2

    moved = sorted(
        (r.json["data"]["partner"]["external_id"], r.json["data"]["to_tier"]["name"], r.json["data"]["cause"])
        for r in receiver.received
    )
    assert moved == sorted(
        [(acme.partner.external_id, "Silver", "evaluation"), (acme.unmanaged_partner.external_id, "Gold", "evaluation")]
    )
