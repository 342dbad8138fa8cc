"""The dashboard's cached fragments: keyed by the versions of what they show, so a new entry or score shows at once."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.services import points_account_for, points_post
from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.factories import unposted_entry
from tests.portal.test_dashboard import sale, silver_with_points
from tiers.models import PartnerScore, PartnerTier
from tiers.services import partner_rescore


@pytest.fixture
def scored(acme: World) -> World:
    return silver_with_points(acme, points=1200, earned_days_ago=10)


def test_a_cached_dashboard_reads_only_the_versions_and_the_live_parts(
    scored: World, client_for, django_assert_max_num_queries
) -> None:
    client = client_for(scored, scored.partner_user)
    first = client.get("/").content.decode()
    # session, user, tenant, membership, the versions, tier state, account with its expiring lots, team, badges,
    # unread announcements, onboarding checklist, unread notifications; the tier's benefits come with the fragments.
    # Here the tenant, the membership and the team are read from the database and the page is not cached whole:
    # the test's transaction wrote them (loyalty/tenancy/caching.py); committed, the page takes 3
    # (tests/portal/test_dashboard_whole.py).
    with django_assert_max_num_queries(12):
        again = client.get("/").content.decode()
    assert per_response(again) == per_response(first)


def per_response(page: str) -> str:
    """The page without what changes with each response: the CSP nonces and the masked CSRF tokens."""
    return re.sub(r'(nonce|name="csrfmiddlewaretoken" value)="[^"]*"', r"\1", page)


def test_a_new_ledger_entry_changes_the_cached_dashboard(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    page = client.get("/").content.decode()
    assert "<strong>1,200</strong>" in page
    assert "Spring bonus" not in page
    with tenant_context(scored.tenant):
        points_post(
            account=points_account_for(partner=scored.partner),
            kind=EntryKind.EARN,
            points=345,
            idempotency_key="spring",
            memo="Spring bonus",
        )
    page = client.get("/").content.decode()
    assert page.count("<strong>1,545</strong>") == 2  # the balance and the movements' total
    assert '<td class="number">+1,545</td>' in page  # earned, in the movements
    assert '+345</span> Earned <small class="muted">Spring bonus' in page  # the recent entries


def test_an_entry_written_past_the_posting_service_still_changes_the_balance_key(scored: World, client_for) -> None:
    """A bulk writer that keeps the account's totals (as ingestion does) moves the version even without a new
    chain head: the balance and the account's update time are part of it."""
    client = client_for(scored, scored.partner_user)
    client.get("/")
    with tenant_context(scored.tenant):
        account = points_account_for(partner=scored.partner)
        now = timezone.now()
        LedgerEntry.objects.bulk_create(
            [
                unposted_entry(
                    account=account,
                    kind=EntryKind.EARN,
                    points=5,
                    balance_after=1205,
                    created_at=now,
                    effective_at=now,
                    memo="Bulk",
                    idempotency_key="bulk",
                )
            ]
        )
        type(account).objects.filter(pk=account.pk).update(balance=1205, updated_at=now)
    page = client.get("/").content.decode()
    assert page.count("<strong>1,205</strong>") == 2
    assert "+5</span> Earned" in page


def test_a_new_score_changes_the_cached_dashboard(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert '<progress id="progress-next" value="52.00" max="65.00">' in client.get("/").content.decode()
    with tenant_context(scored.tenant):
        sale(scored, "5000")
        partner_rescore(partner=scored.partner)
        assert PartnerScore.objects.filter(partner=scored.partner).count() == 2
    page = client.get("/").content.decode()
    assert '<progress id="progress-next" value="57.00" max="65.00">' in page
    assert "<strong>57.00</strong>" in page


def test_a_score_replaced_in_place_changes_the_cached_dashboard(scored: World, client_for) -> None:
    """However a writer stores a score (a new row, or today's rewritten), its computation time moves the key."""
    client = client_for(scored, scored.partner_user)
    client.get("/")
    with tenant_context(scored.tenant):
        PartnerScore.objects.filter(partner=scored.partner).update(score="58.00", computed_at=timezone.now())
    assert "<strong>58.00</strong>" in client.get("/").content.decode()


def test_a_tier_state_change_changes_the_cached_dashboard(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert "you move down on" not in client.get("/").content.decode()
    with tenant_context(scored.tenant):
        PartnerTier.objects.filter(partner=scored.partner).update(below_since=timezone.localdate() - timedelta(days=3))
    assert "you move down on" in client.get("/").content.decode()


def test_cached_fragments_follow_the_members_language(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert "Your way to Gold" in client.get("/").content.decode()
    scored.partner_user.language = "es"
    scored.partner_user.save(update_fields=["language"])
    page = client.get("/").content.decode()
    assert "Your way to Gold" not in page
    assert "Su camino a Gold" in page


def test_staff_see_the_partner_view_without_the_members_links(scored: World, client_for) -> None:
    """The same fragments on the account manager's partner page are cached apart: no links for partner members."""
    partner_page = client_for(scored, scored.partner_user).get("/").content.decode()
    assert 'class="ways-in"' in partner_page
    staff_page = client_for(scored, scored.manager).get(f"/portfolio/{scored.partner.pk}/").content.decode()
    assert "$52,000 / $100,000" in staff_page
    assert 'class="ways-in"' not in staff_page


def test_another_tenants_partner_never_gets_these_fragments(scored: World, globex: World, client_for) -> None:
    client_for(scored, scored.partner_user).get("/")
    page = client_for(globex, globex.partner_user).get("/").content.decode()
    assert "52.00" not in page
    assert "1,200" not in page
