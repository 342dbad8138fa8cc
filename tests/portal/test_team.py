"""The partner's team page: the leaderboard, pending invitations, inviting, revoking, removing, who may do what."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from earning.models import EarningRule
from earning.services import activity_approve, activity_points_reverse
from imports.ingest import activities_ingest
from loyalty.ledger.models import PointsAccount
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Invitation, Membership, Role, User
from loyalty.tenancy.services import membership_deactivate
from partners.models import Activity, Claim
from partners.services import activity_record
from tests.conftest import World
from tests.factories import InvitationFactory, MembershipFactory

TEAM = "/team/"


def membership(world: World, user: User) -> Membership:
    with tenant_context(world.tenant):
        return Membership.objects.get(user=user)


def approved_sale(world: World, created_by: User, amount: str, external_id: str) -> Activity:
    with tenant_context(world.tenant):
        activity = activity_record(
            partner=world.partner,
            kind="sale",
            occurred_at=timezone.now() - timedelta(hours=1),
            source=Activity.Source.API,
            external_id=external_id,
            amount=Decimal(amount),
            currency="USD",
            created_by=created_by,
        ).activity
        activity_approve(activity=activity, actor=world.manager)
        return activity


def claim_by(world: World, user: User, external_id: str) -> None:
    with tenant_context(world.tenant):
        activity = activity_record(
            partner=world.partner,
            kind="sale",
            occurred_at=timezone.now() - timedelta(hours=2),
            source=Activity.Source.CLAIM,
            external_id=external_id,
            amount=Decimal(10),
            currency="USD",
            created_by=user,
        ).activity
        Claim.objects.create(
            partner=world.partner, submitted_by=user, claim_type=Claim.Type.SALE, activity=activity, amount=10
        )


@pytest.fixture
def sales_rule(acme: World) -> None:
    with tenant_context(acme.tenant):
        EarningRule.objects.create(
            name="Sales", activity_kind="sale", basis=EarningRule.Basis.PER_CURRENCY_UNIT, rate=Decimal(1)
        )


def test_members_are_ranked_by_points_their_activities_earned(acme: World, client_for, sales_rule) -> None:
    with tenant_context(acme.tenant):
        third = MembershipFactory(
            tenant=acme.tenant, user__email="third@partner.acme.test", role=Role.PARTNER_USER, partner=acme.partner
        ).user
        # Another partner's member: never on our board.
        MembershipFactory(tenant=acme.tenant, role=Role.PARTNER_USER, partner=acme.unmanaged_partner)
    approved_sale(acme, acme.partner_user, "300", "S-1")
    approved_sale(acme, acme.partner_user, "200", "S-2")
    approved_sale(acme, acme.partner_admin, "100", "S-3")
    claim_by(acme, acme.partner_admin, "C-1")  # pending: counts as a claim, earns nothing yet
    claim_by(acme, acme.partner_admin, "C-2")

    response = client_for(acme, acme.partner_admin).get(TEAM)

    assert response.status_code == 200
    board = response.context["board"]
    rows = [(r["rank"], r["membership"].user, r["points"], r["claims"]) for r in board.rows]
    assert rows == [(1, acme.partner_user, 500, 0), (2, acme.partner_admin, 100, 2), (3, third, 0, 0)]
    assert (board.earned, board.unattributed) == (600, 0)
    assert response.context["can_manage"] is True
    # A plain partner user cannot open the team page at all.
    assert client_for(acme, acme.partner_user).get(TEAM).status_code == 403


def test_the_board_credits_named_members_nets_reversals_and_reconciles_with_the_company(
    acme: World, client_for, sales_rule
) -> None:
    """Issue 17, item 13: members ranked 1, 2, 2 with 0 points while the company earned 596k: API and CSV rows
    credited nobody, and reversed earnings still counted. A row naming a member credits that member; a reversal
    nets out; what no member is credited with is shown, so the board sums to the company's earnings."""
    reversed_sale = approved_sale(acme, acme.partner_user, "300", "S-1")
    moment = (timezone.now() - timedelta(hours=1)).isoformat()
    row = {"partner": acme.partner.external_id, "kind": "sale", "occurred_at": moment, "currency": "USD"}
    with tenant_context(acme.tenant):
        results = activities_ingest(
            rows=[
                {**row, "external_id": "API-1", "amount": "1000", "member": acme.partner_admin.email.upper()},
                {**row, "external_id": "API-2", "amount": "400"},
                {**row, "external_id": "API-3", "amount": "50", "member": acme.manager.email},
            ],
            source=Activity.Source.API,
            actor=None,
        )
        activity_points_reverse(activity=reversed_sale, actor=acme.manager, reason="Invoice cancelled")
    assert [result.status for result in results] == ["created", "created", "error"]
    assert results[2].errors == {"member": [f"'{acme.manager.email}' is not an active member of this partner."]}

    page = client_for(acme, acme.partner_admin).get(TEAM)

    board = page.context["board"]
    assert [(row["rank"], row["membership"].user, row["points"]) for row in board.rows] == [
        (1, acme.partner_admin, 1000),
        (2, acme.partner_user, 0),
    ]
    assert (board.earned, board.unattributed) == (1400, 400)
    with tenant_context(acme.tenant):
        assert PointsAccount.objects.get(partner=acme.partner).lifetime_earned == board.earned
    content = page.content.decode()
    assert "Not credited to a current member" in content
    assert 'data-label="Points earned">1,400</td>' in content


def test_partner_admin_sees_pending_invitations_and_the_invite_form(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        pending = InvitationFactory(
            tenant=acme.tenant, email="soon@partner.acme.test", role=Role.PARTNER_USER, partner=acme.partner
        )
        InvitationFactory(tenant=acme.tenant, email="staff@acme.test", role=Role.PROGRAM_MANAGER)  # not ours
        InvitationFactory(
            tenant=acme.tenant,
            email="old@partner.acme.test",
            role=Role.PARTNER_USER,
            partner=acme.partner,
            expires_at=timezone.now() - timedelta(days=1),
        )
    response = client_for(acme, acme.partner_admin).get(TEAM)
    assert list(response.context["invitations"]) == [pending]
    assert b"Send invitation" in response.content
    assert b"Revoke" in response.content
    assert 'value="partner_admin"' in response.content.decode()
    assert 'value="owner"' not in response.content.decode()


def test_partner_user_cannot_invite_revoke_or_remove(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        invitation = InvitationFactory(tenant=acme.tenant, role=Role.PARTNER_USER, partner=acme.partner)
    client = client_for(acme, acme.partner_user)
    admin = membership(acme, acme.partner_admin)
    assert client.post("/team/invite/", {"email": "x@example.com", "role": Role.PARTNER_USER}).status_code == 403
    assert client.post(f"/team/invitations/{invitation.pk}/revoke/").status_code == 403
    assert client.post(f"/team/members/{admin.pk}/remove/").status_code == 403
    with tenant_context(acme.tenant):
        assert not Invitation.objects.filter(email="x@example.com").exists()
        invitation.refresh_from_db()
        assert invitation.revoked_at is None
        admin.refresh_from_db()
        assert admin.is_active


def test_invite_emails_a_link(acme: World, client_for, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(acme, acme.partner_admin).post(
            "/team/invite/", {"email": "New.Colleague@Example.com", "role": Role.PARTNER_ADMIN}
        )
    assert response.status_code == 302
    assert response["Location"] == TEAM
    with tenant_context(acme.tenant):
        invitation = Invitation.objects.get(email="new.colleague@example.com")
    assert (invitation.role, invitation.partner, invitation.invited_by) == (
        Role.PARTNER_ADMIN,
        acme.partner,
        acme.partner_admin,
    )
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.colleague@example.com"]
    assert "http://acme.localhost/invitations/" in mail.outbox[0].body


@pytest.mark.parametrize("role", [Role.OWNER, Role.PROGRAM_MANAGER, Role.ACCOUNT_MANAGER, "nonsense"])
def test_invite_with_a_staff_role_is_refused(acme: World, client_for, role: str) -> None:
    response = client_for(acme, acme.partner_admin).post("/team/invite/", {"email": "boss@example.com", "role": role})
    assert response.status_code == 400
    assert "role" in response.context["form"].errors
    with tenant_context(acme.tenant):
        assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_invite_of_an_existing_member_is_refused(acme: World, client_for) -> None:
    response = client_for(acme, acme.partner_admin).post(
        "/team/invite/", {"email": acme.partner_user.email.upper(), "role": Role.PARTNER_USER}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["email"] == ["This person is already a member of the program."]
    assert "This person is already a member of the program." in response.content.decode()
    with tenant_context(acme.tenant):
        assert not Invitation.objects.exists()


def test_admin_revokes_an_invitation(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        invitation = InvitationFactory(tenant=acme.tenant, role=Role.PARTNER_USER, partner=acme.partner)
    client = client_for(acme, acme.partner_admin)
    response = client.post(f"/team/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert list(client.get(TEAM).context["invitations"]) == []


def test_admin_removes_a_colleague_who_then_gets_403(acme: World, client_for) -> None:
    colleague = membership(acme, acme.partner_user)
    response = client_for(acme, acme.partner_admin).post(f"/team/members/{colleague.pk}/remove/", follow=True)
    assert response.status_code == 200
    assert [row["membership"].user for row in response.context["board"].rows] == [acme.partner_admin]
    colleague.refresh_from_db()
    assert colleague.is_active is False
    assert client_for(acme, acme.partner_user).get(TEAM).status_code == 403
    assert client_for(acme, acme.partner_user).get("/rewards/").status_code == 403


def test_admin_cannot_remove_self_or_the_last_admin(acme: World, client_for) -> None:
    admin = membership(acme, acme.partner_admin)
    response = client_for(acme, acme.partner_admin).post(f"/team/members/{admin.pk}/remove/", follow=True)
    assert "You cannot remove yourself from the team." in response.content.decode()
    admin.refresh_from_db()
    assert admin.is_active
    # The service also keeps the partner's last active admin, whoever asks.
    with tenant_context(acme.tenant), pytest.raises(ValidationError, match="last active partner admin"):
        membership_deactivate(membership=admin, actor=acme.manager)
    admin.refresh_from_db()
    assert admin.is_active


def test_one_of_two_admins_can_be_removed(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        second = MembershipFactory(tenant=acme.tenant, role=Role.PARTNER_ADMIN, partner=acme.partner)
    response = client_for(acme, second.user).post(
        f"/team/members/{membership(acme, acme.partner_admin).pk}/remove/", follow=True
    )
    assert "was removed from the team" in response.content.decode()
    assert not membership(acme, acme.partner_admin).is_active


def test_admin_of_another_partner_cannot_touch_ours(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        other_admin = MembershipFactory(tenant=acme.tenant, role=Role.PARTNER_ADMIN, partner=acme.unmanaged_partner)
        invitation = InvitationFactory(tenant=acme.tenant, role=Role.PARTNER_USER, partner=acme.partner)
    client = client_for(acme, other_admin.user)
    assert client.post(f"/team/members/{membership(acme, acme.partner_user).pk}/remove/").status_code == 404
    assert client.post(f"/team/invitations/{invitation.pk}/revoke/").status_code == 404
    assert membership(acme, acme.partner_user).is_active
    # Their page shows their own team only.
    assert [row["membership"] for row in client.get(TEAM).context["board"].rows] == [other_admin]


def test_other_tenants_are_kept_out(acme: World, globex: World, client_for) -> None:
    assert client_for(acme, globex.partner_admin).get(TEAM).status_code == 403
    assert client_for(acme, globex.partner_admin).post("/team/invite/").status_code == 403
    acme_member = membership(acme, acme.partner_user)
    with tenant_context(acme.tenant):
        acme_invitation = InvitationFactory(tenant=acme.tenant, role=Role.PARTNER_USER, partner=acme.partner)
    globex_admin = client_for(globex, globex.partner_admin)
    assert globex_admin.post(f"/team/members/{acme_member.pk}/remove/").status_code == 404
    assert globex_admin.post(f"/team/invitations/{acme_invitation.pk}/revoke/").status_code == 404
    assert membership(acme, acme.partner_user).is_active


@pytest.mark.parametrize("role", [Role.OWNER, Role.PROGRAM_MANAGER, Role.ACCOUNT_MANAGER])
def test_staff_get_403(acme: World, client_for, role: Role) -> None:
    assert client_for(acme, acme.user_for(role)).get(TEAM).status_code == 403


def test_anonymous_goes_to_sign_in(acme: World, client_for) -> None:
    response = client_for(acme).get(TEAM)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/team/")


def test_get_on_actions_is_refused(acme: World, client_for) -> None:
    assert client_for(acme, acme.partner_admin).get("/team/invite/").status_code == 405


def _queries_for_team_of(acme: World, client_for, size: int) -> int:
    with tenant_context(acme.tenant):
        existing = Membership.objects.filter(partner=acme.partner, is_active=True).count()
        for index in range(existing, size):
            user = MembershipFactory(tenant=acme.tenant, role=Role.PARTNER_USER, partner=acme.partner).user
            approved_sale(acme, user, str(10 + index), f"Q-{size}-{index}")
            claim_by(acme, user, f"QC-{size}-{index}")
        InvitationFactory(tenant=acme.tenant, role=Role.PARTNER_USER, partner=acme.partner)
    client = client_for(acme, acme.partner_admin)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(TEAM)
    assert len(response.context["board"].rows) == size
    return len(queries)


def test_query_count_does_not_grow_with_the_team(acme: World, client_for, sales_rule) -> None:
    assert _queries_for_team_of(acme, client_for, 3) == _queries_for_team_of(acme, client_for, 12)
