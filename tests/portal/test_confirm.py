"""Confirm first (portal/confirm.py): every destructive action of the portal asks before it acts, and is safe to repeat.

Issue 17, item 19: Team → Remove, Team → Revoke and Cancel redemption acted on one click.
"""

import pytest

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Invitation, Membership, Role
from rewards.models import Redemption
from tests.conftest import World
from tests.factories import InvitationFactory, MembershipFactory
from tests.rewards.factories import RewardFactory, give_points, redeem, rewards_snapshot


@pytest.fixture
def targets(acme: World) -> dict[str, str]:
    """One target of each destructive action of the portal, by the URL of its action."""
    with tenant_context(acme.tenant):
        colleague = Membership.objects.get(user=acme.partner_user)
        invitation = InvitationFactory(
            tenant=acme.tenant, email="new@partner.test", role=Role.PARTNER_USER, partner=acme.partner
        )
        give_points(acme.partner, 500, "welcome")
        reward = RewardFactory(name="Big screen", points_cost=300, requires_approval=True)
        redemption = redeem(acme.partner, acme.partner_admin, reward, "review-1")
    return {
        "remove": f"/team/members/{colleague.pk}/remove/",
        "revoke": f"/team/invitations/{invitation.pk}/revoke/",
        "cancel": f"/rewards/history/{redemption.pk}/cancel/",
    }


def state(world: World) -> tuple:
    with tenant_context(world.tenant):
        return (
            Membership.objects.get(user=world.partner_user).is_active,
            Invitation.objects.get(email="new@partner.test").revoked_at,
            Redemption.objects.get(idempotency_key="review-1").status,
            rewards_snapshot(),
        )


QUESTIONS = {
    "remove": ("Remove a member", "from the team?", "Remove from the team", "/team/"),
    "revoke": (
        "Revoke the invitation",
        "Revoke the invitation to new@partner.test?",
        "Revoke the invitation",
        "/team/",
    ),
    "cancel": (
        "Cancel a redemption",
        "Cancel your redemption of 1 × Big screen?",
        "Cancel the redemption",
        "/rewards/",
    ),
}
ALREADY = {
    "remove": "was already removed from the team.",
    "revoke": "The invitation to new@partner.test was already revoked.",
    "cancel": "Big screen was already cancelled; its points are back in your balance.",
}


@pytest.mark.parametrize("action", ["remove", "revoke", "cancel"])
def test_a_destructive_action_asks_first_and_writes_nothing_until_confirmed(
    acme: World, targets: dict[str, str], client_for, action: str
) -> None:
    """Issue 17, item 19: the list's button leads to a page that says what will happen; only its button acts."""
    client = client_for(acme, acme.partner_admin)
    listing = client.get(QUESTIONS[action][3] if action != "cancel" else "/rewards/history/").content.decode()
    assert f'<a href="{targets[action]}" role="button"' in listing  # a link to the question, not a form that acts
    before = state(acme)
    response = client.get(targets[action])
    page = response.content.decode()
    title, question, button, _back = QUESTIONS[action]
    assert response.status_code == 200
    assert f"<h1>{title}</h1>" in page
    assert question in page
    assert f'<form method="post" action="{targets[action]}">' in page
    assert f'<button type="submit" class="danger">{button}</button>' in page
    assert state(acme) == before


@pytest.mark.parametrize("action", ["remove", "revoke", "cancel"])
def test_a_confirmed_action_is_safe_to_repeat(acme: World, targets: dict[str, str], client_for, action: str) -> None:
    """Issue 17, item 19: a double click, a reload or the back button after confirming says "already", never fails."""
    client = client_for(acme, acme.partner_admin)
    assert client.post(targets[action]).status_code == 302
    after = state(acme)
    assert after != (True, None, Redemption.Status.REQUESTED, after[3])
    again = client.post(targets[action], follow=True)
    assert again.status_code == 200
    assert ALREADY[action] in again.content.decode()
    assert state(acme) == after
    # Coming back to the question itself says it is done and offers no button.
    page = client.get(targets[action]).content.decode()
    assert ALREADY[action] in page
    assert 'class="danger"' not in page


@pytest.mark.parametrize("action", ["remove", "revoke", "cancel"])
def test_other_partners_and_tenants_get_404_on_the_question_too(
    acme: World, globex: World, targets: dict[str, str], client_for, action: str
) -> None:
    with tenant_context(acme.tenant):
        other_admin = MembershipFactory(tenant=acme.tenant, role=Role.PARTNER_ADMIN, partner=acme.unmanaged_partner)
    before = state(acme)
    assert client_for(acme, other_admin.user).get(targets[action]).status_code == 404
    assert client_for(globex, globex.partner_admin).get(targets[action]).status_code == 404
    assert client_for(acme, globex.partner_admin).get(targets[action]).status_code == 403
    assert state(acme) == before


@pytest.mark.parametrize("role", [Role.PROGRAM_MANAGER, Role.ACCOUNT_MANAGER, Role.OWNER])
def test_staff_cannot_open_the_partners_questions(acme: World, targets: dict[str, str], client_for, role: Role) -> None:
    client = client_for(acme, acme.user_for(role))
    for url in targets.values():
        assert client.get(url).status_code == 403


def test_a_partner_user_cannot_open_the_team_questions(acme: World, targets: dict[str, str], client_for) -> None:
    client = client_for(acme, acme.partner_user)
    assert client.get(targets["remove"]).status_code == 403
    assert client.get(targets["revoke"]).status_code == 403
