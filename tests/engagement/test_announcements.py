"""Announcements: each audience gets exactly its announcement, nobody twice, and not before its time; partners hear
of it in the notification centre and by email as they prefer; read counts by audience."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from engagement.models import Announcement, AnnouncementDelivery
from engagement.selectors import announcement_read_counts, announcements_unread
from engagement.services import Audience, announcement_cancel, announcement_read, announcements_publish_due
from engagement.tasks import publish_due, publish_due_all_tenants
from loyalty.tenancy.context import tenant_context
from notifications.emails import notification_text
from notifications.models import Kind, Notification, Preference
from tests.conftest import World
from tests.engagement.helpers import announce, cast

pytestmark = pytest.mark.django_db


def reached(world: World, announcement: Announcement) -> list[str]:
    with tenant_context(world.tenant):
        return sorted(
            AnnouncementDelivery.objects.filter(announcement=announcement).values_list("user__email", flat=True)
        )


GOLD_PARTNER = ["admin@partner.acme.test", "user@partner.acme.test"]


def test_each_audience_gets_exactly_its_announcement(acme: World, globex: World) -> None:
    with tenant_context(acme.tenant):
        people = cast(acme)
        everyone = announce(acme, "Everyone")
        gold = announce(acme, "Gold", audience=Audience(tiers=[people.gold]))
        distributors = announce(acme, "Distributors", audience=Audience(partner_types=[people.distributor_type]))
        emea_silver = announce(acme, "EMEA silver", audience=Audience(tiers=[people.silver], regions=["EMEA"]))
        amer_gold_or_silver = announce(
            acme, "AMER", audience=Audience(tiers=[people.gold, people.silver], regions=["AMER"])
        )
        nobody = announce(acme, "Nobody", audience=Audience(tiers=[people.silver], regions=["AMER"]))
        assert announcements_publish_due() == 6
    with tenant_context(globex.tenant):
        announce(globex, "Globex news")
        assert announcements_publish_due() == 1

    all_active = sorted([*GOLD_PARTNER, "dist@acme.test", "fresh@acme.test", "silver@acme.test"])
    assert reached(acme, everyone) == all_active
    assert reached(acme, gold) == sorted([*GOLD_PARTNER, "dist@acme.test"])
    assert reached(acme, distributors) == ["dist@acme.test", "fresh@acme.test"]
    assert reached(acme, emea_silver) == ["silver@acme.test"]
    assert reached(acme, amer_gold_or_silver) == ["dist@acme.test"]
    assert reached(acme, nobody) == []
    # Suspended partners' members and inactive members are never reached; globex's people only by globex.
    with tenant_context(globex.tenant):
        assert sorted(AnnouncementDelivery.objects.values_list("user__email", flat=True)) == [
            "admin@partner.globex.test",
            "user@partner.globex.test",
        ]


def test_publishing_again_delivers_and_notifies_nobody_twice(acme: World) -> None:
    with tenant_context(acme.tenant):
        cast(acme)
        announcement = announce(acme)
        assert announcements_publish_due() == 1
        # A second run (beat tick, retried task) finds nothing due; even forcing it back to scheduled adds nothing.
        assert announcements_publish_due() == 0
        Announcement.objects.filter(pk=announcement.pk).update(status=Announcement.Status.SCHEDULED)
        assert announcements_publish_due() == 1
        assert AnnouncementDelivery.objects.filter(announcement=announcement).count() == 5
        assert Notification.objects.filter(kind=Kind.ANNOUNCEMENT).count() == 5
        assert Notification.objects.filter(kind=Kind.ANNOUNCEMENT).values("recipient").distinct().count() == 5


def test_a_scheduled_announcement_waits_for_its_time(acme: World) -> None:
    now = timezone.now()
    with tenant_context(acme.tenant):
        later = announce(acme, publish_at=now + timedelta(hours=2))
        assert announcements_publish_due(now=now) == 0
        assert not AnnouncementDelivery.objects.exists()
        assert not Notification.objects.filter(kind=Kind.ANNOUNCEMENT).exists()
        assert announcements_publish_due(now=now + timedelta(hours=1, minutes=59)) == 0
        assert announcements_publish_due(now=now + timedelta(hours=2)) == 1
        later.refresh_from_db()
        assert later.status == Announcement.Status.PUBLISHED
        assert AnnouncementDelivery.objects.count() == 2


def test_a_cancelled_announcement_reaches_nobody(acme: World) -> None:
    with tenant_context(acme.tenant):
        later = announce(acme, publish_at=timezone.now() + timedelta(hours=1))
        assert announcement_cancel(announcement=later) is True
        assert announcement_cancel(announcement=later) is False
        assert announcements_publish_due(now=timezone.now() + timedelta(days=1)) == 0
        assert not AnnouncementDelivery.objects.exists()


def test_the_beat_task_publishes_each_tenants_due_announcements(acme: World, globex: World) -> None:
    with tenant_context(acme.tenant):
        Announcement.objects.create(
            texts={"en": {"title": "Due", "body": "Now"}}, publish_at=timezone.now() - timedelta(minutes=1)
        )
    with tenant_context(globex.tenant):
        Announcement.objects.create(
            texts={"en": {"title": "Not yet", "body": "Later"}}, publish_at=timezone.now() + timedelta(days=1)
        )
    assert publish_due_all_tenants() == 2
    with tenant_context(acme.tenant):
        assert AnnouncementDelivery.objects.count() == 2
    with tenant_context(globex.tenant):
        assert not AnnouncementDelivery.objects.exists()
        assert publish_due(tenant_id=globex.tenant.pk) == (0, 0)


def test_a_due_announcement_goes_out_on_commit_and_is_emailed_by_preference(
    acme: World, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(acme.tenant):
        Preference.objects.create(user=acme.partner_user, muted_kinds=[Kind.ANNOUNCEMENT])
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True), tenant_context(acme.tenant):
        announcement = announce(
            acme,
            texts={
                "en": {"title": "New price list", "body": "Prices change on 1 January."},
                "es": {"title": "Nueva lista de precios", "body": "Los precios cambian el 1 de enero."},
            },
        )
    with tenant_context(acme.tenant):
        states = dict(Notification.objects.filter(kind=Kind.ANNOUNCEMENT).values_list("recipient__email", "email"))
        assert states == {"admin@partner.acme.test": "sent", "user@partner.acme.test": "skipped"}
        assert [message.to for message in mail.outbox] == [["admin@partner.acme.test"]]
        assert mail.outbox[0].subject == "Acme Program: New price list"
        assert "Prices change on 1 January." in mail.outbox[0].body
        assert f"/announcements/{announcement.pk}/" in mail.outbox[0].body
        # The notification centre shows it in the reader's language.
        notification = Notification.objects.filter(kind=Kind.ANNOUNCEMENT).first()
        with translation.override("es"):
            assert notification_text(notification, "subject") == "Nueva lista de precios"
        with translation.override("en"):
            assert notification_text(notification, "body") == "Prices change on 1 January."


def test_reading_counts_once_and_read_counts_by_audience(acme: World) -> None:
    with tenant_context(acme.tenant):
        people = cast(acme)
        announcement = announce(acme)
        announcements_publish_due()
        assert announcement_read(announcement_id=announcement.pk, user=acme.partner_user) is True
        assert announcement_read(announcement_id=announcement.pk, user=acme.partner_user) is False
        assert announcement_read(announcement_id=announcement.pk, user=people.distributor_member) is True
        # Someone outside the audience reads nothing into the counts.
        assert announcement_read(announcement_id=announcement.pk, user=people.suspended_member) is False
        assert list(announcements_unread(user=acme.partner_user)) == []
        assert [item.announcement_id for item in announcements_unread(user=acme.partner_admin)] == [announcement.pk]

        counts = announcement_read_counts(announcement=announcement)
    by_tier = {row.label: (row.delivered, row.read, row.percent) for row in counts["tier"]}
    assert by_tier == {"Gold": (3, 2, 67), "Silver": (1, 0, 0), "": (1, 0, 0)}
    by_type = {row.label: (row.delivered, row.read) for row in counts["partner_type"]}
    assert by_type == {"Distributor": (2, 1), "Reseller": (3, 1)}
    by_region = {row.label: (row.delivered, row.read) for row in counts["region"]}
    assert by_region == {"AMER": (2, 1), "EMEA": (3, 1)}


def test_publishing_a_large_audience_takes_a_constant_number_of_queries(acme: World) -> None:
    def queries_to_publish() -> int:
        with tenant_context(acme.tenant):
            announce(acme)
            with CaptureQueriesContext(connection) as captured:
                announcements_publish_due()
            return len(captured)

    few = queries_to_publish()
    with tenant_context(acme.tenant):
        cast(acme)
    assert queries_to_publish() == few
