"""No delivery is lost: a real Celery worker on the configured broker (Redis in CI), lost task messages and
dead workers recovered by the sweeper, and concurrent tries of one delivery sending it once (PostgreSQL)."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery.signals import task_postrun
from django.db import connection
from django.utils import timezone

from loyalty.celery import app as celery_app
from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.support import run_concurrently, wait_for
from tests.webhooks.conftest import Receiver, signature_verifies
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_delivery_attempt, webhook_delivery_claim, webhook_test_send
from webhooks.tasks import sweep

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished() -> Iterator[list[str]]:
    """Names of the tasks the worker has finished, in order. Tests wait on this list rather than polling the
    database, so they never read while the worker writes (SQLite's shared in-memory test database would lock)."""
    names: list[str] = []

    def record(sender, **_kwargs) -> None:  # noqa: ANN001 - celery's signal arguments
        names.append(sender.name)

    task_postrun.connect(record, weak=False)
    yield names
    task_postrun.disconnect(record)


def delivery_of(world: World, pk: int) -> WebhookDelivery:
    with tenant_context(world.tenant):
        return WebhookDelivery.objects.get(pk=pk)


def test_the_worker_sends_a_delivery_once_its_transaction_commits(
    worker: None, finished: list[str], acme: World, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    with tenant_context(acme.tenant):
        delivery = webhook_test_send(endpoint=endpoint)
    assert wait_for(lambda: finished == ["webhooks.deliver"]), finished
    assert delivery_of(acme, delivery.pk).status == "succeeded"
    assert len(receiver.received) == 1
    assert signature_verifies(
        endpoint.secret, receiver.received[0].headers["Tierline-Signature"], receiver.received[0].body
    )


def test_a_delivery_whose_task_message_was_lost_is_sent_by_the_sweeper_after_the_worker_restarts(
    finished: list[str], acme: World, endpoint: WebhookEndpoint, receiver: Receiver, request: pytest.FixtureRequest
) -> None:
    celery_app.conf.task_always_eager = False  # no worker yet: the task message waits on the broker
    with tenant_context(acme.tenant):
        delivery = webhook_test_send(endpoint=endpoint)
    celery_app.control.purge()  # …and is lost with the broker's queue (or a worker that took it and died)
    assert delivery_of(acme, delivery.pk).status == "pending"

    request.getfixturevalue("worker")  # the worker (re)starts: nothing in the queue for it
    assert not wait_for(lambda: receiver.received, seconds=1)
    sweep.delay()  # beat's minute comes round
    assert wait_for(lambda: finished == ["webhooks.sweep", "webhooks.deliver"]), finished
    assert delivery_of(acme, delivery.pk).status == "succeeded"
    assert len(receiver.received) == 1
    assert delivery_of(acme, delivery.pk).attempts == 1


def test_a_worker_that_died_mid_send_leaves_the_delivery_to_the_sweeper_at_its_retry_time(
    worker: None, finished: list[str], acme: World, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    with tenant_context(acme.tenant):
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event="webhook.test", payload={"id": "x"}, next_attempt_at=timezone.now()
        )
        assert webhook_delivery_claim(delivery_id=delivery.pk) is not None  # claimed, then the worker died
    sweep.delay()
    assert wait_for(lambda: finished == ["webhooks.sweep"]), finished  # not due: its try may still be under way
    assert receiver.received == []
    with tenant_context(acme.tenant):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    sweep.delay()
    assert wait_for(lambda: finished == ["webhooks.sweep"] * 2 + ["webhooks.deliver"]), finished
    assert delivery_of(acme, delivery.pk).status == "succeeded"
    assert len(receiver.received) == 1
    with tenant_context(acme.tenant):
        # The dead worker's try counts (it may have reached the receiver); the log has the one that finished.
        assert delivery_of(acme, delivery.pk).attempts == 2
        assert list(WebhookAttempt.objects.values_list("number", "status_code")) == [(2, 200)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="Needs PostgreSQL row locks (SKIP LOCKED)")
def test_concurrent_tries_of_one_delivery_send_it_once(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    receiver.delay_seconds = 0.5
    with tenant_context(acme.tenant):
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event="webhook.test", payload={"id": "x"}, next_attempt_at=timezone.now()
        )

    results = run_concurrently(acme.tenant, 8, lambda _index: webhook_delivery_attempt(delivery_id=delivery.pk))

    assert sorted(results) == [False] * 7 + [True]
    assert len(receiver.received) == 1
    finished = delivery_of(acme, delivery.pk)
    assert (finished.status, finished.attempts) == ("succeeded", 1)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="Needs PostgreSQL row locks (SKIP LOCKED)")
def test_tries_of_different_deliveries_to_one_endpoint_do_not_block_each_other(
    acme: World, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    """The claim locks the delivery row, not the endpoint it joins: one endpoint's deliveries go out in parallel."""
    with tenant_context(acme.tenant):
        deliveries = [
            WebhookDelivery.objects.create(
                endpoint=endpoint, event="webhook.test", payload={"n": index}, next_attempt_at=timezone.now()
            )
            for index in range(6)
        ]

    results = run_concurrently(acme.tenant, 6, lambda index: webhook_delivery_attempt(delivery_id=deliveries[index].pk))

    assert results == [True] * 6
    assert sorted(request.json["n"] for request in receiver.received) == list(range(6))
