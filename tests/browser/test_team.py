"""The team page in Chromium: a partner admin invites a colleague and sees the pending invitation; phone width."""

import pytest

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from tests.browser.conftest import shoot
from tests.conftest import World
from tests.factories import MembershipFactory

pytestmark = pytest.mark.browser


def test_partner_admin_invites_a_colleague(page, acme: World, sign_in, url_for) -> None:
    with tenant_context(acme.tenant):
        MembershipFactory(
            tenant=acme.tenant,
            user__email="a.very.long.address.for.a.colleague@partner-with-a-long-domain.acme.test",
            user__first_name="Maximiliana",
            user__last_name="Featherstonehaugh-Wolfeschlegel",
            role=Role.PARTNER_USER,
            partner=acme.partner,
        )
    sign_in(page, acme, acme.partner_admin)
    page.goto(url_for(acme, "/team/"))
    assert page.locator("#members tr.team-row").count() == 3
    assert page.locator("#members .rank").first.inner_text() == "1"

    form = page.locator("form.team-invite")
    form.get_by_label("Email").fill("new.colleague@partner.acme.test")
    form.get_by_label("Role").select_option("partner_admin")
    with page.expect_navigation():
        form.get_by_role("button", name="Send invitation").click()

    assert page.url.endswith("/team/")
    assert "Invitation sent to new.colleague@partner.acme.test." in page.locator(".message").inner_text()
    invitation = page.locator("#invitations tr.invitation", has_text="new.colleague@partner.acme.test")
    assert "Partner admin" in invitation.inner_text()
    assert invitation.get_by_role("button", name="Revoke").is_visible()
    shoot(page, "team", check_overflow=True)
