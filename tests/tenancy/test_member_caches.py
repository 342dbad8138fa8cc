"""A member's unread notifications count, unread announcements banner and partner badges, cached in Redis under
their own generations (loyalty/tenancy/caching.py, families): read once, then from the cache; every write of what
they hold shows at once; never another member's or tenant's; nothing cached from a transaction that wrote; Redis
down reads the database.

Transactional tests, as tests/tenancy/test_request_cache.py: inside pytest-django's own transaction every
fixture's write is pending, so the caches are (rightly) bypassed throughout.
"""

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from badges.models import Badge, BadgeAward
from badges.selectors import partner_badges
from badges.services import badges_award
from engagement.models import Announcement, AnnouncementDelivery
from engagement.selectors import announcements_banner
from engagement.services import announcement_read, announcements_publish_due
from loyalty import cache as fail_open_cache
from loyalty.tenancy import caching
from loyalty.tenancy.context import tenant_context
from notifications.models import Kind, Notification
from notifications.selectors import notifications_unread_count
from notifications.services import notification_read, notifications_read_all
from partners.models import Partner
from tests.conftest import World
from tests.engagement.helpers import announce
from tests.factories import PartnerFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the caches are Redis's: set REDIS_URL"),
]


def unread(world: World) -> int:
    with tenant_context(world.tenant):
        return notifications_unread_count(user=world.partner_user)


def notify(world: World, subject: str = "claim:1") -> Notification:
    with tenant_context(world.tenant):
        return Notification.objects.create(
            recipient=world.partner_user, partner=world.partner, kind=Kind.CLAIM_REVIEWED, subject=subject
        )


def test_the_unread_count_is_read_once_then_from_the_cache(acme: World, django_assert_num_queries) -> None:
    notify(acme)
    assert unread(acme) == 1
    with django_assert_num_queries(0):
        assert unread(acme) == 1


def _created(world: World) -> None:
    notify(world, "claim:2")


def _created_in_bulk(world: World) -> None:
    with tenant_context(world.tenant):
        Notification.objects.bulk_create(
            [
                Notification(
                    tenant=world.tenant,
                    recipient=world.partner_user,
                    partner=world.partner,
                    kind=Kind.CLAIM_REVIEWED,
                    subject="claim:3",
                )
            ]
        )


def _one_read(world: World) -> None:
    with tenant_context(world.tenant):
        notification_read(notification=Notification.objects.get(subject="claim:1"))


def _all_read(world: World) -> None:
    with tenant_context(world.tenant):
        notifications_read_all(user=world.partner_user)


def _deleted(world: World) -> None:
    with tenant_context(world.tenant):
        Notification.objects.get(subject="claim:1").delete()


@pytest.mark.parametrize(
    ("write", "after"), [(_created, 2), (_created_in_bulk, 2), (_one_read, 0), (_all_read, 0), (_deleted, 0)]
)
def test_each_write_of_a_notification_shows_at_once(acme: World, write: Callable[[World], None], after: int) -> None:
    notify(acme)
    assert unread(acme) == 1
    write(acme)
    assert unread(acme) == after


def test_the_count_is_the_members_own_in_its_own_tenant(acme: World, globex: World) -> None:
    notify(acme)
    assert unread(acme) == 1
    with tenant_context(acme.tenant):
        assert notifications_unread_count(user=acme.partner_admin) == 0
    with tenant_context(globex.tenant):
        assert notifications_unread_count(user=acme.partner_user) == 0


def test_nothing_is_cached_from_a_transaction_that_wrote(acme: World) -> None:
    assert unread(acme) == 0
    with transaction.atomic():
        notify(acme)
        assert unread(acme) == 1  # read from the database: the row is not committed
        transaction.set_rollback(True)
    assert unread(acme) == 0


def banner(world: World) -> list[str]:
    with tenant_context(world.tenant):
        return [delivery.announcement.text()["title"] for delivery in announcements_banner(user=world.partner_user)]


def published(world: World, title: str) -> Announcement:
    with tenant_context(world.tenant):
        announcement = announce(world, title)
        announcements_publish_due()
        announcement.refresh_from_db()
        return announcement


def test_the_banner_shows_a_publication_and_a_read_at_once(acme: World, django_assert_num_queries) -> None:
    first = published(acme, "Price list 2027")
    assert banner(acme) == ["Price list 2027"]
    with django_assert_num_queries(0):
        assert banner(acme) == ["Price list 2027"]
    published(acme, "Webinar")  # the deliveries are created in bulk, then the announcement saved
    assert banner(acme) == ["Webinar", "Price list 2027"]
    with tenant_context(acme.tenant):
        assert announcement_read(announcement_id=first.pk, user=acme.partner_user)  # an update of the delivery
    assert banner(acme) == ["Webinar"]
    with tenant_context(acme.tenant):
        Announcement.objects.filter(texts__en__title="Webinar").update(status=Announcement.Status.CANCELLED)
    assert banner(acme) == []


def test_a_delivery_deleted_shows_at_once(acme: World, globex: World) -> None:
    published(acme, "Price list 2027")
    assert banner(acme) == ["Price list 2027"]
    assert banner(globex) == []  # another tenant's member of the same rank sees nothing of it
    with tenant_context(acme.tenant):
        AnnouncementDelivery.objects.filter(user=acme.partner_user).delete()
    assert banner(acme) == []


def badges_of(world: World) -> list[tuple[str, bool]]:
    with tenant_context(world.tenant):
        return [(row.badge.rule, row.is_earned) for row in partner_badges(partner=world.partner)]


def test_badges_show_an_award_and_a_badge_switched_off_at_once(
    acme: World, globex: World, django_assert_num_queries
) -> None:
    with tenant_context(acme.tenant):
        Badge.objects.create(rule=Badge.Rule.MONTHS_IN_PROGRAM, threshold=1)
    assert badges_of(acme) == [(Badge.Rule.MONTHS_IN_PROGRAM, False)]
    with django_assert_num_queries(0):
        assert badges_of(acme) == [(Badge.Rule.MONTHS_IN_PROGRAM, False)]
    assert badges_of(globex) == []
    with tenant_context(acme.tenant):
        awards = badges_award(partner_ids=[acme.partner.pk], today=timezone.localdate() + timedelta(days=400))
    assert [award.partner_id for award in awards] == [acme.partner.pk]  # inserted in SQL, past the models
    assert badges_of(acme) == [(Badge.Rule.MONTHS_IN_PROGRAM, True)]
    with tenant_context(acme.tenant):
        BadgeAward.objects.filter(partner=acme.partner).delete()
    assert badges_of(acme) == [(Badge.Rule.MONTHS_IN_PROGRAM, False)]
    with tenant_context(acme.tenant):
        Badge.objects.filter(rule=Badge.Rule.MONTHS_IN_PROGRAM).update(is_active=False)
    assert badges_of(acme) == []


@pytest.fixture
def cache_down(settings) -> Iterator[None]:
    settings.CACHES = {
        "default": {
            "BACKEND": "loyalty.cache.FailOpenRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # a real connection attempt, refused
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    fail_open_cache.outage.is_down = False
    yield
    fail_open_cache.outage.is_down = False


def test_redis_down_reads_the_database(acme: World, cache_down: None) -> None:
    notify(acme)
    assert unread(acme) == 1
    _all_read(acme)
    assert unread(acme) == 0
    assert banner(acme) == []
    assert badges_of(acme) == []


def test_another_members_entries_under_this_members_keys_are_never_served(acme: World, globex: World) -> None:
    """However they got there, a count, a banner or badges of another tenant or member are refused."""
    published(globex, "Globex news")
    notify(globex)
    with tenant_context(globex.tenant):
        Badge.objects.create(rule=Badge.Rule.MONTHS_IN_PROGRAM, threshold=1)
        foreign = {
            "notifications": ((globex.tenant.pk, globex.partner_user.pk), 1),
            "announcements": announcements_banner(user=globex.partner_user),
            "badges": partner_badges(partner=globex.partner),
        }
    assert [len(foreign["announcements"]), len(foreign["badges"])] == [1, 1]
    database = connection.settings_dict["NAME"]
    names = {
        "notifications": f"notifications-unread:{acme.tenant.pk}:{acme.partner_user.pk}",
        "announcements": f"announcements-banner:{acme.tenant.pk}:{acme.partner_user.pk}",
        "badges": f"partner-badges:{acme.tenant.pk}:{acme.partner.pk}",
    }
    for family, name in names.items():
        cache.set(f"tenancy:{database}:{name}", (caching.generation(family=family), foreign[family]), 60)
    assert (unread(acme), banner(acme), badges_of(acme)) == (0, [], [])


def test_notifications_deleted_with_their_partner_show_at_once(acme: World) -> None:
    """A cascade deletes in SQL, past `Notification.delete` and the queryset's: the count stayed 1 for a minute."""
    with tenant_context(acme.tenant):
        leaving = PartnerFactory(name="Leaving Partner")
        Notification.objects.create(
            recipient=acme.partner_user, partner=leaving, kind=Kind.CLAIM_REVIEWED, subject="claim:9"
        )
    assert unread(acme) == 1
    assert unread(acme) == 1  # from the cache
    with tenant_context(acme.tenant):
        Partner.objects.filter(pk=leaving.pk).delete()
    assert unread(acme) == 0
