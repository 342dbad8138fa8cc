"""Badges: each rule awards once (nightly re-runs, triggers racing the nightly run), bonus points once through the
ledger, shown on the dashboard and the team page, only to the partner's own members."""

from datetime import timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone, translation

from badges.models import Badge, BadgeAward
from badges.services import badges_award
from badges.tasks import award_all_tenants
from deals.services import deal_approve, deal_mark_won
from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount
from loyalty.ledger.services import points_account_for, points_post
from loyalty.reasons import memo_shown
from loyalty.tenancy.context import tenant_context
from partners.models import ActivityKind
from tests.conftest import World
from tests.deals.factories import place, register, tiers_with_protection
from tests.tiers.factories import activity, revenue_program, sale
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish


def make_badges(world: World) -> dict[str, Badge]:
    with tenant_context(world.tenant):
        return {
            rule: Badge.objects.create(rule=rule, threshold=threshold, bonus_points=bonus)
            for rule, threshold, bonus in (
                (Badge.Rule.DEALS_WON, 1, 100),
                (Badge.Rule.CERTIFICATIONS, 5, 250),
                (Badge.Rule.MONTHS_IN_PROGRAM, 12, 0),
                (Badge.Rule.TIER_UPGRADES, 1, 150),
            )
        }


def awards(world: World) -> set[tuple[str, str]]:
    with tenant_context(world.tenant):
        return set(BadgeAward.objects.values_list("partner__name", "badge__rule"))


def bonus_entries(world: World) -> list[tuple[str, int]]:
    with tenant_context(world.tenant):
        return sorted(
            LedgerEntry.objects.filter(idempotency_key__startswith="badge:").values_list(
                "account__partner__name", "points"
            )
        )


def evaluate() -> None:
    tenant_evaluate(
        evaluated_on=timezone.localdate(), dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
    )


def test_five_distinct_certifications_earn_the_badge_once_with_its_bonus(acme: World) -> None:
    make_badges(acme)
    with tenant_context(acme.tenant):
        today = timezone.localdate()
        for code in ("C1", "C2", "C3", "C4", "C4"):  # four distinct codes: not yet
            activity(acme.partner, ActivityKind.CERTIFICATION, today, code=code)
        assert badges_award() == []
        activity(acme.partner, ActivityKind.CERTIFICATION, today, code="C5", status="pending")
        assert badges_award() == []  # a pending certification does not count
        activity(acme.partner, ActivityKind.CERTIFICATION, today, code="C6")
        (award,) = badges_award()
        assert (award.partner_id, award.badge.rule) == (acme.partner.pk, Badge.Rule.CERTIFICATIONS)
        # The nightly run again, and again: nothing more is awarded or credited.
        assert badges_award() == []
        assert badges_award() == []
        balance = PointsAccount.objects.get(partner=acme.partner).balance
    assert awards(acme) == {(acme.partner.name, Badge.Rule.CERTIFICATIONS)}
    assert bonus_entries(acme) == [(acme.partner.name, 250)]
    assert balance == 250


def test_a_year_in_the_program_counts_from_the_day_the_partner_joined(acme: World) -> None:
    make_badges(acme)
    with tenant_context(acme.tenant):
        today = timezone.localdate()
        acme.partner.joined_at = today - relativedelta(months=12)
        acme.partner.save(update_fields=["joined_at"])
        acme.unmanaged_partner.joined_at = today - relativedelta(months=12) + timedelta(days=1)
        acme.unmanaged_partner.save(update_fields=["joined_at"])
        badges_award()
        assert not PointsAccount.objects.filter(partner=acme.partner).exists()  # no bonus: no ledger entry
    assert awards(acme) == {(acme.partner.name, Badge.Rule.MONTHS_IN_PROGRAM)}


def test_a_won_deal_awards_the_first_deal_badge_at_once_and_the_nightly_run_adds_nothing(acme: World) -> None:
    make_badges(acme)
    with tenant_context(acme.tenant):
        place(acme.partner, tiers_with_protection()["Registered"])
        deal = deal_approve(deal=register(acme.partner, acme.partner_user), actor=acme.manager)
        assert awards(acme) == set()
        deal_mark_won(deal=deal, actor=acme.partner_user)
        assert awards(acme) == {(acme.partner.name, Badge.Rule.DEALS_WON)}  # the trigger, not the night
        deal_mark_won(deal=deal, actor=None)  # a CRM replaying "won"
        second = deal_approve(deal=register(acme.partner, acme.partner_user, customer_name="Globo"), actor=acme.manager)
        deal_mark_won(deal=second, actor=acme.partner_user)  # a second win: the badge is the first one's
        assert award_all_tenants() >= 1  # the nightly fan-out (in-process in tests)
    assert awards(acme) == {(acme.partner.name, Badge.Rule.DEALS_WON)}
    assert bonus_entries(acme) == [(acme.partner.name, 100)]


def test_the_first_tier_upgrade_is_awarded_by_the_evaluation_that_moves_the_partner(acme: World) -> None:
    make_badges(acme)
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
        sale(acme.partner, timezone.now() - timedelta(days=3), "10000")
        evaluate()  # a first tier (Registered) is no upgrade
        assert awards(acme) == set()
        sale(acme.partner, timezone.now() - timedelta(days=1), "45000")
        from tiers.services import partner_rescore

        partner_rescore(partner=acme.partner)  # instant: 55,000 → Silver, an upgrade
        assert awards(acme) == {(acme.partner.name, Badge.Rule.TIER_UPGRADES)}
        evaluate()
        badges_award()
    assert awards(acme) == {(acme.partner.name, Badge.Rule.TIER_UPGRADES)}
    assert bonus_entries(acme) == [(acme.partner.name, 150)]


def test_an_inactive_badge_awards_nothing_and_a_suspended_partner_earns_nothing(acme: World) -> None:
    badges = make_badges(acme)
    with tenant_context(acme.tenant):
        badges[Badge.Rule.MONTHS_IN_PROGRAM].is_active = False
        badges[Badge.Rule.MONTHS_IN_PROGRAM].save(update_fields=["is_active"])
        acme.partner.joined_at = timezone.localdate() - relativedelta(years=3)
        acme.partner.save(update_fields=["joined_at"])
        acme.unmanaged_partner.joined_at = timezone.localdate() - relativedelta(years=3)
        acme.unmanaged_partner.status = "suspended"
        acme.unmanaged_partner.save(update_fields=["joined_at", "status"])
        assert badges_award() == []


def test_awards_stay_in_their_tenant(acme: World, globex: World) -> None:
    make_badges(acme)
    make_badges(globex)
    with tenant_context(globex.tenant):
        for code in ("C1", "C2", "C3", "C4", "C5"):
            activity(globex.partner, ActivityKind.CERTIFICATION, timezone.localdate(), code=code)
    with tenant_context(acme.tenant):
        assert badges_award() == []  # acme's run does not see globex's certifications
    with tenant_context(globex.tenant):
        assert len(badges_award()) == 1
    assert awards(acme) == set()
    assert awards(globex) == {(globex.partner.name, Badge.Rule.CERTIFICATIONS)}


@pytest.fixture
def certified(acme: World) -> World:
    return certify(acme)


def certify(world: World) -> World:
    """The world's badges, and five certifications that earn its partner the certifications one (250 points)."""
    make_badges(world)
    with tenant_context(world.tenant):
        for code in ("C1", "C2", "C3", "C4", "C5"):
            activity(world.partner, ActivityKind.CERTIFICATION, timezone.localdate(), code=code)
        badges_award()
    return world


def test_dashboard_shows_earned_badges_first_and_the_rest_to_earn(certified: World, client_for) -> None:
    page = client_for(certified, certified.partner_user).get("/").content.decode()
    assert "5 certifications" in page
    assert "Earned on" in page
    assert "250 bonus points" in page
    assert page.index("5 certifications") < page.index("First deal won")
    assert "Not earned yet" in page
    certified.partner_user.language = "es"
    certified.partner_user.save(update_fields=["language"])
    spanish = client_for(certified, certified.partner_user).get("/").content.decode()
    assert "5 certificaciones" in spanish
    assert "Obtenida el" in spanish


def test_team_page_shows_the_partners_badges_to_its_admin(certified: World, client_for) -> None:
    page = client_for(certified, certified.partner_admin).get("/team/")
    assert page.status_code == 200
    assert "5 certifications" in page.content.decode()
    assert client_for(certified, certified.partner_user).get("/team/").status_code == 403


def test_another_partner_and_another_tenant_see_none_of_these_badges(
    certified: World, globex: World, client_for
) -> None:
    with tenant_context(certified.tenant):
        other = Decimal(BadgeAward.objects.filter(partner=certified.unmanaged_partner).count())
    assert other == 0
    staff_page = client_for(certified, certified.account_manager).get(f"/portfolio/{certified.unmanaged_partner.pk}/")
    assert "Earned on" not in staff_page.content.decode()
    assert client_for(certified, globex.partner_user).get("/").status_code in (302, 403)
    assert "5 certifications" not in client_for(globex, globex.partner_user).get("/").content.decode()


def test_the_bonus_is_an_earn_entry_keyed_by_badge_and_partner(certified: World) -> None:
    with tenant_context(certified.tenant):
        entry = LedgerEntry.objects.get(idempotency_key__startswith="badge:")
        badge = Badge.objects.get(rule=Badge.Rule.CERTIFICATIONS)
    assert entry.kind == EntryKind.EARN
    assert entry.idempotency_key == f"badge:{badge.pk}:partner:{certified.partner.pk}"
    assert entry.memo == "Badge: 5 certifications"


def test_the_bonus_memo_is_english_whatever_language_awards_it_and_read_in_the_readers_language(
    acme: World, client_for
) -> None:
    with translation.override("es"):  # an approval or a run in Spanish
        certify(acme)
    with tenant_context(acme.tenant):
        entry = LedgerEntry.objects.get(idempotency_key__startswith="badge:")
        # Posted before the memo was a system text: the same English words, read the same way.
        points_post(
            account=points_account_for(partner=acme.partner),
            kind=EntryKind.EARN,
            points=100,
            idempotency_key="badge:old:memo",
            memo="Badge: First deal won",
        )
    assert entry.memo == "Badge: 5 certifications"
    acme.partner_user.language = "es"
    acme.partner_user.save(update_fields=["language"])

    for path in ("/statement/", "/"):
        spanish = client_for(acme, acme.partner_user).get(path).content.decode()
        english = client_for(acme, acme.partner_admin).get(path).content.decode()
        assert "Insignia: 5 certificaciones" in spanish, path
        assert "Insignia: Primera oportunidad ganada" in spanish, path
        assert "Badge:" not in spanish, path
        assert "Badge: 5 certifications" in english, path
        assert "Badge: First deal won" in english, path


@pytest.mark.parametrize(
    ("memo", "spanish"),
    [
        ("Badge: First deal won", "Insignia: Primera oportunidad ganada"),
        ("Badge: 3 deals won", "Insignia: 3 oportunidades ganadas"),
        ("Badge: First certification", "Insignia: Primera certificación"),
        ("Badge: 1 year in the program", "Insignia: 1 año en el programa"),
        ("Badge: 2 years in the program", "Insignia: 2 años en el programa"),
        ("Badge: 18 months in the program", "Insignia: 18 meses en el programa"),
        ("Badge: First tier upgrade", "Insignia: Primera subida de nivel"),
        ("Badge: 5 certificaciones", "Badge: 5 certificaciones"),  # a name posted in Spanish: as typed
        ("Badge: gold star", "Badge: gold star"),  # a person's words
        ("Badge: 5 years in the program, twice", "Badge: 5 years in the program, twice"),
    ],
)
def test_a_stored_badge_memo_is_said_in_the_readers_language_when_it_names_a_badge(memo: str, spanish: str) -> None:
    with translation.override("es"):
        assert memo_shown(memo) == spanish
    with translation.override("en"):
        assert memo_shown(memo) == memo
