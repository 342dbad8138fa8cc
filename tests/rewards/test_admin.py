"""The rewards admin: the redemption review queue and code loading, for this tenant's program staff only."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import Client

from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.selectors import ledger_verify
from loyalty.ledger.services import points_account_for
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from rewards.codes import code_decrypt
from rewards.models import GiftCode, Redemption, Reward
from rewards.services import redemption_approve
from tests.conftest import World
from tests.rewards.factories import (
    RewardFactory,
    code_pool_reward,
    events_of,
    give_points,
    redeem,
    rewards_snapshot,
)
from tests.tiers.factories import revenue_program
from tiers.services import tier_model_publish

QUEUE = "/admin/rewards/redemption/"
REFUSED_ROLES = [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER]


def waiting_redemption(world: World, key: str = "order-1", **reward_fields: object) -> Redemption:
    """A redemption of a manual reward that needs approval: requested, its 300 points already debited."""
    with tenant_context(world.tenant):
        reward = RewardFactory(name=f"Headset {key}", points_cost=300, stock=5, requires_approval=True, **reward_fields)
        give_points(world.partner, 1000, f"seed-{key}")
        return redeem(world.partner, world.partner_user, reward, key)


def codes_url(reward: Reward) -> str:
    return f"/admin/rewards/reward/{reward.pk}/codes/"


def messages_of(response) -> list[str]:  # noqa: ANN001 - a test client response
    return [str(message) for message in get_messages(response.wsgi_request)]


def refreshed(world: World, redemption: Redemption) -> Redemption:
    with tenant_context(world.tenant):
        redemption.refresh_from_db()
        return redemption


def snapshot_of(world: World) -> dict:
    with tenant_context(world.tenant):
        return rewards_snapshot()


# --- The review queue --------------------------------------------------------------------------------------


def test_the_queue_lists_this_tenants_redemptions_and_why_they_wait(acme: World, globex: World, client_for) -> None:
    mine = waiting_redemption(acme)
    waiting_redemption(globex)

    response = client_for(acme, acme.manager).get(QUEUE, {"status__exact": "requested"})

    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == [mine.pk]
    assert b"the reward needs approval" in response.content


def test_approve_action_approves_the_selected_redemption(acme: World, client_for) -> None:
    redemption = waiting_redemption(acme)

    response = client_for(acme, acme.manager).post(QUEUE, {"action": "approve", ACTION_CHECKBOX_NAME: [redemption.pk]})

    assert response.status_code == 302
    assert messages_of(response) == ["1 approved."]
    assert refreshed(acme, redemption).status == "approved"
    with tenant_context(acme.tenant):
        assert events_of(redemption)[-1] == ("requested", "approved", acme.manager.pk, "")


def test_approve_action_on_a_code_pool_redemption_issues_the_code(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        reward = code_pool_reward(["CARD-7781"], points_cost=50, requires_approval=True)
        give_points(acme.partner, 50, "seed")
        redemption = redeem(acme.partner, acme.partner_user, reward, "order-1")

    client_for(acme, acme.manager).post(QUEUE, {"action": "approve", ACTION_CHECKBOX_NAME: [redemption.pk]})

    assert refreshed(acme, redemption).status == "fulfilled"
    with tenant_context(acme.tenant):
        assert [code_decrypt(code.code_encrypted) for code in redemption.codes.all()] == ["CARD-7781"]


def test_reject_action_asks_for_a_reason_then_rejects_and_refunds(acme: World, client_for) -> None:
    redemption = waiting_redemption(acme)
    client = client_for(acme, acme.manager)

    ask = client.post(QUEUE, {"action": "reject", ACTION_CHECKBOX_NAME: [redemption.pk]})

    assert ask.status_code == 200
    assert b"Reason (shown to the partner)" in ask.content
    assert b"Reject redemptions (the points are refunded)" in ask.content
    assert refreshed(acme, redemption).status == "requested"

    before = snapshot_of(acme)
    empty = client.post(
        QUEUE, {"action": "reject", ACTION_CHECKBOX_NAME: [redemption.pk], "confirmed": "1", "reason": "  "}
    )

    assert empty.status_code == 200
    assert b"A reason is required." in empty.content
    assert snapshot_of(acme) == before

    done = client.post(
        QUEUE,
        {"action": "reject", ACTION_CHECKBOX_NAME: [redemption.pk], "confirmed": "1", "reason": "Discontinued model"},
    )

    assert done.status_code == 302
    assert messages_of(done) == ["1 rejected."]
    assert refreshed(acme, redemption).status == "rejected"
    with tenant_context(acme.tenant):
        assert events_of(redemption)[-1] == ("requested", "rejected", acme.manager.pk, "Discontinued model")
        assert points_account_for(partner=acme.partner).balance == 1000
        refund = LedgerEntry.objects.get(kind=EntryKind.REFUND)
        assert (refund.points, refund.redemption_id, refund.memo) == (300, redemption.pk, "Discontinued model")
        assert Reward.objects.get(pk=redemption.reward_id).stock == 5
        assert ledger_verify().breaches == []


def test_fulfil_action_marks_approved_redemptions_fulfilled(acme: World, client_for) -> None:
    redemption = waiting_redemption(acme)
    with tenant_context(acme.tenant):
        redemption_approve(redemption=redemption, actor=acme.manager)

    response = client_for(acme, acme.manager).post(QUEUE, {"action": "fulfil", ACTION_CHECKBOX_NAME: [redemption.pk]})

    assert response.status_code == 302
    assert messages_of(response) == ["1 fulfilled."]
    assert refreshed(acme, redemption).status == "fulfilled"
    with tenant_context(acme.tenant):
        assert events_of(redemption)[-1] == ("approved", "fulfilled", acme.manager.pk, "")


def test_fulfil_action_refuses_a_redemption_not_yet_approved_and_changes_nothing(acme: World, client_for) -> None:
    redemption = waiting_redemption(acme)
    before = snapshot_of(acme)

    response = client_for(acme, acme.manager).post(QUEUE, {"action": "fulfil", ACTION_CHECKBOX_NAME: [redemption.pk]})

    assert messages_of(response) == [
        f"{redemption}: A redemption that is requested cannot become fulfilled.",
        "0 fulfilled.",
    ]
    assert snapshot_of(acme) == before


def test_a_redemption_cannot_be_added_or_deleted_in_the_admin(acme: World, client_for) -> None:
    redemption = waiting_redemption(acme)
    client = client_for(acme, acme.manager)

    assert client.get(f"{QUEUE}add/").status_code == 403
    assert client.post(f"{QUEUE}{redemption.pk}/delete/", {"post": "yes"}).status_code == 403
    assert refreshed(acme, redemption).status == "requested"


# --- Loading codes -----------------------------------------------------------------------------------------


def test_loading_codes_encrypts_them_and_grows_the_stock(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        reward = code_pool_reward(["FIRST-0001", "FIRST-0002"], name="Gift card")
    client = client_for(acme, acme.manager)
    assert client.get(codes_url(reward)).status_code == 200

    response = client.post(codes_url(reward), {"codes": "NEW-AAAA-1234\r\n\r\n  NEW-BBBB-5678  \nNEW-CCCC-9012\n"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/rewards/reward/"
    assert messages_of(response) == ["3 codes loaded into Gift card."]
    with tenant_context(acme.tenant):
        reward.refresh_from_db()
        assert reward.stock == 5
        codes = list(GiftCode.objects.filter(reward=reward).order_by("pk"))
        assert [code_decrypt(code.code_encrypted) for code in codes] == [
            "FIRST-0001",
            "FIRST-0002",
            "NEW-AAAA-1234",
            "NEW-BBBB-5678",
            "NEW-CCCC-9012",
        ]
        assert [code.last_four for code in codes[2:]] == ["1234", "5678", "9012"]
        assert all("NEW-" not in code.code_encrypted for code in codes)
        assert all(code.redemption_id is None and code.tenant_id == acme.tenant.pk for code in codes)


def test_loading_a_list_that_repeats_a_code_is_refused_and_loads_nothing(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        reward = code_pool_reward(["FIRST-0001"])
    before = snapshot_of(acme)

    response = client_for(acme, acme.manager).post(codes_url(reward), {"codes": "DUP-0001\nOTHER-0002\n DUP-0001\n"})

    assert response.status_code == 200
    assert response.context["form"].errors == {"codes": ["The list repeats a code."]}
    assert snapshot_of(acme) == before


def test_loading_a_code_already_in_the_pool_is_refused_and_loads_nothing(acme: World, client_for) -> None:
    """Two partners must never receive the same gift card, so a code loaded twice is refused like a repeat."""
    with tenant_context(acme.tenant):
        reward = code_pool_reward(["CARD-0001", "CARD-0002"])
    before = snapshot_of(acme)

    response = client_for(acme, acme.manager).post(codes_url(reward), {"codes": "CARD-0003\nCARD-0001\n"})

    with tenant_context(acme.tenant):
        pool = [code_decrypt(token) for token in GiftCode.objects.values_list("code_encrypted", flat=True)]
    assert sorted(pool) == ["CARD-0001", "CARD-0002"]
    assert response.status_code == 200
    assert snapshot_of(acme) == before


def test_codes_go_only_into_code_pool_rewards(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        reward = RewardFactory(stock=3)
    before = snapshot_of(acme)

    response = client_for(acme, acme.manager).post(codes_url(reward), {"codes": "CODE-0001\n"})

    assert response.status_code == 200
    assert response.context["form"].errors == {"codes": ["Only code-pool rewards take codes."]}
    assert snapshot_of(acme) == before


def test_the_reward_list_shows_free_codes_without_revealing_them(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        reward = code_pool_reward(["SECRET-CODE-0001", "SECRET-CODE-0002"])

    response = client_for(acme, acme.manager).get("/admin/rewards/reward/")

    assert response.status_code == 200
    assert f'2 free · <a href="{codes_url(reward)}">Load codes</a>'.encode() in response.content
    assert b"SECRET-CODE" not in response.content


# --- Another tenant's rows ----------------------------------------------------------------------------------


def test_codes_cannot_be_loaded_into_another_tenants_reward(acme: World, globex: World, client_for) -> None:
    with tenant_context(globex.tenant):
        foreign = code_pool_reward(["GLOBEX-0001"])
    before = snapshot_of(globex)
    client = client_for(acme, acme.manager)

    assert client.get(codes_url(foreign)).status_code == 404
    assert client.post(codes_url(foreign), {"codes": "INJECTED-0001\n"}).status_code == 404

    assert snapshot_of(globex) == before
    assert GiftCode.all_tenants.count() == 1


@pytest.mark.parametrize("action", ["approve", "reject", "fulfil"])
def test_another_tenants_redemptions_cannot_be_acted_on(acme: World, globex: World, client_for, action: str) -> None:
    requested = waiting_redemption(globex, "order-1")
    approved = waiting_redemption(globex, "order-2")
    with tenant_context(globex.tenant):
        redemption_approve(redemption=approved, actor=globex.manager)
    before = snapshot_of(globex)

    client_for(acme, acme.manager).post(
        QUEUE,
        {"action": action, ACTION_CHECKBOX_NAME: [requested.pk, approved.pk], "confirmed": "1", "reason": "Foreign"},
    )

    assert snapshot_of(globex) == before
    assert (refreshed(globex, requested).status, refreshed(globex, approved).status) == ("requested", "approved")


def test_another_tenants_redemption_cannot_be_opened(acme: World, globex: World, client_for) -> None:
    foreign = waiting_redemption(globex)

    response = client_for(acme, acme.manager).get(f"{QUEUE}{foreign.pk}/change/")

    # The admin answers a missing object by redirecting to its index with "doesn't exist".
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


# --- Who may use these pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", REFUSED_ROLES)
def test_only_program_staff_open_the_rewards_admin(acme: World, client_for, role: Role) -> None:
    redemption = waiting_redemption(acme)
    with tenant_context(acme.tenant):
        reward = code_pool_reward(["CARD-0001"])
    client = client_for(acme, acme.user_for(role))

    for path in (QUEUE, f"{QUEUE}{redemption.pk}/change/", "/admin/rewards/reward/", codes_url(reward)):
        assert client.get(path).status_code == 403, path
    for manager_role in (Role.PROGRAM_MANAGER, Role.OWNER):
        assert client_for(acme, acme.user_for(manager_role)).get(QUEUE).status_code == 200


@pytest.mark.parametrize("role", REFUSED_ROLES)
def test_other_roles_can_neither_act_on_redemptions_nor_load_codes(acme: World, client_for, role: Role) -> None:
    redemption = waiting_redemption(acme)
    with tenant_context(acme.tenant):
        reward = code_pool_reward(["CARD-0001"])
    before = snapshot_of(acme)
    client = client_for(acme, acme.user_for(role))

    for action in ("approve", "reject", "fulfil"):
        response = client.post(
            QUEUE, {"action": action, ACTION_CHECKBOX_NAME: [redemption.pk], "confirmed": "1", "reason": "Because"}
        )
        assert response.status_code == 403
    assert client.post(codes_url(reward), {"codes": "INJECTED-0001\n"}).status_code == 403

    assert snapshot_of(acme) == before


def test_an_outsider_and_another_tenants_manager_are_refused(acme: World, globex: World, outsider, client_for) -> None:  # noqa: ANN001 - outsider is a User
    redemption = waiting_redemption(acme)
    with tenant_context(acme.tenant):
        reward = code_pool_reward(["CARD-0001"])
    before = snapshot_of(acme)

    for user in (outsider, globex.manager):
        client = client_for(acme, user)
        assert client.get(QUEUE).status_code == 403
        assert client.post(QUEUE, {"action": "approve", ACTION_CHECKBOX_NAME: [redemption.pk]}).status_code == 403
        assert client.post(codes_url(reward), {"codes": "INJECTED-0001\n"}).status_code == 403

    assert snapshot_of(acme) == before


def test_an_anonymous_visitor_is_sent_to_sign_in(acme: World) -> None:
    response = Client(HTTP_HOST=acme.host).get(QUEUE, follow=True)

    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")
    assert response.status_code == 200


def test_a_rewards_lowest_tier_is_chosen_and_shown_by_name(acme: World, client_for) -> None:
    """Issue 17, item 23: a reward's minimum tier was a rank number to type and read; it is a select of the
    program's tiers, and the list names the tier."""
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
        reward = RewardFactory(name="Jacket", minimum_tier_rank=3)
    client = client_for(acme, acme.manager)

    form = client.get(f"/admin/rewards/reward/{reward.pk}/change/").context["adminform"].form
    assert form.fields["minimum_tier_rank"].choices == [
        ("", "Any tier"),
        (1, "Registered"),
        (2, "Silver"),
        (3, "Gold"),
        (4, "Platinum"),
    ]
    listing = client.get("/admin/rewards/reward/").content.decode()
    assert '<td class="field-minimum_tier">Gold</td>' in listing


def test_colours_are_picked_not_typed(acme: World, client_for) -> None:
    """Issue 17, item 23: a tier's and the program's colour use the browser's colour picker."""
    with tenant_context(acme.tenant):
        model = revenue_program().model
    client = client_for(acme, acme.manager)
    assert (
        'type="color" name="tiers-0-colour"'
        in client.get(f"/admin/tiers/tiermodel/{model.pk}/change/").content.decode()
    )
    settings_page = client.get(f"/admin/tenancy/programsettings/{acme.tenant.pk}/change/").content.decode()
    assert 'type="color" name="brand_colour"' in settings_page
