"""The partner dashboard cached whole (portal/views.py, `_dashboard`): a warm page is the session, the user and one
versions query, and one cache read for everything else; every write that changes what it shows shows at once.

Transactional tests (as tests/tenancy/test_request_cache.py): inside pytest-django's own transaction every
fixture's write is pending, so the tenancy cache's generations are (rightly) unusable and the whole page is never
cached; here each write commits, as in production. Each test warms the page, writes one way, and reads the page
again: with a version or generation missing from the fragment's key, the old page would come back.
"""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from badges.models import Badge
from badges.services import badges_award
from engagement.services import announcements_publish_due
from funds.models import FundAccount
from loyalty.ledger.models import EntryKind, PointsLot
from loyalty.ledger.services import points_account_for, points_post
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Membership, Role
from notifications.models import Kind, Notification
from portal.fragments import Fragments
from tests.conftest import World
from tests.engagement.helpers import announce
from tests.factories import UserFactory
from tests.funds.helpers import approved_request, gold_partner_with_funds
from tests.portal.test_dashboard import sale, silver_with_points
from tests.portal.test_dashboard_cache import per_response
from tests.rewards.factories import RewardFactory, redeem
from tiers.models import PartnerScore, PartnerTier
from tiers.services import evaluation_chunk, partner_rescore, tenant_evaluate

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the whole page is cached only in a shared cache (Redis)"),
]

WARM_QUERIES = 3  # session, user, the versions of the partner's standing and points


@pytest.fixture
def scored(acme: World) -> World:
    return silver_with_points(acme, points=1200, earned_days_ago=10)


def warm(client, queries: int = WARM_QUERIES) -> str:
    """The dashboard, once to fill the cache, then from it (asserting it was: the warm page's queries)."""
    client.get("/")
    with CaptureQueriesContext(connection) as captured:
        page = client.get("/").content.decode()
    assert len(captured.captured_queries) <= queries, "\n".join(q["sql"] for q in captured.captured_queries)
    return page


def earn(world: World, points: int, memo: str = "") -> None:
    with tenant_context(world.tenant):
        account = points_account_for(partner=world.partner)
        points_post(account=account, kind=EntryKind.EARN, points=points, idempotency_key=f"earn:{points}", memo=memo)


def test_a_warm_dashboard_is_three_queries_and_the_same_page(
    scored: World, client_for, django_assert_max_num_queries
) -> None:
    client = client_for(scored, scored.partner_user)
    first = client.get("/")
    with django_assert_max_num_queries(WARM_QUERIES):
        again = client.get("/")
    assert per_response(again.content.decode()) == per_response(first.content.decode())
    # The cached text carries a mark where the nonce goes: each response gets its own, the one its header allows.
    for response in (first, again):
        nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
        nonces = set(re.findall(r'<style nonce="([^"]*)"', response.content.decode()))
        assert nonces == {nonce}
    assert first.headers["Content-Security-Policy"] != again.headers["Content-Security-Policy"]


def test_a_points_posting_shows_at_once(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert "<strong>1,200</strong>" in warm(client)
    earn(scored, 345, memo="Spring bonus")
    page = warm(client)
    assert page.count("<strong>1,545</strong>") == 2  # the balance and the movements' total
    assert '+345</span> Earned <small class="muted">Spring bonus' in page


def test_a_redemption_shows_at_once(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert "<strong>1,200</strong>" in warm(client)
    with tenant_context(scored.tenant):
        redeem(scored.partner, scored.partner_user, RewardFactory(points_cost=100), "redeem-1")
    page = warm(client)
    assert "<strong>1,100</strong>" in page
    assert "\u2212100</span> Redeemed" in page  # a true minus, as the statement writes it


def test_an_instant_rescore_shows_at_once(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert "<strong>52.00</strong>" in warm(client)
    with tenant_context(scored.tenant):
        sale(scored, "8000")
        partner_rescore(partner=scored.partner)
    assert "<strong>60.00</strong>" in warm(client)


def test_a_nightly_evaluation_shows_at_once(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert "<strong>52.00</strong>" in warm(client)
    with tenant_context(scored.tenant):
        sale(scored, "20000")  # 72,000: Gold
        tenant_evaluate(
            evaluated_on=timezone.localdate() + timedelta(days=1),
            dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk),
        )
    page = warm(client)
    assert "<strong>72.00</strong>" in page
    assert "<h2>Gold</h2>" in page


def test_a_score_or_tier_state_rewritten_in_bulk_shows_at_once(scored: World, client_for) -> None:
    """Writers past the services (a SQL evaluation, an admin's fix) move the versions too: they are the data's."""
    client = client_for(scored, scored.partner_user)
    warm(client)
    with tenant_context(scored.tenant):
        # A score rewritten in place is computed anew (every writer sets its computation time).
        PartnerScore.objects.filter(partner=scored.partner).update(score="55.50", computed_at=timezone.now())
    assert "<strong>55.50</strong>" in warm(client)
    with tenant_context(scored.tenant):
        PartnerTier.objects.filter(partner=scored.partner).update(since=timezone.localdate() - timedelta(days=400))
    since = (timezone.localdate() - timedelta(days=400)).strftime("%b. %-d, %Y").replace("May.", "May")
    assert f"Since {since}" in warm(client)


def test_points_entering_the_expiry_window_show_at_once(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert "No points expire in the next 90 days." in warm(client)
    with tenant_context(scored.tenant):  # a lot's expiry moved without a posting (nor any account write)
        PointsLot.objects.filter(account__partner=scored.partner).update(expires_at=timezone.now() + timedelta(days=9))
    assert "1,200 points expire in the next 90 days" in warm(client)


def test_a_badge_and_its_award_show_at_once(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert "This program has no badges yet." in warm(client)
    with tenant_context(scored.tenant):
        Badge.objects.create(rule=Badge.Rule.MONTHS_IN_PROGRAM, threshold=1)
    assert "Not earned yet" in warm(client)
    with tenant_context(scored.tenant):
        assert badges_award(partner_ids=[scored.partner.pk], today=timezone.localdate() + timedelta(days=400))
    assert "Earned on" in warm(client)


def test_a_new_team_member_shows_at_once(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert "Nora Newcomer" not in warm(client)
    newcomer = UserFactory(email="newcomer@acme.example", first_name="Nora", last_name="Newcomer")
    with tenant_context(scored.tenant):
        Membership.objects.create(user=newcomer, role=Role.PARTNER_USER, partner=scored.partner)
    assert "Nora Newcomer" in warm(client)


def test_a_renamed_team_member_shows_at_once(scored: World, client_for) -> None:
    """The team lists members by name: renaming one (the platform's admin, single sign-on) is a write to the user,
    not to the membership, and must still replace the cached team."""
    client = client_for(scored, scored.partner_user)
    colleague = UserFactory(email="colleague@acme.example", first_name="Olga", last_name="Oldname")
    with tenant_context(scored.tenant):
        Membership.objects.create(user=colleague, role=Role.PARTNER_USER, partner=scored.partner)
    assert "Olga Oldname" in warm(client)
    colleague.last_name = "Newname"
    colleague.save()
    page = warm(client)
    assert "Olga Newname" in page
    assert "Olga Oldname" not in page


def test_a_members_sign_in_keeps_the_cached_team(scored: World, client_for) -> None:
    """Only what the team shows replaces it: recording a sign-in (`last_login`) does not."""
    client = client_for(scored, scored.partner_user)
    warm(client)
    scored.partner_user.last_login = timezone.now()
    scored.partner_user.save(update_fields=["last_login"])
    with CaptureQueriesContext(connection) as captured:
        client.get("/")
    assert len(captured.captured_queries) <= WARM_QUERIES


def test_the_members_language_shows_at_once(scored: World, client_for) -> None:
    client = client_for(scored, scored.partner_user)
    assert "Recent points" in warm(client)
    scored.partner_user.language = "es"
    scored.partner_user.save(update_fields=["language"])
    page = warm(client)
    assert "Puntos recientes" in page
    assert "Recent points" not in page


def test_an_announcement_and_a_notification_show_at_once(scored: World, client_for) -> None:
    """Both are the member's own, outside the cached fragment (read ahead with it in one round trip)."""
    client = client_for(scored, scored.partner_user)
    page = warm(client)
    assert "Price list 2027" not in page
    assert 'class="badge" aria-label="1 unread"' not in page
    with tenant_context(scored.tenant):
        announce(scored)
        announcements_publish_due()
        Notification.objects.create(
            recipient=scored.partner_user, partner=scored.partner, kind=Kind.CLAIM_REVIEWED, subject="claim:1"
        )
    page = warm(client)
    assert "Price list 2027" in page
    assert re.search(r'class="badge" aria-label="\d+ unread"', page)


def test_the_use_of_funds_stays_live_in_its_hole(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
    client = client_for(acme, acme.partner_user)
    live = WARM_QUERIES + 7  # the hole's own reads: the period, the accounts and their totals, the rebates
    assert "$0.00 used of $5,000.00 this period; $5,000.00 available" in warm(client, live)
    with tenant_context(acme.tenant):
        approved_request(acme, period, amount="2000")
        assert FundAccount.objects.filter(partner=acme.partner).exists()
    assert "$2,000.00 used of $5,000.00 this period; $3,000.00 available" in warm(client, live)


def test_two_tenants_never_share_a_page(scored: World, globex: World, client_for) -> None:
    earn(globex, 77)
    acme_page = warm(client_for(scored, scored.partner_user))
    globex_page = warm(client_for(globex, globex.partner_user))
    assert "<strong>1,200</strong>" in acme_page
    assert "<strong>77</strong>" not in acme_page
    assert "<strong>77</strong>" in globex_page
    assert "<strong>1,200</strong>" not in globex_page
    # Keys carry the database (deployments, tests and benchmarks share one Redis) and the partner; the versions
    # carry the tenant.
    key = Fragments(page=f"dashboard.{scored.partner.pk}", versions={"dashboard": ("v", 60)})._keys["dashboard"]
    assert key.startswith(f"fragment2.{connection.settings_dict['NAME']}.dashboard.{scored.partner.pk}.")
