"""Every kind of notification: renders, is raised once however often its event repeats, reaches its audience (a
partner's members, or the program's staff), and obeys muting."""

import pytest
from django.core import mail

from loyalty.tenancy.context import tenant_context
from notifications.emails import notification_email, notification_text
from notifications.models import STAFF_KINDS, Kind, Notification, Preference
from notifications.services import Event, notifications_raise
from tests.conftest import World

SAMPLES = {
    Kind.TIER_UPGRADED: {"from_tier": "Silver", "to_tier": "Gold", "benefits": ["MDF funds"], "link": "/"},
    Kind.TIER_DOWNGRADED: {"from_tier": "Gold", "to_tier": "Silver", "benefits": [], "link": "/"},
    Kind.GRACE_WARNING: {
        "tier": "Gold",
        "lower_tier": "Silver",
        "on": "2027-01-01",
        "gap": "2 more deals",
        "link": "/",
    },
    Kind.NEAR_NEXT_TIER: {
        "next_tier": "Gold",
        "percent": 87,
        # The engine's gap as stored on a score; put in words when the notification is read, in the reader's language.
        "gaps": {
            "next_tier": {"name": "Gold"},
            "criteria": [{"criterion": 0, "metric": "revenue", "increase": "12400", "alone": True}],
            "gates": [],
            "score_needed": "5",
        },
        "link": "/",
    },
    Kind.POINTS_EXPIRING: {"points": 1250, "expires_on": "2026-12-01", "link": "/statement/"},
    Kind.CLAIM_REVIEWED: {"approved": True, "reference": "INV-1", "reason": "", "link": "/claims/"},
    Kind.REDEMPTION_STATUS: {"status": "fulfilled", "reward": "Gift card", "points": 500, "link": "/rewards/history/"},
    Kind.MONTHLY_STATEMENT: {
        "month": "2026-10-01",
        "earned": 900,
        "spent": 300,
        "balance": 2400,
        "link": "/statement/",
    },
    Kind.CLAIM_TO_REVIEW: {
        "partner": "Acme Partner One",
        "reference": "INV-1",
        "reasons": ["duplicate", "above_threshold"],
        "link": "/admin/partners/claim/1/change/",
    },
    Kind.REDEMPTION_TO_REVIEW: {
        "partner": "Acme Partner One",
        "reward": "Gift card",
        "points": 2500,
        "reasons": ["approval_required"],
        "link": "/admin/rewards/redemption/1/change/",
    },
    Kind.FUND_DECISION: {
        "decision": "partially_approved",
        "claim": False,
        "title": "Cloud webinar",
        "amount": "1600.00",
        "currency": "USD",
        "credit_note": "",
        "reason": "80 % of the venue",
        "link": "/funds/",
    },
    Kind.DEAL_STATUS: {
        "status": "approved",
        "reference": "DR-000042",
        "customer": "Initech",
        "protected_until": "2027-03-01",
        "reason": "",
        "link": "/deals/42/",
    },
    Kind.DEAL_PROTECTION_ENDING: {
        "reference": "DR-000042",
        "customer": "Initech",
        "protected_until": "2027-03-01",
        "days_left": 14,
        "can_extend": True,
        "link": "/deals/42/",
    },
    Kind.DEAL_TO_REVIEW: {
        "partner": "Acme Partner One",
        "reference": "DR-000042",
        "customer": "Initech",
        "conflicts": 2,
        "link": "/deals/42/",
    },
    Kind.ANNOUNCEMENT: {
        "texts": {
            "en": {"title": "New price list", "body": "Prices change on 1 January."},
            "es": {"title": "Nueva lista de precios", "body": "Los precios cambian el 1 de enero."},
        },
        "link": "/announcements/1/",
    },
    Kind.SURVEY: {"texts": {"en": {"title": "Partner survey", "questions": []}}, "link": "/surveys/"},
}
EXPECTED_SUBJECTS = {
    Kind.TIER_UPGRADED: "Welcome to Gold",
    Kind.TIER_DOWNGRADED: "Your tier is now Silver",
    Kind.GRACE_WARNING: "Keep your Gold tier",
    Kind.NEAR_NEXT_TIER: "You are close to Gold",
    Kind.POINTS_EXPIRING: "1,250 points expire soon",
    Kind.CLAIM_REVIEWED: "Claim INV-1 approved",
    Kind.REDEMPTION_STATUS: "Gift card: on its way",
    Kind.MONTHLY_STATEMENT: "Your points statement for October 2026",
    Kind.CLAIM_TO_REVIEW: "Claim INV-1 from Acme Partner One waits for review",
    Kind.REDEMPTION_TO_REVIEW: "Acme Partner One redeemed Gift card: waits for approval",
    Kind.FUND_DECISION: "Cloud webinar: funds pre-approved",
    Kind.DEAL_STATUS: "Initech: registration approved",
    Kind.DEAL_TO_REVIEW: "Deal DR-000042 from Acme Partner One waits for review",
    Kind.DEAL_PROTECTION_ENDING: "Initech: protection ends on March 1, 2027",
    Kind.ANNOUNCEMENT: "New price list",
    Kind.SURVEY: "Partner survey: tell us what you think",
}


SPANISH_SUBJECTS = {
    Kind.TIER_UPGRADED: "Bienvenido a Gold",
    Kind.TIER_DOWNGRADED: "Su nivel ahora es Silver",
    Kind.GRACE_WARNING: "Conserve su nivel Gold",
    Kind.NEAR_NEXT_TIER: "Está cerca de Gold",
    Kind.CLAIM_REVIEWED: "Solicitud INV-1 aprobada",
    Kind.REDEMPTION_STATUS: "Gift card: en camino",
    Kind.POINTS_EXPIRING: "1.250 puntos vencen pronto",
    Kind.MONTHLY_STATEMENT: "Su estado de cuenta de puntos de octubre de 2026",
    Kind.CLAIM_TO_REVIEW: "La solicitud INV-1 de Acme Partner One espera revisión",
    Kind.REDEMPTION_TO_REVIEW: "Acme Partner One canjeó Gift card: espera aprobación",
    Kind.FUND_DECISION: "Cloud webinar: fondos preaprobados",
    Kind.DEAL_STATUS: "Initech: oportunidad aprobada",
    Kind.DEAL_TO_REVIEW: "La oportunidad DR-000042 de Acme Partner One espera revisión",
    Kind.DEAL_PROTECTION_ENDING: "Initech: la protección vence el 1 de marzo de 2027",
    Kind.ANNOUNCEMENT: "Nueva lista de precios",
    Kind.SURVEY: "Partner survey: díganos qué opina",
}


def test_every_kind_has_a_sample() -> None:
    assert set(SAMPLES) == set(Kind.values) == set(EXPECTED_SUBJECTS) == set(SPANISH_SUBJECTS)


def raise_sample(world: World, kind: str) -> None:
    audience = "staff" if kind in STAFF_KINDS else "partner"
    with tenant_context(world.tenant):
        notifications_raise(
            events=[
                Event(world.partner.pk, kind, subject="sample", period="p", context=SAMPLES[kind], audience=audience)
            ]
        )


def audience(world: World, kind: str) -> list:
    """Who hears of a kind: the partner's members, or the program's managers and owners and the partner's account
    manager (not another account manager, not the partner's members)."""
    if kind in STAFF_KINDS:
        return [world.owner, world.manager, world.account_manager]
    return [world.partner_admin, world.partner_user]


@pytest.mark.parametrize("kind", Kind.values)
def test_each_kind_renders_its_subject_and_body(acme: World, kind: str) -> None:
    raise_sample(acme, kind)

    with tenant_context(acme.tenant):
        notification = Notification.objects.select_related("recipient").filter(kind=kind).first()
        subject, body = notification_text(notification, "subject"), notification_text(notification, "body")
        message = notification_email(notification)

    assert subject == EXPECTED_SUBJECTS[kind]
    assert len(body) > len(subject)
    assert message.subject == f"Acme Program: {subject}"
    assert body.splitlines()[0] in message.body


@pytest.mark.parametrize("kind", Kind.values)
def test_each_kind_is_raised_once_however_often_its_event_repeats(acme: World, kind: str) -> None:
    for _ in range(3):
        raise_sample(acme, kind)

    with tenant_context(acme.tenant):
        assert sorted(Notification.objects.filter(kind=kind).values_list("recipient__email", flat=True)) == sorted(
            user.email for user in audience(acme, kind)
        )


@pytest.mark.parametrize("kind", Kind.values)
def test_each_kind_obeys_muting(acme: World, kind: str, django_capture_on_commit_callbacks) -> None:
    listener, *others = audience(acme, kind)
    with tenant_context(acme.tenant):
        for user in others:
            Preference.objects.create(user=user, muted_kinds=[kind])
        Preference.objects.create(user=listener, muted_kinds=[other for other in Kind.values if other != kind])
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        raise_sample(acme, kind)

    assert [message.to for message in mail.outbox] == [[listener.email]]
    with tenant_context(acme.tenant):
        muted = Notification.objects.filter(kind=kind, recipient__in=others)
        assert [row.email for row in muted] == [Notification.Email.SKIPPED] * len(others)  # in the portal, not emailed


@pytest.mark.parametrize("kind", Kind.values)
def test_each_kind_renders_in_spanish_for_a_spanish_speaking_member(acme: World, kind: str) -> None:
    reader = audience(acme, kind)[-1]
    reader.language = "es"
    reader.save(update_fields=["language"])
    raise_sample(acme, kind)

    with tenant_context(acme.tenant):
        notification = Notification.objects.select_related("recipient").get(kind=kind, recipient=reader)
        message = notification_email(notification)

    assert message.subject == f"Acme Program: {SPANISH_SUBJECTS[kind]}"
    assert "Stop these emails" not in message.body  # the footer is Spanish too


def test_the_gap_is_put_in_words_in_the_readers_language(acme: World) -> None:
    raise_sample(acme, Kind.NEAR_NEXT_TIER)
    acme.partner_user.language = "es"
    acme.partner_user.save(update_fields=["language"])

    with tenant_context(acme.tenant):
        english = notification_email(Notification.objects.get(recipient=acme.partner_admin))
        spanish = notification_email(Notification.objects.get(recipient=acme.partner_user))

    assert "$12,400 more in sales reaches Gold." in english.body
    assert "Con 12.400\xa0US$ más en ventas alcanza Gold." in spanish.body
