"""Retries against a real receiver: backoff after failures, giving up, redirects, the sweeper, resends."""

from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.webhooks.conftest import Receiver
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    BACKOFF_SECONDS,
    MAX_ATTEMPTS,
    webhook_delivery_attempt,
    webhook_delivery_claim,
    webhook_delivery_resend,
    webhook_test_send,
)
from webhooks.tasks import sweep


def sent_test_event(world: World, endpoint: WebhookEndpoint, capture) -> WebhookDelivery:  # noqa: ANN001 - a fixture
    """A webhook.test delivery to `endpoint`, sent at once (a first attempt) on commit."""
    with tenant_context(world.tenant), capture(execute=True):
        delivery = webhook_test_send(endpoint=endpoint)
    with tenant_context(world.tenant):
        delivery.refresh_from_db()
    return delivery


def make_due(world: World, delivery: WebhookDelivery) -> None:
    """Time passes: the delivery's retry time arrives."""
    with tenant_context(world.tenant):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def attempts_of(world: World, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    with tenant_context(world.tenant):
        return list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))


def assert_waited(attempt: WebhookAttempt, seconds: int) -> None:
    """The retry was scheduled `seconds` after the try, give or take the 10 % jitter."""
    waited = (attempt.retry_at - attempt.attempted_at).total_seconds()
    assert seconds * 0.9 - 1 <= waited <= seconds * 1.1 + 1, (waited, seconds)


def test_a_receiver_failing_twice_gets_the_event_on_the_third_try_after_backing_off(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    receiver.statuses = [500, 500]
    delivery = sent_test_event(acme, endpoint, django_capture_on_commit_callbacks)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500: receiver says no"

    # Not due yet: the sweeper leaves it alone.
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep() == 0
    assert len(receiver.received) == 1

    for _retry in range(2):
        make_due(acme, delivery)
        assert sweep() == 1

    with tenant_context(acme.tenant):
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "succeeded",
        3,
        200,
        "",
    )
    assert len(receiver.received) == 3
    assert len({request.headers["Tierline-Delivery"] for request in receiver.received}) == 1  # one event id
    first, second, third = attempts_of(acme, delivery)
    assert [(a.number, a.status_code) for a in (first, second, third)] == [(1, 500), (2, 500), (3, 200)]
    assert_waited(first, BACKOFF_SECONDS[0])  # about a minute
    assert_waited(second, BACKOFF_SECONDS[1])  # about five minutes
    assert third.retry_at is None
    assert delivery.next_attempt_at is None


def test_a_delivery_that_keeps_failing_is_given_up_after_the_last_attempt(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    receiver.statuses = [503] * MAX_ATTEMPTS
    delivery = sent_test_event(acme, endpoint, django_capture_on_commit_callbacks)
    for _retry in range(MAX_ATTEMPTS - 1):
        make_due(acme, delivery)
        sweep()
    with tenant_context(acme.tenant):
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", MAX_ATTEMPTS, None)
    attempts = attempts_of(acme, delivery)
    assert [attempt.number for attempt in attempts] == list(range(1, MAX_ATTEMPTS + 1))
    for attempt, seconds in zip(attempts, BACKOFF_SECONDS, strict=False):
        assert_waited(attempt, seconds)
    assert attempts[-1].retry_at is None
    # Given up means given up: the sweeper and a stray task message send nothing more.
    assert sweep() == 0
    with tenant_context(acme.tenant):
        assert webhook_delivery_attempt(delivery_id=delivery.pk) is False
    assert len(receiver.received) == MAX_ATTEMPTS


def test_a_redirect_is_a_failure_and_is_not_followed(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    receiver.statuses = [302]
    delivery = sent_test_event(acme, endpoint, django_capture_on_commit_callbacks)
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert delivery.last_error == "Redirects are not followed; configure the final URL."
    assert len(receiver.received) == 1


def test_an_unreachable_receiver_is_recorded_and_retried(
    acme: World, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    port = receiver.server.server_port
    receiver.server.shutdown()
    receiver.server.server_close()
    with tenant_context(acme.tenant):
        endpoint = WebhookEndpoint.objects.create(url=f"http://127.0.0.1:{port}/gone", events=[])
    delivery = sent_test_event(acme, endpoint, django_capture_on_commit_callbacks)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error.startswith("ConnectionError: ")
    assert_waited(attempts_of(acme, delivery)[0], BACKOFF_SECONDS[0])


def test_a_deactivated_endpoint_gets_nothing_more_and_its_pending_delivery_fails(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    receiver.statuses = [500]
    delivery = sent_test_event(acme, endpoint, django_capture_on_commit_callbacks)
    with tenant_context(acme.tenant):
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    make_due(acme, delivery)
    sweep()
    with tenant_context(acme.tenant):
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 1, "The endpoint is inactive.")
    assert len(receiver.received) == 1


def test_a_resend_is_a_new_delivery_of_the_same_event_and_the_original_keeps_its_history(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    receiver.statuses = [500] * MAX_ATTEMPTS
    original = sent_test_event(acme, endpoint, django_capture_on_commit_callbacks)
    with tenant_context(acme.tenant):
        WebhookDelivery.objects.filter(pk=original.pk).update(status="failed", next_attempt_at=None)
    receiver.statuses = []
    with tenant_context(acme.tenant), django_capture_on_commit_callbacks(execute=True):
        again = webhook_delivery_resend(delivery=original)
    with tenant_context(acme.tenant):
        again.refresh_from_db()
        original.refresh_from_db()
    assert (again.status, again.attempts, again.resend_of_id) == ("succeeded", 1, original.pk)
    assert (again.event_id, again.payload) == (original.event_id, original.payload)
    assert (original.status, original.attempts, original.last_status_code) == ("failed", 1, 500)
    assert len(attempts_of(acme, original)) == 1
    assert receiver.received[0].body == receiver.received[1].body


def test_a_claimed_attempt_is_not_due_again_until_its_retry_time(acme: World, endpoint: WebhookEndpoint) -> None:
    with tenant_context(acme.tenant):
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event="webhook.test", payload={}, next_attempt_at=timezone.now()
        )
        claimed = webhook_delivery_claim(delivery_id=delivery.pk)
        assert claimed is not None
        assert claimed.attempts == 1
        assert webhook_delivery_claim(delivery_id=delivery.pk) is None  # a second worker finds nothing to do
        delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=BACKOFF_SECONDS[0] * 0.9 - 2)


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_finished_deliveries_are_never_swept(acme: World, endpoint: WebhookEndpoint, status: str) -> None:
    with tenant_context(acme.tenant):
        WebhookDelivery.objects.create(
            endpoint=endpoint, event="webhook.test", payload={}, status=status, next_attempt_at=None
        )
    assert sweep() == 0


def test_a_last_try_whose_worker_died_is_marked_failed_when_it_comes_due(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    with tenant_context(acme.tenant):
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event="webhook.test",
            payload={},
            attempts=MAX_ATTEMPTS - 1,
            next_attempt_at=timezone.now(),
        )
        assert webhook_delivery_claim(delivery_id=delivery.pk) is not None  # the last try; its worker dies
    make_due(acme, delivery)  # its lease runs out
    assert sweep() == 1
    with tenant_context(acme.tenant):
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", MAX_ATTEMPTS, None)
    assert delivery.last_error == "Gave up: the worker of the last try stopped before recording its outcome."
    assert receiver.received == []
