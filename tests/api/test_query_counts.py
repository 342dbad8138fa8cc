"""Every list answers in a constant number of queries, whether it lists a few rows or many."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ExchangeRate, Partner
from partners.services import activity_record
from tests.api.conftest import api_client, make_key
from tests.conftest import World
from tests.factories import PartnerFactory
from tests.rewards.factories import RewardFactory, give_points, redeem
from tests.tiers.factories import revenue_program
from tiers.models import TierModel


def add_partners(world: World, count: int) -> None:
    for _ in range(count):
        PartnerFactory(tenant=world.tenant, partner_type=world.partner_type)


def add_activities(world: World, count: int) -> None:
    start = Activity.objects.count()
    for index in range(start, start + count):
        activity_record(
            partner=world.partner,
            kind="sale",
            occurred_at=timezone.now() - timedelta(hours=index + 1),
            source=Activity.Source.API,
            external_id=f"q-{index}",
            amount=Decimal(10),
            currency=world.tenant.currency,
        )


def add_entries(world: World, count: int) -> None:
    start = Partner.objects.count() * 1000 + timezone.now().microsecond
    for index in range(count):
        give_points(world.partner, 5, f"q-{start}-{index}")


def add_rewards(world: World, count: int) -> None:
    for _ in range(count):
        RewardFactory(tenant=world.tenant)


def add_redemptions(world: World, count: int) -> None:
    reward = RewardFactory(tenant=world.tenant, points_cost=1)
    give_points(world.partner, count, f"q-redeem-{timezone.now().timestamp()}")
    for _ in range(count):
        redeem(world.partner, world.partner_admin, reward, f"q-{timezone.now().timestamp()}")


def add_rates(world: World, count: int) -> None:
    start = timezone.localdate() - timedelta(days=ExchangeRate.objects.count() + count)
    for offset in range(count):
        ExchangeRate.objects.create(currency="EUR", day=start + timedelta(days=offset), rate=Decimal("1.08"))


def add_tier_models(world: World, count: int) -> None:
    start = TierModel.objects.count() + 1
    for version in range(start, start + count):
        revenue_program(version=version)


# path, rows added per step, what adds them, and the query budget. Every request starts with two queries: the
# tenant by its host (middleware) and the API key with its author; the comments name the rest.
LISTS: list[tuple[str, int, Callable[[World, int], None], int]] = [
    # the page of partners with their type and account manager
    ("/api/v1/partners/", 20, add_partners, 3),
    # the page of activities with their partner
    ("/api/v1/activities/", 20, add_activities, 3),
    # the page of entries with account, partner and actor
    ("/api/v1/ledger/entries/", 20, add_entries, 3),
    # the page of rewards
    ("/api/v1/rewards/", 20, add_rewards, 3),
    # the page of redemptions with partner and reward
    ("/api/v1/redemptions/", 20, add_redemptions, 3),
    # the page of exchange rates
    ("/api/v1/exchange-rates/", 20, add_rates, 3),
    # the page of tier models, then their tiers, gates, pathways, pathways' partner types and criteria
    ("/api/v1/tier-models/", 3, add_tier_models, 9),  # + the tiers' benefits, prefetched
]


@pytest.mark.parametrize(("path", "step", "add", "budget"), LISTS, ids=[row[0] for row in LISTS])
def test_lists_run_the_same_queries_for_few_and_many_rows(
    acme: World, path: str, step: int, add: Callable[[World, int], None], budget: int, django_assert_max_num_queries
) -> None:
    client = api_client(acme, make_key(acme)[1])
    counts = []
    for _size in (1, 2):
        with tenant_context(acme.tenant):
            add(acme, step)
        client.get(path)  # marks the key used: a write at most once a minute, not part of the budget
        with django_assert_max_num_queries(budget) as captured:
            response = client.get(path)
        assert response.status_code == 200
        assert len(response.json()["results"]) >= step
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1] == budget
