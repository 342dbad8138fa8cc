"""A registration's moves are heard: webhooks deal.submitted and deal.status_changed, notifications to the staff
(waiting for review) and to the partner's members (approved, rejected, expired), each once."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from deals.models import DealRegistration
from deals.services import deal_approve, deal_extend, deal_reject, deals_expire
from loyalty.tenancy.context import tenant_context
from notifications.emails import notification_text
from notifications.events import daily_notifications_raise
from notifications.models import Kind, Notification
from tests.conftest import World
from tests.deals.factories import register
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_webhooks_announce_the_submission_and_every_move(acme: World) -> None:
    with tenant_context(acme.tenant):
        WebhookEndpoint.objects.create(
            url="https://crm.example/hooks", events=["deal.submitted", "deal.status_changed"]
        )
        WebhookEndpoint.objects.create(url="https://other.example/hooks", events=["deal.submitted"])
        deal = register(acme.partner, acme.partner_user, customer_name="Initech", customer_domain="initech.com")
        deal_approve(deal=deal, actor=acme.manager)

        deliveries = list(WebhookDelivery.objects.order_by("pk").values_list("endpoint__url", "event", "payload"))
        assert [(url, event) for url, event, _payload in deliveries] == [
            ("https://crm.example/hooks", "deal.status_changed"),
            ("https://crm.example/hooks", "deal.submitted"),
            ("https://other.example/hooks", "deal.submitted"),
            ("https://crm.example/hooks", "deal.status_changed"),
        ]
        approved = deliveries[-1][2]["data"]
        assert (approved["from_status"], approved["to_status"]) == ("submitted", "approved")
        assert approved["deal"]["reference"] == deal.reference
        assert approved["deal"]["customer"]["domain"] == "initech.com"
        assert approved["partner"]["external_id"] == acme.partner.external_id


def test_staff_hear_of_a_submission_and_members_of_the_decision_once(acme: World) -> None:
    with tenant_context(acme.tenant):
        first = register(acme.unmanaged_partner, customer_name="Hooli")
        deal = register(acme.partner, acme.partner_user, customer_name="HOOLI Inc.")
        told_staff = Notification.objects.filter(kind=Kind.DEAL_TO_REVIEW, subject=f"deal:{deal.pk}")
        assert {row.recipient for row in told_staff} >= {acme.manager, acme.owner}
        assert acme.partner_user not in {row.recipient for row in told_staff}
        assert "It may conflict with 1 other registration." in notification_text(told_staff.first(), "body")

        deal_reject(deal=first, actor=acme.manager, reason="Duplicate")
        approved = deal_approve(deal=deal, actor=acme.manager)
        told = Notification.objects.filter(kind=Kind.DEAL_STATUS, subject=f"deal:{deal.pk}")
        assert {row.recipient for row in told} == {acme.partner_admin, acme.partner_user}
        with translation.override("es"):
            body = notification_text(told.first(), "body")
        assert deal.reference in body
        assert "HOOLI Inc." in body
        assert str(approved.protected_until.year) in body

        DealRegistration.objects.filter(pk=deal.pk).update(protected_until=timezone.localdate() - timedelta(days=1))
        deals_expire()
        deals_expire()
        assert (
            Notification.objects.filter(kind=Kind.DEAL_STATUS, subject=f"deal:{deal.pk}", period="expired").count() == 2
        )


def test_members_are_reminded_once_before_protection_lapses_and_again_after_an_extension(acme: World) -> None:
    today = timezone.localdate()
    with tenant_context(acme.tenant):
        deal = deal_approve(deal=register(acme.partner, acme.partner_user), actor=acme.manager)
        far = deal_approve(deal=register(acme.partner, customer_name="Globex Far"), actor=acme.manager)
        DealRegistration.objects.filter(pk=deal.pk).update(protected_until=today + timedelta(days=14))
        DealRegistration.objects.filter(pk=far.pk).update(protected_until=today + timedelta(days=15))
        reminders = Notification.objects.filter(kind=Kind.DEAL_PROTECTION_ENDING)

        daily_notifications_raise(today=today)
        daily_notifications_raise(today=today)  # a re-run: told already; the registration 15 days off is not yet
        assert sorted(reminders.values_list("recipient__email", "subject", "period")) == sorted(
            (member.email, f"deal:{deal.pk}", (today + timedelta(days=14)).isoformat())
            for member in (acme.partner_admin, acme.partner_user)
        )
        body = notification_text(reminders.first(), "body")
        assert "ask for its one extension, with a reason" in body
        with translation.override("es"):
            assert "Initech" in notification_text(reminders.first(), "subject")

        deal_extend(deal=deal, actor=acme.partner_user, reason="The customer's board meets next month.")
        deal.refresh_from_db()
        daily_notifications_raise(today=deal.protected_until - timedelta(days=3))
        again = reminders.filter(subject=f"deal:{deal.pk}", period=deal.protected_until.isoformat())
        assert again.count() == 2
        assert "It was extended already" in notification_text(again.first(), "body")
        # Another tenant's registrations are not this tenant's news.
        assert not reminders.exclude(partner=acme.partner).exists()
