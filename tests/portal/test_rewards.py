"""The partner's reward pages: catalog states and filters, the redeem confirmation, history with codes, cancel."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.selectors import partner_points_get
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from rewards.models import Redemption, Reward
from rewards.services import reward_redeem
from tests.conftest import World
from tests.factories import MembershipFactory
from tests.rewards.factories import RewardFactory, code_pool_reward, give_points, put_at_tier, redeem, rewards_snapshot

KEY = "4f9b2c1e-0000-4000-8000-000000000001"


def balance_of(world: World) -> int:
    with tenant_context(world.tenant):
        return partner_points_get(partner_id=world.partner.pk).balance


def states(response) -> dict[str, tuple[str, str | None]]:
    return {entry.reward.name: (entry.reason, entry.refusal) for entry in response.context["entries"]}


@pytest.fixture
def stocked(acme: World) -> World:
    """Acme's partner with 500 points, at tier 2 (Silver), and a catalog with one reward in every state."""
    with tenant_context(acme.tenant):
        give_points(acme.partner, 500, "welcome")
        put_at_tier(acme.partner, 2)
        now = timezone.now()
        RewardFactory(name="Mug", points_cost=100, description="A sturdy mug.")
        RewardFactory(name="Course", points_cost=200, kind=Reward.Kind.TRAINING)
        RewardFactory(name="Trip", points_cost=400, kind=Reward.Kind.TRAVEL, minimum_tier_rank=3)
        RewardFactory(name="Hoodie", points_cost=150, stock=0)
        limited = RewardFactory(name="Cap", points_cost=50, limit_per_partner=1, limit_period=Reward.LimitPeriod.YEAR)
        RewardFactory(name="Laptop", points_cost=800)
        RewardFactory(name="Soon", points_cost=100, available_from=now + timedelta(days=3))
        RewardFactory(name="Gone", points_cost=100, available_until=now - timedelta(days=3))
        RewardFactory(name="Hidden", points_cost=10, status=Reward.Status.HIDDEN)
        RewardFactory(name="Retired", points_cost=10, status=Reward.Status.RETIRED)
        redeem(acme.partner, acme.partner_user, limited, "cap-once")  # 450 points left
    return acme


# --- Catalog -----------------------------------------------------------------------------------------------------


def test_catalog_shows_each_reward_with_an_honest_state(stocked: World, client_for) -> None:
    response = client_for(stocked, stocked.partner_user).get("/rewards/")
    assert response.status_code == 200
    assert states(response) == {
        "Cap": ("limit", "You have reached the limit for this reward (1 per year)."),
        "Mug": ("", None),
        "Soon": ("unavailable", f"This reward is available from {timezone.localdate() + timedelta(days=3)}."),
        "Gone": ("unavailable", f"This reward was available until {timezone.localdate() - timedelta(days=3)}."),
        "Hoodie": ("stock", "Out of stock."),
        "Course": ("", None),
        "Trip": ("tier", "Your tier is too low for this reward: it needs Gold or above."),
        "Laptop": ("points", "Not enough points: 450 available, 800 needed."),
    }
    entries = {entry.reward.name: entry for entry in response.context["entries"]}
    assert entries["Laptop"].points_missing == 350
    assert entries["Trip"].tier_needed == "Gold"
    page = response.content.decode()
    assert "<strong>450</strong>" in page
    assert "A sturdy mug." in page
    assert "Training" in page
    assert "Hidden" not in page
    assert "Retired" not in page
    assert page.count('role="button">Redeem</a>') == 2


def test_catalog_filters_affordable_and_kind(stocked: World, client_for) -> None:
    client = client_for(stocked, stocked.partner_user)
    affordable = client.get("/rewards/", {"affordable": "on"})
    assert sorted(states(affordable)) == ["Cap", "Course", "Gone", "Hoodie", "Mug", "Soon", "Trip"]
    training = client.get("/rewards/", {"kind": "training"})
    assert list(states(training)) == ["Course"]
    both = client.get("/rewards/", {"kind": "travel", "affordable": "on"})
    assert list(states(both)) == ["Trip"]
    nothing = client.get("/rewards/", {"kind": "experience"})
    assert "No reward matches these filters." in nothing.content.decode()
    unknown = client.get("/rewards/", {"kind": "bogus"})
    assert len(states(unknown)) == 8  # an unknown kind is ignored, not a 500


def test_catalog_query_count_does_not_grow_with_the_catalog(
    acme: World, client_for, django_assert_max_num_queries
) -> None:
    with tenant_context(acme.tenant):
        give_points(acme.partner, 500, "welcome")
        put_at_tier(acme.partner, 2)

        def add(count: int, offset: int) -> None:
            for index in range(offset, offset + count):
                reward = RewardFactory(
                    points_cost=100 + index, minimum_tier_rank=1 + index % 4, limit_per_partner=index % 3 or None
                )
                if index % 5 == 0 and (reward.minimum_tier_rank or 0) <= 2:
                    redeem(acme.partner, acme.partner_user, reward, f"k-{index}")

        add(3, 0)
    client = client_for(acme, acme.partner_user)
    # session, user, tenant + domain, membership, the balance, rewards, tier rank, tier names, limit usage, unread
    # notifications in the header
    budget = 10
    with django_assert_max_num_queries(budget):
        assert len(client.get("/rewards/").context["entries"]) == 3
    with tenant_context(acme.tenant):
        add(12, 3)
    with django_assert_max_num_queries(budget):
        assert len(client.get("/rewards/").context["entries"]) == 15


# --- Redeem ------------------------------------------------------------------------------------------------------


def test_confirmation_shows_quantity_cost_and_balance_after(stocked: World, client_for) -> None:
    with tenant_context(stocked.tenant):
        mug = Reward.objects.get(name="Mug")
    response = client_for(stocked, stocked.partner_user).get(f"/rewards/{mug.pk}/redeem/", {"quantity": 2}, follow=True)
    assert response.status_code == 200
    assert (response.context["quantity"], response.context["cost"], response.context["balance_after"]) == (2, 200, 250)
    page = response.content.decode()
    assert '<dd class="" id="balance-after">250 points</dd>' in page
    key = response.context["intent"]
    assert response.redirect_chain == [(f"/rewards/{mug.pk}/redeem/?intent={key}&quantity=2", 302)]
    assert f'name="idempotency_key" value="{key}"' in page
    assert '<input type="hidden" name="points" value="200">' in page
    assert ">Redeem 2 for 200 points</button>" in page
    assert not response.context["is_refused"]


def test_redeem_debits_points_creates_the_redemption_and_lands_on_the_history(stocked: World, client_for) -> None:
    with tenant_context(stocked.tenant):
        mug = Reward.objects.get(name="Mug")
    client = client_for(stocked, stocked.partner_user)
    response = client.post(
        f"/rewards/{mug.pk}/redeem/", {"quantity": 2, "idempotency_key": KEY, "points": 200}, follow=True
    )
    assert response.redirect_chain == [("/rewards/history/", 302)]
    assert "Mug redeemed." in response.content.decode()
    with tenant_context(stocked.tenant):
        redemption = Redemption.objects.get(idempotency_key=KEY)
        assert (redemption.partner, redemption.requested_by, redemption.quantity, redemption.points) == (
            stocked.partner,
            stocked.partner_user,
            2,
            200,
        )
        assert LedgerEntry.objects.get(redemption=redemption, kind=EntryKind.REDEEM).points == -200
    assert balance_of(stocked) == 250


def test_merchandise_asks_where_to_ship_and_which_option_before_anything_is_spent(stocked: World, client_for) -> None:
    """Issue 17, item 24: merchandise was redeemed with no address and no size. The confirmation asks for the
    address (merchandise) and one of the reward's options; without them nothing is spent, and what was typed stays."""
    with tenant_context(stocked.tenant):
        tee = RewardFactory(name="T-shirt", points_cost=100, kind=Reward.Kind.MERCHANDISE, options="S, M, L")
    client = client_for(stocked, stocked.partner_user)
    page = client.get(f"/rewards/{tee.pk}/redeem/", follow=True)
    content = page.content.decode()
    assert 'name="shipping_address"' in content
    assert '<option value="M">M</option>' in content

    refused = client.post(
        f"/rewards/{tee.pk}/redeem/",
        {"quantity": 1, "idempotency_key": KEY, "points": 100, "option": "XXL", "shipping_address": "  "},
    )
    assert refused.status_code == 200
    refused_form = refused.context["delivery"]
    assert refused_form.errors["shipping_address"] == ["This field is required."]
    assert "Select a valid choice." in refused_form.errors["option"][0]
    assert balance_of(stocked) == 450
    with tenant_context(stocked.tenant):
        assert not Redemption.objects.filter(idempotency_key=KEY).exists()

    client.post(
        f"/rewards/{tee.pk}/redeem/",
        {"quantity": 1, "idempotency_key": KEY, "points": 100, "option": "M", "shipping_address": "1 Quay St, Cork"},
    )
    with tenant_context(stocked.tenant):
        redemption = Redemption.objects.get(idempotency_key=KEY)
    assert (redemption.option, redemption.shipping_address) == ("M", "1 Quay St, Cork")
    assert balance_of(stocked) == 350
    history = client.get("/rewards/history/").content.decode()
    assert "T-shirt · M" in history
    assert "1 Quay St, Cork" in history


def test_the_service_refuses_merchandise_without_an_address_whoever_calls(stocked: World) -> None:
    with tenant_context(stocked.tenant):
        tee = RewardFactory(name="T-shirt", points_cost=100, kind=Reward.Kind.MERCHANDISE, options="S, M")
        with pytest.raises(ValidationError) as refused:
            reward_redeem(partner=stocked.partner, requested_by=stocked.partner_user, reward=tee, idempotency_key=KEY)
        assert refused.value.message_dict == {
            "option": ["Choose one of: S, M."],
            "shipping_address": ["Give the address to ship it to."],
        }
        assert not Redemption.objects.filter(reward=tee).exists()
    assert balance_of(stocked) == 450


def test_a_double_submit_with_the_same_key_redeems_once(stocked: World, client_for) -> None:
    with tenant_context(stocked.tenant):
        mug = Reward.objects.get(name="Mug")
    client = client_for(stocked, stocked.partner_admin)
    for _attempt in range(2):
        response = client.post(f"/rewards/{mug.pk}/redeem/", {"quantity": 1, "idempotency_key": KEY, "points": 100})
        assert response.status_code == 302
    with tenant_context(stocked.tenant):
        assert Redemption.objects.filter(reward=mug).count() == 1
    assert balance_of(stocked) == 350


def test_a_reused_key_for_another_reward_asks_to_confirm_again(stocked: World, client_for) -> None:
    with tenant_context(stocked.tenant):
        mug, course = Reward.objects.get(name="Mug"), Reward.objects.get(name="Course")
    client = client_for(stocked, stocked.partner_user)
    client.post(f"/rewards/{mug.pk}/redeem/", {"quantity": 1, "idempotency_key": KEY, "points": 100})
    response = client.post(f"/rewards/{course.pk}/redeem/", {"quantity": 1, "idempotency_key": KEY, "points": 200})
    assert response.status_code == 200
    assert "already used for another redemption" in response.context["error"]
    assert response.context["intent"] != KEY
    assert balance_of(stocked) == 350


@pytest.mark.parametrize(
    ("name", "quantity", "message"),
    [
        ("Laptop", 1, "Not enough points: 450 available, 800 needed."),
        ("Hoodie", 1, "Out of stock."),
        ("Trip", 1, "Your tier is too low for this reward: it needs Gold or above."),
        ("Cap", 1, "You have reached the limit for this reward (1 per year)."),
        ("Mug", 5, "Not enough points: 450 available, 500 needed."),
    ],
)
def test_a_refused_redemption_re_renders_the_confirmation_and_writes_nothing(
    stocked: World, client_for, name: str, quantity: int, message: str
) -> None:
    with tenant_context(stocked.tenant):
        reward = Reward.objects.get(name=name)
        before = rewards_snapshot()
    response = client_for(stocked, stocked.partner_user).post(
        f"/rewards/{reward.pk}/redeem/",
        {"quantity": quantity, "idempotency_key": KEY, "points": reward.points_cost * quantity},
    )
    assert response.status_code == 200
    assert response.context["error"] == message
    assert response.context["is_refused"]
    page = response.content.decode()
    assert message in page
    assert f" disabled>Redeem {quantity} for " in page
    with tenant_context(stocked.tenant):
        assert rewards_snapshot() == before


def test_the_confirmation_page_already_says_why_it_would_be_refused(stocked: World, client_for) -> None:
    with tenant_context(stocked.tenant):
        laptop = Reward.objects.get(name="Laptop")
    response = client_for(stocked, stocked.partner_user).get(f"/rewards/{laptop.pk}/redeem/", follow=True)
    assert response.context["error"] == "Not enough points: 450 available, 800 needed."
    assert response.context["balance_after"] == -350


def _post_form(page: str) -> str:
    """The HTML of the page's POST form (the one that redeems)."""
    start = page.index('<form method="post" action="/rewards/')
    return page[start : page.index("</form>", start)]


def test_the_quantity_typed_is_the_quantity_redeemed_and_the_button_says_so(stocked: World, client_for) -> None:
    """Issue 17, item 6: typing 3 and clicking confirm redeemed 1 (only "Update the cost" applied the quantity).

    The quantity input is part of the redeeming form, the button names the quantity and the points, and a
    quantity that no longer matches the points on the button is shown again to confirm, never redeemed as another.
    """
    with tenant_context(stocked.tenant):
        mug = Reward.objects.get(name="Mug")
    client = client_for(stocked, stocked.partner_user)
    page = client.get(f"/rewards/{mug.pk}/redeem/", follow=True).content.decode()
    form = _post_form(page)
    assert '<input type="number" name="quantity"' in form
    assert ">Redeem 1 for 100 points</button>" in form
    # The member types 3 (no script ran to refresh the button), then clicks "Redeem 1 for 100 points".
    response = client.post(f"/rewards/{mug.pk}/redeem/", {"quantity": 3, "idempotency_key": KEY, "points": 100})
    assert response.status_code == 200
    assert response.context["error"] == (
        "The cost is now 300 points, not the 100 you confirmed: check it and confirm again."
    )
    assert ">Redeem 3 for 300 points</button>" in response.content.decode()
    with tenant_context(stocked.tenant):
        assert not Redemption.objects.filter(reward=mug).exists()
    response = client.post(f"/rewards/{mug.pk}/redeem/", {"quantity": 3, "idempotency_key": KEY, "points": 300})
    assert response.status_code == 302
    with tenant_context(stocked.tenant):
        assert Redemption.objects.get(reward=mug).quantity == 3
    assert balance_of(stocked) == 150


def test_the_cost_refreshes_live_with_htmx(stocked: World, client_for) -> None:
    """Issue 17, item 6: changing the quantity refreshes the cost and the button's words (htmx partial)."""
    with tenant_context(stocked.tenant):
        mug = Reward.objects.get(name="Mug")
    response = client_for(stocked, stocked.partner_user).get(
        f"/rewards/{mug.pk}/redeem/", {"intent": KEY, "quantity": 4}, HTTP_HX_REQUEST="true"
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="redeem-summary">')
    assert ">Redeem 4 for 400 points</button>" in page
    assert '<input type="hidden" name="points" value="400">' in page
    assert "<html" not in page


def test_a_price_change_after_the_confirmation_page_redeems_nothing(stocked: World, client_for) -> None:
    """Issue 17, item 6: what the button showed is what is redeemed, even when the program changes the cost."""
    with tenant_context(stocked.tenant):
        mug = Reward.objects.get(name="Mug")
        Reward.objects.filter(pk=mug.pk).update(points_cost=120)
        before = rewards_snapshot()
    response = client_for(stocked, stocked.partner_user).post(
        f"/rewards/{mug.pk}/redeem/", {"quantity": 1, "idempotency_key": KEY, "points": 100}
    )
    assert response.status_code == 200
    assert response.context["error"].startswith("The cost is now 120 points, not the 100 you confirmed")
    with tenant_context(stocked.tenant):
        assert rewards_snapshot() == before


def test_reload_or_back_after_redeeming_shows_already_redeemed_and_redeems_once(stocked: World, client_for) -> None:
    """Issue 17, item 7: the back button after redeeming created a second redemption (a new key per page load).

    The key belongs to the intent: it is issued once per confirmation page, in its URL, so a reload or the back
    button keeps it; the page then says "already redeemed" and links to the redemption, and a resubmission of
    the old page redeems nothing.
    """
    with tenant_context(stocked.tenant):
        mug = Reward.objects.get(name="Mug")
    client = client_for(stocked, stocked.partner_user)
    first = client.get(f"/rewards/{mug.pk}/redeem/", {"quantity": 2}, follow=True)
    confirmation_url, _status = first.redirect_chain[-1]
    intent = first.context["intent"]
    assert client.get(confirmation_url).context["intent"] == intent  # a reload keeps the key
    posted = client.post(f"/rewards/{mug.pk}/redeem/", {"quantity": 2, "idempotency_key": intent, "points": 200})
    assert posted["Location"] == "/rewards/history/"
    with tenant_context(stocked.tenant):
        redemption = Redemption.objects.get(reward=mug)

    back = client.get(confirmation_url)  # the back button (or a reload) on the confirmation page
    page = back.content.decode()
    assert back.status_code == 200
    assert "Already redeemed" in page
    assert "Nothing was redeemed again." in page
    assert f'href="/rewards/history/#redemption-{redemption.pk}"' in page
    assert "Redeem 2 for 200 points" not in page

    # The page the browser kept (bfcache) is submitted again, even with another quantity: still one redemption.
    for quantity in (2, 1):
        again = client.post(
            f"/rewards/{mug.pk}/redeem/", {"quantity": quantity, "idempotency_key": intent, "points": 100 * quantity}
        )
        assert again.status_code == 302
        assert "Already redeemed" in client.get(again["Location"]).content.decode()
    with tenant_context(stocked.tenant):
        assert Redemption.objects.filter(reward=mug).count() == 1
    assert balance_of(stocked) == 250

    fresh = client.get(f"/rewards/{mug.pk}/redeem/", follow=True)  # "Redeem it again": a new intent, a new key
    assert fresh.context["intent"] != intent


def test_hidden_and_retired_rewards_cannot_be_opened(stocked: World, client_for) -> None:
    client = client_for(stocked, stocked.partner_user)
    with tenant_context(stocked.tenant):
        ids = list(Reward.objects.filter(name__in=["Hidden", "Retired"]).values_list("pk", flat=True))
    for reward_id in ids:
        assert client.get(f"/rewards/{reward_id}/redeem/?intent={KEY}").status_code == 404
        assert client.post(f"/rewards/{reward_id}/redeem/", {"quantity": 1, "idempotency_key": KEY}).status_code == 404


# --- History and cancel ------------------------------------------------------------------------------------------


@pytest.fixture
def with_code(stocked: World) -> Redemption:
    with tenant_context(stocked.tenant):
        card = code_pool_reward(["GIFT-AAAA-1111", "GIFT-BBBB-2222"], name="Gift card", points_cost=100)
        return redeem(stocked.partner, stocked.partner_user, card, "card-1")


def test_history_shows_status_details_and_the_decrypted_code_to_the_partners_members(
    stocked: World, with_code: Redemption, client_for
) -> None:
    for user in (stocked.partner_user, stocked.partner_admin):
        response = client_for(stocked, user).get("/rewards/history/")
        page = response.content.decode()
        assert response.status_code == 200
        assert "GIFT-AAAA-1111" in page
        assert "GIFT-BBBB-2222" not in page  # still free in the pool
        assert "Fulfilled" in page
    assert [row.redemption.reward.name for row in response.context["rows"]] == ["Gift card", "Cap"]


def test_another_partners_member_never_sees_the_code_nor_cancels(
    stocked: World, with_code: Redemption, client_for
) -> None:
    with tenant_context(stocked.tenant):
        other = MembershipFactory(
            tenant=stocked.tenant,
            user__email="user@two.test",
            role=Role.PARTNER_USER,
            partner=stocked.unmanaged_partner,
        ).user
        cap = Redemption.objects.get(reward__name="Cap")
        before = rewards_snapshot()
    client = client_for(stocked, other)
    page = client.get("/rewards/history/").content.decode()
    assert "GIFT-AAAA-1111" not in page
    assert "Gift card" not in page
    assert "No redemptions yet." in page
    assert client.post(f"/rewards/history/{cap.pk}/cancel/").status_code == 404
    with tenant_context(stocked.tenant):
        assert rewards_snapshot() == before


def test_history_shows_tracking_and_credit_note(stocked: World, client_for) -> None:
    with tenant_context(stocked.tenant):
        Redemption.objects.filter(reward__name="Cap").update(tracking="1Z999", credit_note="CN-ACME-000001")
    page = client_for(stocked, stocked.partner_user).get("/rewards/history/").content.decode()
    assert "1Z999" in page
    assert "CN-ACME-000001" in page


def test_cancel_refunds_a_requested_redemption(stocked: World, client_for) -> None:
    with tenant_context(stocked.tenant):
        review = RewardFactory(name="Big screen", points_cost=300, requires_approval=True, stock=2)
        redemption = redeem(stocked.partner, stocked.partner_user, review, "review-1")
        assert redemption.status == Redemption.Status.REQUESTED
    assert balance_of(stocked) == 150
    client = client_for(stocked, stocked.partner_admin)
    assert f'href="/rewards/history/{redemption.pk}/cancel/"' in client.get("/rewards/history/").content.decode()
    response = client.post(f"/rewards/history/{redemption.pk}/cancel/", follow=True)
    assert response.redirect_chain == [("/rewards/history/", 302)]
    assert "Big screen cancelled: 300 points are back in your balance." in response.content.decode()
    assert balance_of(stocked) == 450
    with tenant_context(stocked.tenant):
        redemption.refresh_from_db()
        review.refresh_from_db()
        assert (redemption.status, review.stock) == (Redemption.Status.CANCELLED, 2)


def test_cancel_refuses_a_fulfilled_redemption_without_writing(
    stocked: World, with_code: Redemption, client_for
) -> None:
    with tenant_context(stocked.tenant):
        before = rewards_snapshot()
    client = client_for(stocked, stocked.partner_user)
    assert f"/rewards/history/{with_code.pk}/cancel/" not in client.get("/rewards/history/").content.decode()
    response = client.post(f"/rewards/history/{with_code.pk}/cancel/", follow=True)
    assert "Only a redemption still waiting for review can be cancelled." in response.content.decode()
    with tenant_context(stocked.tenant):
        assert rewards_snapshot() == before


def test_cancel_asks_first(stocked: World, client_for) -> None:
    with tenant_context(stocked.tenant):
        cap = Redemption.objects.get(reward__name="Cap")
    response = client_for(stocked, stocked.partner_user).get(f"/rewards/history/{cap.pk}/cancel/")
    assert response.status_code == 200
    assert "Only a redemption still waiting for review can be cancelled." in response.content.decode()


# --- Who may ------------------------------------------------------------------------------------------------------

PAGES = ["/rewards/", "/rewards/history/", "/rewards/{reward}/redeem/"]


@pytest.mark.parametrize("role", [Role.OWNER, Role.PROGRAM_MANAGER, Role.ACCOUNT_MANAGER])
@pytest.mark.parametrize("path", PAGES)
def test_staff_are_refused(stocked: World, client_for, role: Role, path: str) -> None:
    with tenant_context(stocked.tenant):
        mug = Reward.objects.get(name="Mug")
    assert client_for(stocked, stocked.user_for(role)).get(path.format(reward=mug.pk)).status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_goes_to_sign_in_and_outsider_is_refused(stocked: World, outsider, client_for, path: str) -> None:
    with tenant_context(stocked.tenant):
        mug = Reward.objects.get(name="Mug")
    response = client_for(stocked).get(path.format(reward=mug.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client_for(stocked, outsider).get(path.format(reward=mug.pk)).status_code == 403


def test_another_tenants_member_is_refused_and_rewards_of_another_tenant_are_404(
    stocked: World, globex: World, client_for
) -> None:
    with tenant_context(stocked.tenant):
        mug = Reward.objects.get(name="Mug")
        cap = Redemption.objects.get(reward__name="Cap")
        before = rewards_snapshot()
    assert client_for(stocked, globex.partner_user).get("/rewards/").status_code == 403
    globex_client = client_for(globex, globex.partner_user)
    assert globex_client.get(f"/rewards/{mug.pk}/redeem/").status_code == 404
    assert globex_client.post(f"/rewards/{mug.pk}/redeem/", {"quantity": 1, "idempotency_key": KEY}).status_code == 404
    assert globex_client.post(f"/rewards/history/{cap.pk}/cancel/").status_code == 404
    assert "Mug" not in globex_client.get("/rewards/").content.decode()
    with tenant_context(stocked.tenant):
        assert rewards_snapshot() == before
