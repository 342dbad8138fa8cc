"""POST /api/v1/redemptions/ (issue 24, item 4): the statements one redemption costs, and the redemption committing
with its stored answer (`@idempotent(atomic=True)`): one redemption and one debit under a same-key race, a server
error undoes the work and frees the key, a refusal is stored and replayed."""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from api import idempotency
from api.models import IdempotencyRecord
from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.selectors import ledger_verify
from loyalty.ledger.services import points_account_for
from loyalty.tenancy.context import tenant_context
from rewards import services as reward_services
from rewards.models import Redemption, RedemptionEvent, Reward
from tests.api.conftest import api_client, make_key
from tests.conftest import World
from tests.ledger.factories import is_postgresql
from tests.rewards.factories import RewardFactory, give_points
from tests.support import run_concurrently

REDEMPTIONS = "/api/v1/redemptions/"
# One automatically approved redemption, from the request's first statement to its last: the tenant by its host comes
# from the tenancy cache (the warm-up read it), and so does the API key (the warm-up's touch of its last use does
# not bump its family), so the request starts with the key's claim (one autocommitted INSERT); then one
# transaction: BEGIN, the partner and the reward named (serializer), the partner's account locked, the key looked up
# among redemptions (the reward as the serializer read it in this transaction: re-read only to lock one with a
# monthly cap), the redemption and its two history rows, the entry (unless its key is taken: no lookup first), the
# lots locked, then taken with their allocations (one statement), the account's totals, the partner's members with
# their preferences (one statement), the notification, the stored answer, COMMIT. The webhook endpoints come from
# the tenancy cache.
STATEMENTS = 16


def redeem_over_api(client: Client, world: World, reward: Reward, key: str):
    body = {"partner": world.partner.external_id, "reward": reward.sku}
    return client.post(REDEMPTIONS, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


def state(world: World) -> tuple[int, int, int]:
    """(redemptions, redeem entries, balance) of the world's partner."""
    with tenant_context(world.tenant):
        return (
            Redemption.objects.count(),
            LedgerEntry.objects.filter(kind=EntryKind.REDEEM).count(),
            points_account_for(partner=world.partner).balance,
        )


@pytest.fixture
def reward(acme: World) -> Reward:
    """100 points, approved at once; the partner holds 1,000 points in three lots (a debit spans two)."""
    with tenant_context(acme.tenant):
        for index, points in enumerate([60, 140, 800]):
            give_points(acme.partner, points, f"seed-{index}", days_ago=3 - index)
        return RewardFactory(points_cost=100)


def reward_reads(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if query["sql"].startswith('SELECT "rewards_reward"')]


@pytest.mark.django_db(transaction=True)
def test_the_reward_is_read_once_unless_a_monthly_cap_needs_it_locked(acme: World, reward: Reward) -> None:
    client = api_client(acme, make_key(acme)[1])
    assert redeem_over_api(client, acme, reward, "warm-up").status_code == 201
    with CaptureQueriesContext(connection) as captured:
        assert redeem_over_api(client, acme, reward, "uncapped").status_code == 201
    assert len(reward_reads(captured)) == 1  # the serializer's; the service uses it
    with tenant_context(acme.tenant):
        capped = RewardFactory(points_cost=100, monthly_cap_points=10_000)
    with CaptureQueriesContext(connection) as captured:
        assert redeem_over_api(client, acme, capped, "capped").status_code == 201
    reads = reward_reads(captured)
    assert len(reads) == 2
    assert reads[1].endswith("FOR UPDATE")  # the period's sum must not move while it is checked


@pytest.mark.django_db(transaction=True)
def test_one_redemption_costs_a_fixed_number_of_statements_and_one_commit(acme: World, reward: Reward) -> None:
    client = api_client(acme, make_key(acme)[1])
    assert redeem_over_api(client, acme, reward, "warm-up").status_code == 201  # marks the key used (once a minute)
    with CaptureQueriesContext(connection) as captured:
        response = redeem_over_api(client, acme, reward, "pinned")
    assert response.status_code == 201
    assert response.json()["status"] == "approved"
    statements = [query["sql"] for query in captured.captured_queries]
    # Tests run Celery eagerly: the notification email's task runs here once the request commits (a worker's work).
    statements = statements[: statements.index("COMMIT") + 1]
    assert len(statements) == STATEMENTS, "\n".join(statements)
    assert statements.count("BEGIN") == 1
    assert not any(sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")) for sql in statements)
    assert "ON CONFLICT DO NOTHING" in statements[0]  # the claim, before the transaction
    assert statements[-2].startswith('UPDATE "api_idempotencyrecord"')  # the answer, stored inside it
    with tenant_context(acme.tenant):
        redemption = Redemption.objects.get(idempotency_key__endswith=":pinned")
        assert list(redemption.events.values_list("from_status", "to_status", "actor_id", "reason_code")) == [
            ("", "requested", acme.manager.pk, ""),
            ("requested", "approved", None, "approved_automatically"),
        ]
        assert ledger_verify().breaches == []
    # Answered from the redemption as written, without re-reading it: what a later read of it says.
    assert response.json() == client.get(f"{REDEMPTIONS}{redemption.pk}/").json()
    assert state(acme) == (2, 2, 800)


@pytest.mark.django_db(transaction=True)
def test_racing_redemptions_with_one_key_redeem_once_and_answer_alike(acme: World, reward: Reward) -> None:
    """Real threads, each with its own connection: exactly one redemption and one debit; every 201 is the same
    redemption, and a request refused while the first was in flight (409) gets that answer when it retries."""
    if not is_postgresql():
        pytest.skip("a real race needs PostgreSQL")
    _api_key, token = make_key(acme)

    def work(_index: int):
        return redeem_over_api(api_client(acme, token), acme, reward, "k-race")

    results = run_concurrently(acme.tenant, 6, work)
    assert all(response.status_code in {201, 409} for response in results), results
    created = [response for response in results if response.status_code == 201]
    assert sum(not response.has_header("Idempotent-Replayed") for response in created) == 1
    first = created[0].json()
    assert all(response.json() == first for response in created)
    retried = redeem_over_api(api_client(acme, token), acme, reward, "k-race")
    assert (retried.status_code, retried.json(), retried["Idempotent-Replayed"]) == (201, first, "true")
    assert state(acme) == (1, 1, 900)
    with tenant_context(acme.tenant):
        assert ledger_verify().breaches == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("failing", ["work", "stored answer"])
def test_a_server_error_undoes_the_redemption_and_frees_the_key(
    acme: World, reward: Reward, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """A failure after the debit (in the event handlers), or while storing the answer, rolls the whole redemption
    back and releases the key: the retry redeems, once."""
    _api_key, token = make_key(acme)
    fail = threading.Event()
    fail.set()

    def broken(original):
        def call(*args, **kwargs):
            if fail.is_set():
                raise RuntimeError("the server failed")
            return original(*args, **kwargs)

        return call

    if failing == "work":
        monkeypatch.setattr(reward_services, "event_emit", broken(reward_services.event_emit))
    else:
        monkeypatch.setattr(idempotency, "idempotency_settle", broken(idempotency.idempotency_settle))
    client = Client(HTTP_HOST=acme.host, HTTP_AUTHORIZATION=f"Bearer {token}", raise_request_exception=False)
    response = redeem_over_api(client, acme, reward, "k-fail")
    assert response.status_code == 500
    assert state(acme) == (0, 0, 1000)
    assert not IdempotencyRecord.all_tenants.filter(key="k-fail").exists()
    with tenant_context(acme.tenant):
        assert not RedemptionEvent.objects.exists()
    fail.clear()
    retry = redeem_over_api(client, acme, reward, "k-fail")
    assert retry.status_code == 201
    assert not retry.has_header("Idempotent-Replayed")
    assert state(acme) == (1, 1, 900)
    with tenant_context(acme.tenant):
        assert ledger_verify().breaches == []


@pytest.mark.django_db(transaction=True)
def test_a_refused_redemption_is_stored_and_replayed_even_once_it_would_pass(acme: World) -> None:
    with tenant_context(acme.tenant):
        give_points(acme.partner, 50, "seed")
        reward = RewardFactory(points_cost=100)
    client = api_client(acme, make_key(acme)[1])
    refused = redeem_over_api(client, acme, reward, "k-refused")
    assert refused.status_code == 400
    assert "Not enough points" in str(refused.json())
    assert state(acme) == (0, 0, 50)
    with tenant_context(acme.tenant):
        give_points(acme.partner, 500, "top-up")
    replay = redeem_over_api(client, acme, reward, "k-refused")
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (400, refused.json(), "true")
    assert state(acme) == (0, 0, 550)
    assert redeem_over_api(client, acme, reward, "k-fresh").status_code == 201
