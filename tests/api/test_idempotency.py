"""Idempotency-Key: replays return the first response and post once, another body with the key is a 422, a request
while the first is still running is a 409 (real threads on PostgreSQL), and records are purged after 24 hours."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from api.models import IdempotencyRecord
from api.services import idempotency_claim, idempotency_records_purge
from api.tasks import idempotency_purge
from loyalty.ledger.models import LedgerEntry, PointsAccount
from loyalty.ledger.selectors import ledger_verify
from loyalty.ledger.services import points_account_for
from loyalty.tenancy.context import tenant_context
from rewards.models import Redemption
from tests.api.conftest import Objects, api_client, make_key
from tests.conftest import World
from tests.ledger.factories import is_postgresql
from tests.rewards.factories import give_points
from tests.support import run_concurrently, wait_for

ADJUST = "/api/v1/ledger/adjustments/"


def adjust(client, key: str, points: int = 50, partner: str | None = None, reason: str = "Goodwill"):
    body = {"partner": partner, "points": points, "reason": reason}
    return client.post(ADJUST, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


def entries(world: World) -> list[tuple[int, str]]:
    with tenant_context(world.tenant):
        return list(LedgerEntry.objects.order_by("pk").values_list("points", "idempotency_key"))


def test_a_replay_returns_the_first_response_and_posts_once(acme: World) -> None:
    api_key, token = make_key(acme)
    client = api_client(acme, token)
    first = adjust(client, "k-1", partner=acme.partner.external_id)
    second = adjust(client, "k-1", partner=acme.partner.external_id)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert entries(acme) == [(50, f"api:{api_key.prefix}:k-1")]


def test_the_same_key_with_another_body_is_422_and_posts_nothing(acme: World, acme_api) -> None:
    adjust(acme_api, "k-2", partner=acme.partner.external_id)
    before = entries(acme)
    response = adjust(acme_api, "k-2", points=51, partner=acme.partner.external_id)
    assert response.status_code == 422
    assert response.json()["error"] == {
        "type": "idempotency_error",
        "code": "idempotency_key_reused",
        "message": "This Idempotency-Key was already used for a different request.",
    }
    assert entries(acme) == before


def test_the_same_key_from_another_api_key_is_422(acme: World) -> None:
    first, second = api_client(acme, make_key(acme)[1]), api_client(acme, make_key(acme)[1])
    adjust(first, "k-3", partner=acme.partner.external_id)
    assert adjust(second, "k-3", partner=acme.partner.external_id).status_code == 422
    assert len(entries(acme)) == 1


def test_the_same_key_on_another_endpoint_is_422(acme: World, acme_api, acme_objects: Objects) -> None:
    adjust(acme_api, "k-4", partner=acme.partner.external_id)
    response = acme_api.post(
        f"/api/v1/redemptions/{acme_objects.redemption.pk}/cancel/",
        {},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-4",
    )
    assert response.status_code == 422
    assert acme_objects.redemption.status == "requested"


def test_key_order_and_spacing_of_the_json_body_do_not_matter(acme: World, acme_api) -> None:
    partner = acme.partner.external_id
    first = acme_api.post(
        ADJUST,
        f'{{"partner": "{partner}", "points": 5, "reason": "x"}}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-5",
    )
    again = acme_api.post(
        ADJUST,
        f'{{"reason":"x","points":5,"partner":"{partner}"}}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-5",
    )
    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")


def test_a_refusal_by_the_service_is_replayed_too(acme: World, acme_api) -> None:
    first = adjust(acme_api, "k-6", points=-10, partner=acme.partner.external_id)
    assert first.status_code == 400
    with tenant_context(acme.tenant):
        give_points(acme.partner, 100, "top-up")
    replay = adjust(acme_api, "k-6", points=-10, partner=acme.partner.external_id)
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (400, first.json(), "true")


def test_malformed_input_is_not_stored_so_a_corrected_retry_runs(acme: World, acme_api) -> None:
    bad = adjust(acme_api, "k-7", partner="NOBODY")
    assert bad.status_code == 400
    assert not IdempotencyRecord.all_tenants.filter(key="k-7").exists()
    good = adjust(acme_api, "k-7", partner=acme.partner.external_id)
    assert good.status_code == 201
    assert not good.has_header("Idempotent-Replayed")


def test_a_replay_never_double_posts_even_if_the_api_record_is_lost(acme: World) -> None:
    api_key, token = make_key(acme)
    client = api_client(acme, token)
    assert adjust(client, "k-8", partner=acme.partner.external_id).status_code == 201
    IdempotencyRecord.all_tenants.all().delete()
    again = adjust(client, "k-8", partner=acme.partner.external_id)
    assert again.status_code == 201
    assert entries(acme) == [(50, f"api:{api_key.prefix}:k-8")]


@pytest.mark.parametrize("key", ["", " ", "-starts-with-dash", "has space", "x" * 151])
def test_invalid_keys_are_refused_before_anything_runs(acme: World, acme_api, key: str) -> None:
    response = adjust(acme_api, key, partner=acme.partner.external_id)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"idempotency_key_missing", "idempotency_key_invalid"}
    assert entries(acme) == []


def test_redemptions_replay_without_a_second_debit(acme: World, acme_api, acme_objects: Objects) -> None:
    body = {"partner": acme.partner.external_id, "reward": acme_objects.reward.sku}
    responses = [
        acme_api.post("/api/v1/redemptions/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="r-1")
        for _ in range(3)
    ]
    assert [response.status_code for response in responses] == [201, 201, 201]
    assert responses[1].json() == responses[0].json() == responses[2].json()
    with tenant_context(acme.tenant):
        assert Redemption.objects.count() == 2  # the seeded one and this one
        assert points_account_for(partner=acme.partner).balance == 800


def test_records_older_than_a_day_are_purged_by_the_hourly_task(acme: World, acme_api) -> None:
    adjust(acme_api, "old", partner=acme.partner.external_id)
    adjust(acme_api, "new", partner=acme.partner.external_id, points=5)
    IdempotencyRecord.all_tenants.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_purge.delay().get() == 1
    assert list(IdempotencyRecord.all_tenants.values_list("key", flat=True)) == ["new"]
    assert idempotency_records_purge(now=timezone.now() + timedelta(hours=23)) == 0


@pytest.mark.django_db
def test_the_purge_is_scheduled_in_beat() -> None:
    task = PeriodicTask.objects.get(task="api.idempotency_purge")
    assert (task.enabled, task.crontab.minute, task.crontab.hour) == (True, "40", "*")


# --- Real concurrency (PostgreSQL) -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_request_while_the_first_is_in_flight_is_409(acme: World) -> None:
    """The first request is held inside the ledger (its account row is locked by another transaction), so it is
    certainly in flight when the second arrives."""
    if not is_postgresql():
        pytest.skip("row locks need PostgreSQL")
    api_key, token = make_key(acme)
    with tenant_context(acme.tenant):
        account = points_account_for(partner=acme.partner)
    locked, release = threading.Event(), threading.Event()
    responses = {}

    def hold_the_account() -> None:
        with tenant_context(acme.tenant), transaction.atomic():
            PointsAccount.objects.select_for_update().get(pk=account.pk)
            locked.set()
            release.wait(30)
        connection.close()

    def first_request() -> None:
        responses["first"] = adjust(api_client(acme, token), "k-flight", partner=acme.partner.external_id)
        connection.close()

    holder = threading.Thread(target=hold_the_account)
    holder.start()
    assert locked.wait(10)
    first = threading.Thread(target=first_request)
    first.start()
    try:
        assert wait_for(lambda: IdempotencyRecord.all_tenants.filter(key="k-flight").exists(), 10)
        second = adjust(api_client(acme, token), "k-flight", partner=acme.partner.external_id)
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "idempotency_key_in_use"
    finally:
        release.set()
        holder.join(30)
        first.join(30)
    assert responses["first"].status_code == 201
    replay = adjust(api_client(acme, token), "k-flight", partner=acme.partner.external_id)
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (201, "true")
    assert entries(acme) == [(50, f"api:{api_key.prefix}:k-flight")]


@pytest.mark.django_db(transaction=True)
def test_racing_requests_with_one_key_post_exactly_once(acme: World) -> None:
    if not is_postgresql():
        pytest.skip("a real race needs PostgreSQL")
    api_key, token = make_key(acme)

    def work(_index: int):
        return adjust(api_client(acme, token), "k-race", partner=acme.partner.external_id)

    results = run_concurrently(acme.tenant, 8, work)
    statuses = sorted((response.status_code, response.get("Idempotent-Replayed", "")) for response in results)
    assert statuses.count((201, "")) == 1
    assert all(status in {(201, ""), (201, "true"), (409, "")} for status in statuses), statuses
    assert entries(acme) == [(50, f"api:{api_key.prefix}:k-race")]
    with tenant_context(acme.tenant):
        assert ledger_verify().breaches == []


def test_a_claim_left_in_flight_by_a_dead_request_is_taken_over_after_five_minutes(acme: World) -> None:
    api_key, _token = make_key(acme)
    with tenant_context(acme.tenant):
        assert idempotency_claim(key="k-dead", api_key=api_key, fingerprint="f").outcome == "claimed"
        assert idempotency_claim(key="k-dead", api_key=api_key, fingerprint="f").outcome == "in_flight"
        assert idempotency_claim(key="k-dead", api_key=api_key, fingerprint="g").outcome == "mismatch"
        IdempotencyRecord.objects.filter(key="k-dead").update(created_at=timezone.now() - timedelta(minutes=6))
        assert idempotency_claim(key="k-dead", api_key=api_key, fingerprint="f").outcome == "claimed"
        assert idempotency_claim(key="k-dead", api_key=api_key, fingerprint="f").outcome == "in_flight"
