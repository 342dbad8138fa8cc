"""The reward pages in Chromium: catalog cards, the confirmation step, the history; phone width."""

import pytest

from loyalty.tenancy.context import tenant_context
from rewards.models import Reward
from tests.browser.conftest import shoot
from tests.conftest import World
from tests.rewards.factories import RewardFactory, code_pool_reward, give_points, put_at_tier

pytestmark = pytest.mark.browser


def test_partner_redeems_through_the_confirmation_and_sees_it_in_the_history(
    page, acme: World, sign_in, url_for
) -> None:
    with tenant_context(acme.tenant):
        give_points(acme.partner, 1200, "welcome")
        put_at_tier(acme.partner, 2)
        RewardFactory(name="Branded mug", points_cost=150, description="A sturdy mug with the program's logo.")
        RewardFactory(name="Sales training", points_cost=400, kind=Reward.Kind.TRAINING)
        RewardFactory(name="Partner summit trip", points_cost=900, kind=Reward.Kind.TRAVEL, minimum_tier_rank=3)
        RewardFactory(name="Noise-cancelling headphones", points_cost=2500, description="Over-ear, wireless.")
        RewardFactory(name="Limited hoodie", points_cost=300, stock=0)
        code_pool_reward(["GIFT-7H2K-99QX-4TLM"], name="Coffee gift card", points_cost=250)
    sign_in(page, acme, acme.partner_user)

    page.goto(url_for(acme, "/rewards/"))
    assert page.locator(".balance strong").inner_text() == "1,200"
    assert page.locator("article.reward").count() == 6
    assert "it needs Gold or above" in page.locator("article.reward", has_text="Partner summit trip").inner_text()
    assert (
        "Not enough points: 1,200 available, 2,500 needed."
        in page.locator("article.reward", has_text="headphones").inner_text()
    )
    shoot(page, "rewards", check_overflow=True)

    page.locator("article.reward", has_text="Coffee gift card").get_by_role("button", name="Redeem").click()
    assert page.locator("#balance-after").inner_text() == "950 points"
    shoot(page, "rewards-confirm", check_overflow=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm redemption").click()

    assert page.url.endswith("/rewards/history/")
    assert "Coffee gift card redeemed." in page.locator(".message").inner_text()
    card = page.locator("article.redemption", has_text="Coffee gift card")
    assert "GIFT-7H2K-99QX-4TLM" in card.inner_text()
    assert "Fulfilled" in card.inner_text()
    shoot(page, "rewards-history", check_overflow=True)
