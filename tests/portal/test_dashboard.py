"""The partner dashboard: tier, score, progress bars, the gap in words, points; constant queries; own data only."""

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from loyalty.ledger.models import EntryKind
from loyalty.ledger.services import points_account_for, points_post
from loyalty.tenancy.context import tenant_context
from partners.models import Activity
from portal.views import _ways_in
from tests.conftest import World
from tests.tiers.factories import revenue_program
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish
from tiers.wording import gap_sentence, increase_phrase, money, progress_text


def sale(world: World, amount: str, days_ago: int = 1) -> None:
    Activity.objects.create(
        partner=world.partner,
        kind="sale",
        occurred_at=timezone.now() - timedelta(days=days_ago),
        amount=Decimal(amount),
        currency=world.tenant.currency,
        source="api",
        status="approved",
    )


def silver_with_points(world: World, *, points: int, earned_days_ago: int) -> World:
    """The world's partner on the revenue program (score = revenue / 1,000): 52,000 of sales → Silver (40), Gold
    at 65, evaluated today; and `points` earned `earned_days_ago`."""
    with tenant_context(world.tenant):
        tier_model_publish(model=revenue_program().model, actor=world.manager)
        sale(world, "52000")
        tenant_evaluate(
            evaluated_on=timezone.localdate(), dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
        )
        points_post(
            account=points_account_for(partner=world.partner),
            kind=EntryKind.EARN,
            points=points,
            idempotency_key="welcome",
            effective_at=timezone.now() - timedelta(days=earned_days_ago),
        )
    return world


@pytest.fixture
def scored(acme: World) -> World:
    return silver_with_points(acme, points=1200, earned_days_ago=700)


def test_dashboard_shows_tier_score_progress_and_the_gap_in_words(scored: World, client_for) -> None:
    response = client_for(scored, scored.partner_user).get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert response.context["status"].tier.name == "Silver"
    assert "<strong>52.00</strong>" in page
    assert '<progress id="progress-next" value="52.00" max="65.00">' in page
    # 13 points of score at 1,000 per point: $13,000 more (the exact score rounds up from 64.995: $12,995).
    assert response.context["gap"] == "$12,995 more in sales reaches Gold."
    assert "$52,000 / $100,000" in page
    assert "<strong>1,200</strong>" in page
    # The gap links to the page that records what the criterion counts.
    assert '<span class="ways-in"><a href="/claims/new/?type=sale">Claim a sale</a></span>' in page


def test_gap_links_to_the_register_form_when_deal_registrations_count(acme: World) -> None:
    score = SimpleNamespace(
        gaps={
            "next_tier": {"name": "Gold"},
            "criteria": [
                {"metric": "deal_registrations", "criterion": 1},
                {"metric": "activity_count", "criterion": 2},
                {"metric": "activity_count", "criterion": 3},
                {"metric": "activity_count", "criterion": 4},
                {"metric": "points_earned", "criterion": 5},
            ],
        }
    )
    kinds = {1: "", 2: "marketing", 3: "referral", 4: "marketing"}
    assert _ways_in(SimpleNamespace(score=score), kinds) == [
        ("/deals/new/", "Register a deal"),
        ("/claims/new/?type=marketing", "Claim marketing participation"),
        ("/claims/new/?type=referral", "Claim a referral"),
    ]
    score.gaps = {"criteria": score.gaps["criteria"]}  # the top tier: nothing to reach
    assert _ways_in(SimpleNamespace(score=score), kinds) == []


def test_dashboard_warns_of_points_expiring_within_90_days(scored: World, client_for) -> None:
    # Lots expire 24 months after earning: the 1,200 welcome points (700 days ago) and these 300 (705 days ago)
    # expire within the next 90 days; these 50 (30 days ago) do not.
    with tenant_context(scored.tenant):
        account = points_account_for(partner=scored.partner)
        for key, points, days_ago in (("old", 300, 705), ("new", 50, 30)):
            points_post(
                account=account,
                kind=EntryKind.EARN,
                points=points,
                idempotency_key=key,
                effective_at=timezone.now() - timedelta(days=days_ago),
            )
    response = client_for(scored, scored.partner_user).get("/")
    assert response.context["points"].expiring_soon == 1500
    assert "1,500 points expire in the next 90 days" in response.content.decode()


def test_partner_without_any_score_sees_no_tier_yet(acme: World, client_for) -> None:
    response = client_for(acme, acme.partner_admin).get("/")
    assert response.status_code == 200
    assert "No tier yet" in response.content.decode()
    assert response.context["gap"] == ""


def test_dashboard_shows_only_the_members_own_partner(scored: World, globex: World, client_for) -> None:
    response = client_for(globex, globex.partner_user).get("/")
    assert response.context["partner"] == globex.partner
    assert "52.00" not in response.content.decode()
    assert client_for(scored, globex.partner_user).get("/").status_code == 403


def test_dashboard_query_count_does_not_grow_with_history(scored: World, client_for, django_assert_max_num_queries):
    client = client_for(scored, scored.partner_user)
    client.get("/")
    with tenant_context(scored.tenant):
        account = points_account_for(partner=scored.partner)
        for index in range(60):
            points_post(account=account, kind=EntryKind.EARN, points=5, idempotency_key=f"bulk-{index}")
    # session, user, tenant, membership, tier state, latest score, trend, criteria kinds, account with its expiring
    # lots, points by kind of movement, recent entries, team, badges (the program's with the partner's award dates,
    # one query), unread announcements (the banner), the program's onboarding checklist (none here), unread
    # notifications in the header (no savepoints on reads), less what the first page cached: the ladder (tiers and
    # their benefits, tiers.selectors.tier_ladder) always; 13 here (18 before the ladder was cached, as a bound)
    with django_assert_max_num_queries(13):
        response = client.get("/")
    assert len(response.context["recent"]) == 5


@pytest.mark.parametrize(
    ("metric", "kind", "increase", "expected"),
    [
        ("revenue", "", "12400", "$12,400 more in sales"),
        ("valid_certifications", "", "2", "2 more certifications"),
        ("activity_count", "training", "1", "1 more training"),
        ("deal_registrations", "", "3", "3 more deal registrations"),
        ("points_earned", "", "1500", "1,500 more points earned"),
    ],
)
def test_increase_phrases(metric: str, kind: str, increase: str, expected: str) -> None:
    assert increase_phrase(metric, kind, increase, "USD") == expected


def test_gap_sentence_joins_alternatives_and_gates() -> None:
    gaps = {
        "next_tier": {"id": 3, "name": "Gold", "minimum_score": "65.00"},
        "score_needed": "8.00",
        "criteria": [
            {"criterion": 1, "metric": "revenue", "alone": True, "increase": "12400.00"},
            {"criterion": 2, "metric": "valid_certifications", "alone": True, "increase": "2"},
            {"criterion": 3, "metric": "activity_count", "alone": False},
        ],
        "gates": [
            {
                "label": "Two certified people",
                "metric": "valid_certifications",
                "value": "1.00",
                "minimum": "2",
                "shortfall": "1.00",
            }
        ],
    }
    assert gap_sentence(gaps=gaps, kinds={}, currency="USD") == (
        "$12,400 more in sales, or 2 more certifications reaches Gold. "
        "Gold also needs: 2 valid certifications (you have 1)."
    )
    assert gap_sentence(gaps={"tracks": []}, kinds={}, currency="USD") == ""


def test_money_and_progress_text() -> None:
    assert money("1234.01", "EUR") == "€1,235"
    assert money("99", "SEK") == "99 SEK"
    assert progress_text("activity_count", "training", "1", "6", "USD") == "1 / 6 trainings"


def test_dashboard_ledger_signs_points_as_the_statement_does_in_spanish(scored: World, client_for) -> None:
    """The dashboard read "-15,000" (a hyphen) where the statement read "−15.000" (a true minus, grouped the
    reader's way): both say it with `signed_points`."""
    with tenant_context(scored.tenant):
        account = points_account_for(partner=scored.partner)
        points_post(account=account, kind=EntryKind.EARN, points=20000, idempotency_key="big")
        points_post(
            account=account,
            kind=EntryKind.ADJUST,
            points=-15000,
            idempotency_key="fix",
            memo="Duplicate",
            actor=scored.manager,
        )
    scored.partner_user.language = "es"
    scored.partner_user.save(update_fields=["language"])
    page = client_for(scored, scored.partner_user).get("/").content.decode()
    assert '<span class="negative">\u221215.000</span>' in page
    assert '<span class="positive">+20.000</span>' in page
    assert "-15" not in page
