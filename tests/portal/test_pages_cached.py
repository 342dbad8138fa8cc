"""The rewards catalog and the statement's first page cached whole (portal/rewards.py `catalog`, portal/statement.py
`statement`): a warm page is the session, the user and one versions query, and one cache read; every write that
changes what they show shows on the next page.

Transactional, as tests/portal/test_dashboard_whole.py: inside pytest-django's own transaction the tenancy cache's
generations are unusable and nothing is cached; here each write commits, as in production. Each test warms the page,
writes one way, and reads the page again: with a version missing from the key, the old page would come back.
"""

from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.ledger.models import EntryKind
from loyalty.ledger.services import points_account_for, points_post
from loyalty.tenancy.context import tenant_context
from rewards.models import Reward
from rewards.services import redemption_cancel
from tests.conftest import World
from tests.portal.test_dashboard import silver_with_points
from tests.portal.test_dashboard_cache import per_response
from tests.rewards.factories import RewardFactory, redeem
from tiers.models import PartnerTier, Tier

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the pages are cached only in a shared cache (Redis)"),
]

WARM_QUERIES = 3  # session, user, the versions of what the page shows


@pytest.fixture
def scored(acme: World) -> World:
    world = silver_with_points(acme, points=1200, earned_days_ago=10)
    with tenant_context(world.tenant):
        RewardFactory(name="Coffee mug", points_cost=300)
    return world


def warm(client, path: str) -> str:
    """The page, once to fill the cache, then from it (asserting it was: the warm page's queries)."""
    client.get(path)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    assert len(captured.captured_queries) <= WARM_QUERIES, "\n".join(q["sql"] for q in captured.captured_queries)
    return response.content.decode()


def earn(world: World, points: int, memo: str) -> None:
    with tenant_context(world.tenant):
        account = points_account_for(partner=world.partner)
        points_post(account=account, kind=EntryKind.EARN, points=points, idempotency_key=f"earn:{points}", memo=memo)


@pytest.mark.parametrize("path", ["/rewards/", "/statement/"])
def test_a_warm_page_is_three_queries_and_the_same_page(
    scored: World, client_for, path: str, django_assert_max_num_queries
) -> None:
    client = client_for(scored, scored.partner_user)
    client.get("/")  # the member's first page after signing in (it writes what a first visit writes)
    first = client.get(path)
    with django_assert_max_num_queries(WARM_QUERIES):
        again = client.get(path)
    assert per_response(again.content.decode()) == per_response(first.content.decode())
    assert first.headers["Content-Security-Policy"] != again.headers["Content-Security-Policy"]


def test_a_posting_shows_at_once_on_both_pages(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert "<strong>1,200</strong>" in warm(client, "/rewards/")
    assert "Spring bonus" not in warm(client, "/statement/")
    earn(scored, 345, memo="Spring bonus")
    assert "<strong>1,545</strong>" in warm(client, "/rewards/")
    statement = warm(client, "/statement/")
    assert "Spring bonus" in statement
    assert "1,545" in statement  # the new entry's balance after


def test_a_redemption_and_its_cancellation_show_at_once(scored: World, client_for) -> None:
    with tenant_context(scored.tenant):
        reward = RewardFactory(name="Hoodie", points_cost=100, limit_per_partner=1, requires_approval=True)
    client = client_for(scored, scored.partner_user)
    assert "You have reached the limit" not in warm(client, "/rewards/")
    with tenant_context(scored.tenant):
        redemption = redeem(scored.partner, scored.partner_user, reward, "redeem-1")
    catalog = warm(client, "/rewards/")
    assert "<strong>1,100</strong>" in catalog
    assert "You have reached the limit for this reward" in catalog
    assert "Redeemed Hoodie × 1" in warm(client, "/statement/")
    with tenant_context(scored.tenant):
        redemption_cancel(redemption=redemption, actor=scored.partner_user)
    catalog = warm(client, "/rewards/")
    assert "<strong>1,200</strong>" in catalog
    assert "You have reached the limit" not in catalog
    assert "Refund of Hoodie × 1" in warm(client, "/statement/")


def test_a_new_reward_and_a_stock_change_show_at_once(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert "Headphones" not in warm(client, "/rewards/")
    with tenant_context(scored.tenant):
        headphones = RewardFactory(name="Headphones", points_cost=900, stock=3)
    assert "Headphones" in warm(client, "/rewards/")
    with tenant_context(scored.tenant):
        # A decrement as redemptions make it (an F() update: no save, no updated_at).
        Reward.objects.filter(pk=headphones.pk).update(stock=F("stock") - 3)
    assert "Out of stock." in warm(client, "/rewards/")
    with tenant_context(scored.tenant):
        Reward.objects.filter(pk=headphones.pk).update(status=Reward.Status.RETIRED)
    assert "Headphones" not in warm(client, "/rewards/")


def test_a_reward_entering_its_window_shows_with_the_clock(scored: World, client_for) -> None:
    opens = timezone.now() + timedelta(hours=1)
    with tenant_context(scored.tenant):
        RewardFactory(name="Early bird", points_cost=100, available_from=opens)
    client = client_for(scored, scored.partner_user)
    assert "This reward is available from" in warm(client, "/rewards/")
    later = opens + timedelta(minutes=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert "This reward is available from" not in warm(client, "/rewards/")


def test_a_tier_change_shows_at_once(scored: World, client_for) -> None:
    with tenant_context(scored.tenant):
        state = PartnerTier.objects.select_related("tier").get(partner=scored.partner)
        higher = Tier.objects.filter(model_id=state.tier.model_id, rank__gt=state.tier.rank).order_by("rank").first()
        RewardFactory(name="Golf day", points_cost=100, minimum_tier_rank=higher.rank)
    client = client_for(scored, scored.partner_user)
    assert "Your tier is too low for this reward" in warm(client, "/rewards/")
    with tenant_context(scored.tenant):
        PartnerTier.objects.filter(pk=state.pk).update(tier=higher)  # past the services, as an evaluation in SQL
    assert "Your tier is too low for this reward" not in warm(client, "/rewards/")


@pytest.mark.parametrize(
    ("path", "english", "spanish"),
    [("/rewards/", "<h1>Rewards</h1>", "<h1>Recompensas</h1>"), ("/statement/", ">Entries</h2>", ">Movimientos</h2>")],
)
def test_the_members_language_shows_at_once(scored: World, client_for, path: str, english: str, spanish: str) -> None:
    client = client_for(scored, scored.partner_user)
    assert english in warm(client, path)
    scored.partner_user.language = "es"
    scored.partner_user.save(update_fields=["language"])
    page = warm(client, path)
    assert spanish in page
    assert english not in page


def test_a_filtered_page_is_read_live(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    warm(client, "/rewards/")
    response = client.get("/rewards/?affordable=on")
    assert "Coffee mug" in response.content.decode()
    assert client.get("/statement/?kind=earn").status_code == 200


def test_two_tenants_and_two_partners_never_share_a_page(scored: World, globex: World, client_for) -> None:
    with tenant_context(globex.tenant):
        points_post(
            account=points_account_for(partner=globex.partner), kind=EntryKind.EARN, points=77, idempotency_key="g"
        )
    for path in ("/rewards/", "/statement/"):
        acme_page = warm(client_for(scored, scored.partner_user), path)
        globex_page = warm(client_for(globex, globex.partner_user), path)
        assert scored.partner.name in acme_page
        assert globex.partner.name not in acme_page
        assert globex.partner.name in globex_page
        assert scored.partner.name not in globex_page
