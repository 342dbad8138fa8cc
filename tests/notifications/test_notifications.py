"""Notifications: raised once by the change or the daily run that causes them, emailed by preference, read in the
portal, and unsubscribed from an email link without signing in."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction

from earning.services import claim_approve, claim_reject
from loyalty.ledger.services import points_adjust
from loyalty.tenancy.context import tenant_context
from notifications.emails import ALL_KINDS, notification_text, unsubscribe_url
from notifications.events import daily_notifications_raise
from notifications.models import Kind, Notification, Preference
from notifications.sending import notifications_digest_send, notifications_email_send
from rewards.services import redemption_approve, redemption_reject
from tests.conftest import World
from tests.portal.test_claims import make_claim
from tests.rewards.factories import RewardFactory, give_points, redeem
from tests.tiers.factories import revenue_program, sale, today
from tiers.models import PartnerTier, Tier
from tiers.services import partner_rescore, partner_tier_pin, tier_model_publish


def notifications(world: World, **filters: object) -> list[Notification]:
    with tenant_context(world.tenant):
        return list(Notification.objects.filter(**filters).select_related("recipient").order_by("recipient__email"))


def recipients(world: World, **filters: object) -> list[str]:
    return [item.recipient.email for item in notifications(world, **filters)]


MEMBERS = ["admin@partner.acme.test", "user@partner.acme.test"]


def test_claim_decision_tells_each_member_once_by_portal_and_email(
    acme: World, django_capture_on_commit_callbacks
) -> None:
    claim = make_claim(acme, invoice_number="INV-7")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True), tenant_context(acme.tenant):
        claim_reject(claim=claim, actor=acme.manager, reason="The invoice is from another vendor & unreadable")

    [first, second] = notifications(acme, kind=Kind.CLAIM_REVIEWED)
    assert [first.recipient.email, second.recipient.email] == MEMBERS
    assert (first.subject, first.period) == (f"claim:{claim.pk}", "rejected")
    # The staff's emails about the claim waiting went out in the same send; the members got the decision.
    decisions = [message for message in mail.outbox if message.to[0] in MEMBERS]
    assert sorted(message.to[0] for message in decisions) == MEMBERS
    assert len(mail.outbox) == len(MEMBERS) + 3
    message = decisions[0]
    assert message.subject == "Acme Program: Claim INV-7 not approved"
    # Plain text is not HTML-escaped; the HTML part escapes it.
    assert "The program team says: The invoice is from another vendor & unreadable" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "another vendor &amp; unreadable" in html
    assert "/notifications/unsubscribe/" in message.extra_headers["List-Unsubscribe"]
    assert {item.email for item in notifications(acme)} == {Notification.Email.SENT}


def test_approved_claim_says_so_and_nothing_is_told_to_other_partners_or_tenants(
    acme: World, globex: World, django_capture_on_commit_callbacks
) -> None:
    claim = make_claim(acme, invoice_number="INV-8")

    with django_capture_on_commit_callbacks(execute=True), tenant_context(acme.tenant):
        claim_approve(claim=claim, actor=acme.manager)

    assert recipients(acme, kind=Kind.CLAIM_REVIEWED, context__approved=True) == MEMBERS
    assert recipients(acme, partner=acme.unmanaged_partner) == []
    assert notifications(globex) == []


def test_redemption_moves_made_by_the_program_are_told_and_the_partners_own_are_not(acme: World) -> None:
    with tenant_context(acme.tenant):
        give_points(acme.partner, 1_000, "seed")
        needs_approval = RewardFactory(requires_approval=True, name="Jacket")
        first = redeem(acme.partner, acme.partner_user, needs_approval, "r-1")
        second = redeem(acme.partner, acme.partner_user, needs_approval, "r-2")
        assert notifications(acme, kind=Kind.REDEMPTION_STATUS) == []  # requesting is the partner's own doing
        # ... but the staff hear that each waits for their approval: the owner, the manager, the account manager.
        assert len(notifications(acme, kind=Kind.REDEMPTION_TO_REVIEW)) == 2 * 3
        redemption_approve(redemption=first, actor=acme.manager)
        redemption_reject(redemption=second, actor=acme.manager, reason="Out of season")

    told = notifications(acme, recipient=acme.partner_user)
    assert sorted((item.subject, item.period) for item in told) == [
        (f"redemption:{first.pk}", "approved"),
        (f"redemption:{second.pk}", "rejected"),
    ]
    assert {item.context["reward"] for item in told} == {"Jacket"}


def test_an_upgrade_is_told_and_a_first_tier_is_not(acme: World) -> None:
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
        sale(acme.partner, today() - timedelta(days=5), "45000")
        partner_rescore(partner=acme.partner)  # first tier: Silver, not a move
        assert notifications(acme) == []
        sale(acme.partner, today() - timedelta(days=4), "25000")
        partner_rescore(partner=acme.partner)  # 70,000: Gold

    [upgrade] = notifications(acme, recipient=acme.partner_user)
    assert (upgrade.kind, upgrade.context["from_tier"], upgrade.context["to_tier"]) == (
        Kind.TIER_UPGRADED,
        "Silver",
        "Gold",
    )


def test_a_pin_to_a_lower_tier_is_told_as_a_downgrade(acme: World) -> None:
    with tenant_context(acme.tenant):
        program = revenue_program()
        tier_model_publish(model=program.model, actor=acme.manager)
        sale(acme.partner, today() - timedelta(days=5), "70000")
        partner_rescore(partner=acme.partner)
        partner_tier_pin(
            partner=acme.partner,
            tier=Tier.objects.get(model=program.model, name="Silver"),
            until=today() + timedelta(days=30),
            reason="Audit",
            actor=acme.manager,
        )

    assert recipients(acme, kind=Kind.TIER_DOWNGRADED) == MEMBERS


def daily(world: World) -> None:
    with tenant_context(world.tenant):
        daily_notifications_raise(today=today())


def test_expiring_points_are_told_once_per_expiry_date(acme: World) -> None:
    with tenant_context(acme.tenant):
        acme.tenant.points_expiry_months = 1
        acme.tenant.save(update_fields=["points_expiry_months"])
        give_points(acme.partner, 300, "old", days_ago=20)  # expires in about 10 days

    daily(acme)
    daily(acme)  # the nightly job ran twice

    [told] = notifications(acme, kind=Kind.POINTS_EXPIRING, recipient=acme.partner_user)
    assert told.context["points"] == 300


def test_near_next_tier_is_told_at_85_percent_once_a_quarter(acme: World) -> None:
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
        sale(acme.partner, today() - timedelta(days=5), "35000")  # 35 of Silver's 40: 87 %
        sale(acme.unmanaged_partner, today() - timedelta(days=5), "30000")  # 75 %: not yet
        partner_rescore(partner=acme.partner)
        partner_rescore(partner=acme.unmanaged_partner)

    daily(acme)
    daily(acme)

    [near] = notifications(acme, kind=Kind.NEAR_NEXT_TIER, recipient=acme.partner_user)
    assert (near.context["next_tier"], near.context["percent"]) == ("Silver", 87)
    assert near.period == f"{today().year}-Q{(today().month - 1) // 3 + 1}"
    with tenant_context(acme.tenant):
        assert "more in sales reaches Silver." in notification_text(near, "body")
    assert notifications(acme, kind=Kind.NEAR_NEXT_TIER, partner=acme.unmanaged_partner) == []


def test_grace_warning_says_when_the_tier_drops(acme: World) -> None:
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
        sale(acme.partner, today() - timedelta(days=5), "45000")
        partner_rescore(partner=acme.partner)  # Silver
        PartnerTier.objects.filter(partner=acme.partner).update(below_since=today() - timedelta(days=3))

    daily(acme)
    daily(acme)

    [warning] = notifications(acme, kind=Kind.GRACE_WARNING, recipient=acme.partner_user)
    assert warning.context["tier"] == "Silver"
    assert warning.context["on"] == (today() - timedelta(days=3) + timedelta(days=30)).isoformat()


def test_monthly_statement_once_a_month(acme: World) -> None:
    with tenant_context(acme.tenant):
        points_adjust(partner=acme.partner, points=500, reason="Welcome", actor=acme.manager, idempotency_key="w")

    daily(acme)
    daily(acme)

    [statement] = notifications(acme, kind=Kind.MONTHLY_STATEMENT, recipient=acme.partner_user)
    assert statement.context["balance"] == 500
    last_month = (today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    assert statement.period == last_month


def test_a_muted_kind_is_not_emailed_and_a_digest_collects_the_rest(
    acme: World, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(acme.tenant):
        Preference.objects.create(user=acme.partner_user, muted_kinds=[Kind.CLAIM_REVIEWED])
        Preference.objects.create(user=acme.partner_admin, digest=True)
    first, second = make_claim(acme, invoice_number="A-1"), make_claim(acme, invoice_number="A-2")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True), tenant_context(acme.tenant):
        claim_approve(claim=first, actor=acme.manager)
        claim_approve(claim=second, actor=acme.manager)

    assert mail.outbox == []
    assert {item.email for item in notifications(acme, recipient=acme.partner_user)} == {Notification.Email.SKIPPED}
    with tenant_context(acme.tenant):
        assert notifications_digest_send(tenant_id=acme.tenant.pk) == 2
    [digest] = mail.outbox
    assert digest.to == [acme.partner_admin.email]
    assert digest.subject == "Acme Program: 2 updates from your partner program"
    assert "Claim A-1 approved" in digest.body
    assert "Claim A-2 approved" in digest.body


def test_each_pending_email_is_sent_once_even_if_sending_runs_twice(acme: World) -> None:
    claim = make_claim(acme)
    with tenant_context(acme.tenant):
        claim_approve(claim=claim, actor=acme.manager)  # on_commit never runs here: the emails wait
        mail.outbox.clear()
        # The decision to the partner's 2 members; the claim waiting for review, to the owner, the program manager
        # and the partner's account manager.
        assert notifications_email_send(tenant_id=acme.tenant.pk) == 2 + 3
        assert notifications_email_send(tenant_id=acme.tenant.pk) == 0
    assert len(mail.outbox) == 2 + 3


def test_unsubscribe_link_works_without_signing_in(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        link = unsubscribe_url(user=acme.partner_user, kind=Kind.POINTS_EXPIRING)
    path = link.split("localhost", 1)[1]
    client = client_for(acme)

    asked = client.get(path)
    assert asked.status_code == 200
    assert b"Stop these emails?" in asked.content
    with tenant_context(acme.tenant):
        assert not Preference.objects.filter(user=acme.partner_user).exists()  # a GET (a link scanner) changes nothing

    done = client.post(path)  # mail clients' one-click unsubscribe posts without a CSRF token
    assert done.status_code == 200
    with tenant_context(acme.tenant):
        assert Preference.objects.get(user=acme.partner_user).muted_kinds == [Kind.POINTS_EXPIRING]


def test_unsubscribe_from_a_digest_mutes_everything(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        path = unsubscribe_url(user=acme.partner_user, kind=ALL_KINDS).split("localhost", 1)[1]

    client_for(acme).post(path)

    with tenant_context(acme.tenant):
        assert sorted(Preference.objects.get(user=acme.partner_user).muted_kinds) == sorted(Kind.values)


def test_forged_or_other_tenants_unsubscribe_tokens_are_not_found(acme: World, globex: World, client_for) -> None:
    with tenant_context(globex.tenant):
        foreign = unsubscribe_url(user=globex.partner_user, kind=Kind.POINTS_EXPIRING).split("localhost", 1)[1]

    assert client_for(acme).post(foreign).status_code == 404
    assert client_for(acme).post("/notifications/unsubscribe/forged-token/").status_code == 404
    with tenant_context(globex.tenant):
        assert not Preference.objects.exists()


# Subject, body and footer link of a claim-approved email in each language (the catalogue is locale/es/).
CLAIM_APPROVED_EMAIL = {
    "en": (
        "Claim INV-L approved",
        "Your claim INV-L was approved; its points are in your balance.",
        "Stop these emails",
    ),
    "es": (
        "Solicitud INV-L aprobada",
        "Su solicitud INV-L fue aprobada; sus puntos ya están en su saldo.",
        "Dejar de recibir estos correos",
    ),
}


@pytest.mark.parametrize("language", ["en", "es"])
def test_emails_render_in_the_recipients_language(
    acme: World, language: str, django_capture_on_commit_callbacks
) -> None:
    acme.partner_user.language = language
    acme.partner_user.save(update_fields=["language"])
    claim = make_claim(acme, invoice_number="INV-L")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True), tenant_context(acme.tenant):
        claim_approve(claim=claim, actor=acme.manager)

    message = next(message for message in mail.outbox if message.to == [acme.partner_user.email])
    html, _mimetype = message.alternatives[0]
    subject, body, stop = CLAIM_APPROVED_EMAIL[language]
    assert f'<html lang="{language}">' in html
    assert message.subject == f"{acme.tenant.name}: {subject}"
    assert f">{subject}</h1>" in html
    assert body in html
    assert f"{subject}\n\n{body}\n" in message.body
    assert f">{stop}</a>" in html
    assert f"{stop}: " in message.body
    other = CLAIM_APPROVED_EMAIL["es" if language == "en" else "en"]
    assert [words for words in other if words in html or words in message.body] == []


def test_nothing_is_raised_when_the_change_rolls_back(acme: World) -> None:
    claim = make_claim(acme)

    def approve_then_fail() -> None:
        with transaction.atomic():
            claim_approve(claim=claim, actor=acme.manager)
            raise RuntimeError("the request failed after the decision")

    with tenant_context(acme.tenant), pytest.raises(RuntimeError):
        approve_then_fail()

    assert notifications(acme, kind=Kind.CLAIM_REVIEWED) == []
    assert len(notifications(acme, kind=Kind.CLAIM_TO_REVIEW)) == 3  # the submission itself was committed
