"""Notifications in Chromium: the header's unread count, the centre, opening one; and an email as rendered HTML."""

import pytest
from django.core import mail

from earning.services import claim_reject
from loyalty.tenancy.context import tenant_context
from notifications.events import daily_notifications_raise
from notifications.sending import notifications_email_send
from tests.browser.conftest import shoot
from tests.conftest import World
from tests.portal.test_claims import make_claim
from tests.rewards.factories import give_points
from tests.tiers.factories import today

pytestmark = pytest.mark.browser


def test_member_reads_notifications_from_the_header(page, acme: World, sign_in, url_for) -> None:
    claim = make_claim(acme, invoice_number="INV-2026-0042")
    with tenant_context(acme.tenant):
        acme.tenant.points_expiry_months = 1
        acme.tenant.save(update_fields=["points_expiry_months"])
        give_points(acme.partner, 1_250, "old", days_ago=20)
        claim_reject(claim=claim, actor=acme.manager, reason="The invoice names another company; please resend it.")
        daily_notifications_raise(today=today())
    sign_in(page, acme, acme.partner_user)

    badge = page.locator("a.notifications-link .badge")
    assert badge.inner_text() == "3"  # claim decision, expiring points, monthly statement
    with page.expect_navigation():
        page.locator("a.notifications-link").click()
    assert page.locator("li.notification.unread").count() == 3
    assert "Claim INV-2026-0042 not approved" in page.locator("main").inner_text()
    shoot(page, "notifications", check_overflow=True)

    expiring = page.locator("li.notification", has_text="expire soon")
    with page.expect_navigation():
        expiring.get_by_role("button", name="Open").click()
    assert page.url.endswith("/statement/")
    assert page.locator("a.notifications-link .badge").inner_text() == "2"


def test_notification_email_renders_with_the_programs_branding(page, acme: World) -> None:
    claim = make_claim(acme, invoice_number="INV-2026-0042")
    with tenant_context(acme.tenant):
        # Committed here (a live-server test), so the on-commit task has sent it; a second run sends nothing more.
        claim_reject(claim=claim, actor=acme.manager, reason="The invoice names another company; please resend it.")
        assert notifications_email_send(tenant_id=acme.tenant.pk) == 0
    message = next(message for message in mail.outbox if message.to == [acme.partner_user.email])
    html, _mimetype = message.alternatives[0]

    page.set_content(html)

    assert page.locator("h1").inner_text() == "Claim INV-2026-0042 not approved"
    assert page.get_by_role("link", name="Stop these emails").get_attribute("href").startswith("http://acme.")
    shoot(page, "notification-email", check_overflow=True)
