"""Numbers that must reconcile (issue 17, items 9–11, 14 and 17): every kind of points movement shown next to the
balance, one wording for used / expired / expiring points, lists in the order of the dates they show, charts
that count the same dates, no literal "%%"."""

import re
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from loyalty.ledger.services import points_adjust, points_expire_due
from loyalty.tenancy.context import tenant_context
from notifications.emails import notification_text
from notifications.events import daily_notifications_raise
from notifications.models import Kind, Notification
from partners.models import Activity
from tests.conftest import World
from tests.portal.test_claims import make_claim
from tests.rewards.factories import RewardFactory, give_points, redeem
from tests.tiers.factories import today


def mixed_history(world: World) -> None:
    """3,000 earned (1,000 of it 800 days ago, expired since), 300 redeemed, +500 adjusted: 2,200 available."""
    with tenant_context(world.tenant):
        give_points(world.partner, 1000, "old", days_ago=800)
        points_expire_due()
        give_points(world.partner, 2000, "new", days_ago=3)
        redeem(world.partner, world.partner_admin, RewardFactory(points_cost=300), "r1")
        points_adjust(partner=world.partner, points=500, reason="Goodwill", actor=world.manager, idempotency_key="a")


def test_dashboard_shows_every_kind_of_movement_summing_to_the_balance(acme: World, client_for) -> None:
    """Issue 17, item 9: earned, redeemed, expired and adjusted points are all shown, and they add up to the
    balance (the dashboard said "3,000 earned, 300 redeemed" next to 2,200 available)."""
    mixed_history(acme)

    response = client_for(acme, acme.partner_user).get("/")

    movements = dict(response.context["movements"])
    assert movements == {
        "Earned": "+3,000",
        "Redeemed": "\u2212300",
        "Refunded": "0",
        "Expired": "\u22121,000",
        "Adjusted": "+500",
        "Reversed": "0",
    }
    assert response.context["points"].balance == 2200 == 3000 - 300 - 1000 + 500
    page = response.content.decode()
    assert '<th scope="row">Expired</th><td class="number">\u22121,000</td>' in page
    assert "<strong>2,200</strong>" in page


def test_the_same_words_for_expired_and_expiring_points_on_the_dashboard_and_in_notifications(
    acme: World, client_for
) -> None:
    """Issue 17, item 10: the monthly statement said "used" for points that expired, and the dashboard's
    "expire in the next 90 days" and the notification's "expire from Jan 1" (a 30-day window it never named)
    could not be compared. One wording helper names the kind and the window everywhere."""
    with tenant_context(acme.tenant):
        # Last month: 700 earned, then 400 of an older lot expired (not "used").
        last_month = today().replace(day=1) - timedelta(days=10)
        days_ago = (today() - last_month).days
        give_points(acme.partner, 400, "older", days_ago=days_ago + 731)
        give_points(acme.partner, 700, "last-month", days_ago=days_ago)
        points_expire_due(now=timezone.now() - timedelta(days=days_ago - 1))
        acme.tenant.points_expiry_months = 1
        acme.tenant.save(update_fields=["points_expiry_months"])
        give_points(acme.partner, 250, "soon", days_ago=2)  # this month; expires within 30 days of today
        daily_notifications_raise(today=today())
        statement = Notification.objects.get(kind=Kind.MONTHLY_STATEMENT, recipient=acme.partner_user)
        expiring = Notification.objects.get(kind=Kind.POINTS_EXPIRING, recipient=acme.partner_user)
        statement_text = notification_text(statement, "body")
        expiring_text = notification_text(expiring, "body")

    assert "used" not in statement_text
    earned = 700 + (250 if today().day <= 2 else 0)  # "soon" falls in last month on the 1st and 2nd
    assert f": {earned} earned, 400 expired." in statement_text
    assert expiring_text.startswith("250 points expire in the next 30 days (the first on ")
    dashboard = client_for(acme, acme.partner_user).get("/").context["expiring_sentence"]
    assert dashboard.startswith("250 points expire in the next 90 days (the first on ")


def first_times(html: str, row_tag: str) -> list[str]:
    """The first <time datetime> of each row (`tr` or `li`) that has one: the date the list is sorted by."""
    rows = re.findall(rf"<{row_tag}[ >].*?</{row_tag}>", html, flags=re.S)
    return [found.group(1) for row in rows if (found := re.search(r'<time datetime="([^"]+)"', row))]


def assert_newest_first(times: list[str], count: int) -> None:
    assert len(times) == count
    moments = [datetime.fromisoformat(value) for value in times]
    assert moments == sorted(moments, reverse=True)


def test_newest_first_lists_show_the_date_they_are_sorted_by(acme: World, client_for) -> None:
    """Issue 17, item 11: the statement, the dashboard's and the account manager's recent points and the claims
    list were sorted by posting but showed the activity's date (12/05, 10/07, 02/19, 04/02…). Each shows first the
    date it is sorted by, and the other day ("dated …") where they differ."""
    with tenant_context(acme.tenant):
        give_points(acme.partner, 100, "recent-activity", days_ago=10)
        give_points(acme.partner, 200, "old-activity-posted-later", days_ago=100)
    make_claim(acme, invoice_number="INV-RECENT", occurred_on=timezone.localdate() - timedelta(days=3))
    make_claim(acme, invoice_number="INV-OLD", occurred_on=timezone.localdate() - timedelta(days=60))
    partner_client = client_for(acme, acme.partner_user)

    statement = partner_client.get("/statement/").content.decode()
    assert_newest_first(first_times(statement.split("<tbody>")[1], "tr"), 2)
    assert statement.count('class="muted dated"') == 2  # both are about earlier days than their posting
    claims = partner_client.get("/claims/").content.decode()
    assert_newest_first(first_times(claims.split("<tbody>")[1], "tr"), 2)
    for page in (
        partner_client.get("/").content.decode(),
        client_for(acme, acme.account_manager).get(f"/portfolio/{acme.partner.pk}/").content.decode(),
    ):
        recent = page.split("Recent points")[1].split("</ul>")[0]
        assert_newest_first(first_times(recent, "li"), 2)


def test_program_charts_count_the_same_dates_and_earned_and_redeemed_differ_in_colour(acme: World, client_for) -> None:
    """Issue 17, item 14: "New activities" counted the day an activity was recorded and "Active partners" the day
    it occurred, so an import of older sales showed 0 activities a month next to ~10 active partners; and Earned
    and Redeemed were drawn in nearly the same colour (the brand's orange and an amber)."""
    occurred = timezone.now() - timedelta(days=150)
    with tenant_context(acme.tenant):
        Activity.objects.create(
            partner=acme.partner,
            kind="sale",
            occurred_at=occurred,
            amount=Decimal("100"),
            currency="USD",
            source="csv",
            status="approved",
        )

    response = client_for(acme, acme.manager).get("/program/")
    months = {month.start: month.activity for month in response.context["months"]}

    with tenant_context(acme.tenant):
        occurred_month = timezone.localtime(occurred).date().replace(day=1)
    assert (months[occurred_month].active_partners, months[occurred_month].activities) == (1, 1)
    assert sum(month.activities for month in months.values()) == 1  # not also in this month, when it was recorded
    css = (settings.BASE_DIR / "static" / "css" / "app.css").read_text()
    earned, redeemed = (
        re.search(rf"svg\.chart rect\.series-{series}[^{{]*\{{ fill: (#[0-9a-f]{{6}})", css).group(1)
        for series in (0, 1)
    )
    distance = sum((int(earned[i : i + 2], 16) - int(redeemed[i : i + 2], 16)) ** 2 for i in (1, 3, 5)) ** 0.5
    assert distance > 200, (earned, redeemed)


def test_no_percent_literal_is_doubled_on_any_page(acme: World, client_for) -> None:
    """Issue 17, item 17: the program dashboard said "within 10 %%" in both languages. A `_("…%…")` literal in a
    template is looked up with its percent sign doubled, so no template may pass one (use {% translate … as %})."""
    templates = settings.BASE_DIR / "templates"
    offenders = [
        f"{path.relative_to(templates)}: {literal}"
        for path in templates.rglob("*.html")
        for literal in re.findall(r'_\("[^"]*%[^"]*"\)', path.read_text())
    ]
    assert offenders == []
    client = client_for(acme, acme.manager)
    for language, sentence in (("en", "(within 10 %)."), ("es", "(a menos del 10 %).")):
        acme.manager.language = language
        acme.manager.save(update_fields=["language"])
        page = client.get("/program/").content.decode()
        assert "%%" not in page
        assert sentence in page
