"""Raising notifications for partner members and program staff: once per (recipient, kind, subject, period), emailed
by preference."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core import signing
from django.db import connections, router
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import PARTNER_ROLES, PROGRAM_ROLES, Membership, Role, User
from loyalty.tenancy.tasks import enqueue_on_commit
from notifications.emails import ALL_KINDS, UNSUBSCRIBE_SALT
from notifications.models import Kind, Notification, Preference
from notifications.sending import notifications_email_send
from partners.models import Partner


@dataclass(frozen=True)
class Event:
    """Something to tell about a partner: its kind, what it is about, when it applies, and the details.

    A partner's members hear it, or, for the `staff` audience, the program's managers and owners and the
    partner's account manager (a claim or a redemption waiting for their review).
    """

    partner_id: int
    kind: str
    subject: str
    period: str = ""
    context: dict = field(default_factory=dict)
    audience: str = "partner"


# Who hears an event, per partner, and each recipient's saved preferences (None: the defaults), read with them.
Recipients = tuple[dict[int, list[int]], dict[int, Preference | None]]


def _with_preferences(memberships: QuerySet[Membership]) -> QuerySet[Membership]:
    """The members' saved preferences (this tenant's) joined in, so that no query of their own reads them."""
    saved = Preference.objects.filter(user_id=OuterRef("user_id"))
    return memberships.annotate(
        preference_id=Subquery(saved.values("pk")[:1]),
        muted_kinds=Subquery(saved.values("muted_kinds")[:1]),
        digest=Subquery(saved.values("digest")[:1]),
    )


def _preference(user_id: int, preference_id: int | None, muted_kinds: list[str], digest: bool) -> Preference | None:
    if preference_id is None:
        return None
    return Preference(pk=preference_id, user_id=user_id, muted_kinds=muted_kinds, digest=digest)


def _partner_members(partner_ids: set[int]) -> Recipients:
    """The partners' active members, each with their saved preferences in this tenant: one join, written out (the
    ORM's correlated subqueries cost more to build than the query costs to run, on every redemption)."""
    members: dict[int, list[int]] = {}
    preferences: dict[int, Preference | None] = {}
    if not partner_ids:
        return members, preferences
    connection = connections[router.db_for_read(Membership)]
    muted_kinds = Preference._meta.get_field("muted_kinds")
    partners, roles = sorted(partner_ids), sorted(PARTNER_ROLES)
    tenant_id = current_tenant().pk
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.partner_id, m.user_id, p.id, p.muted_kinds, p.digest "  # noqa: S608 - tables from _meta
            f"FROM {Membership._meta.db_table} m LEFT JOIN {Preference._meta.db_table} p "
            "ON p.tenant_id = m.tenant_id AND p.user_id = m.user_id "
            f"WHERE m.tenant_id = %s AND m.is_active = %s AND m.partner_id IN ({', '.join(['%s'] * len(partners))}) "
            f"AND m.role IN ({', '.join(['%s'] * len(roles))}) ORDER BY m.id",
            [tenant_id, True, *partners, *roles],
        )
        for partner_id, user_id, preference_id, muted, digest in cursor.fetchall():
            members.setdefault(partner_id, []).append(user_id)
            preferences[user_id] = _preference(
                user_id, preference_id, muted_kinds.from_db_value(muted, None, connection), bool(digest)
            )
    return members, preferences


def _staff(partner_ids: set[int]) -> Recipients:
    """Per partner: the active program managers and owners, and its account manager while an active one."""
    managers = dict(Partner.objects.filter(pk__in=partner_ids).values_list("pk", "account_manager_id"))
    program_staff, account_managers = [], set()
    preferences: dict[int, Preference | None] = {}
    for role, *saved in _with_preferences(
        Membership.objects.filter(
            Q(role__in=sorted(PROGRAM_ROLES))
            | Q(role=Role.ACCOUNT_MANAGER, user_id__in=set(managers.values()) - {None}),
            is_active=True,
        )
    ).values_list("role", "user_id", "preference_id", "muted_kinds", "digest"):
        if role == Role.ACCOUNT_MANAGER:
            account_managers.add(saved[0])
        else:
            program_staff.append(saved[0])
        preferences[saved[0]] = _preference(*saved)
    members = {
        partner_id: [*program_staff, *([manager] if manager in account_managers else [])]
        for partner_id, manager in managers.items()
    }
    return members, preferences


def _email_state(preference: Preference | None, kind: str) -> str:
    if preference is not None and not preference.emails(kind):
        return Notification.Email.SKIPPED
    if preference is not None and preference.digest:
        return Notification.Email.DIGEST
    return Notification.Email.PENDING


def notifications_raise(*, events: Iterable[Event]) -> None:
    """Notify every active member of each event's partner (or the staff, by the event's audience); events already
    raised add nothing.

    Set-based (two queries whatever the number of events: the members with their preferences, and the insert; two
    more when some are for staff), so the nightly evaluation can raise a chunk's events at once. Emails go out
    after commit, from a task.
    """
    events = list(events)
    if not events:
        return
    by_audience = {"partner": _partner_members, "staff": _staff}
    found = {
        audience: find({event.partner_id for event in events if event.audience == audience})
        for audience, find in by_audience.items()
        if any(event.audience == audience for event in events)
    }
    recipients = {audience: members for audience, (members, _preferences) in found.items()}
    preferences = {user_id: saved for _members, each in found.values() for user_id, saved in each.items()}
    tenant = current_tenant()
    rows = [
        Notification(
            tenant=tenant,
            recipient_id=user_id,
            partner_id=event.partner_id,
            kind=event.kind,
            subject=event.subject,
            period=event.period,
            context=event.context,
            email=_email_state(preferences.get(user_id), event.kind),
        )
        for event in events
        for user_id in recipients[event.audience].get(event.partner_id, [])
    ]
    # The unique constraint drops what was raised before; the sending task picks up whatever is still to send.
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    if any(row.email == Notification.Email.PENDING for row in rows):
        enqueue_on_commit(notifications_email_send)


def notification_read(*, notification: Notification) -> None:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])


def notifications_read_about(*, user: User, kind: str, subject: str) -> int:
    """Mark the member's notifications about one subject read (the announcement they just opened)."""
    return Notification.objects.filter(recipient=user, kind=kind, subject=subject, read_at=None).update(
        read_at=timezone.now()
    )


def notifications_read_all(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at=None).update(read_at=timezone.now())


def preference_for(*, user: User) -> Preference:
    """The member's preferences in the current tenant, saved or (until they change them) the defaults, unsaved."""
    return Preference.objects.filter(user=user).first() or Preference(user=user)


def preference_update(
    *, user: User, offered_kinds: Iterable[str], emailed_kinds: Iterable[str], digest: bool, language: str
) -> Preference:
    """Save a member's choices: which of the kinds offered to them to email, the daily digest, and their language.

    Kinds not offered (a partner member is never offered the staff's kinds) keep their setting.
    """
    preference = Preference.objects.get_or_create(user=user)[0]
    offered, emailed = set(offered_kinds), set(emailed_kinds)
    preference.muted_kinds = [
        kind
        for kind in Kind.values
        if (kind in offered and kind not in emailed) or (kind not in offered and not preference.emails(kind))
    ]
    preference.digest = digest
    preference.save(update_fields=["muted_kinds", "digest"])
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    return preference


def unsubscribe_read(*, token: str) -> tuple[User, str]:
    """The member and the kind (or ALL_KINDS) an unsubscribe token names; signing.BadSignature when it is
    forged, or another program's."""
    data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    if data.get("tenant") != current_tenant().pk or data.get("kind") not in [*Kind.values, ALL_KINDS]:
        raise signing.BadSignature("Not a token of this program.")
    return User.objects.get(pk=data["user"]), data["kind"]


def unsubscribe(*, token: str) -> tuple[User, str]:
    """Stop the emails the token names (one kind, or all); works without signing in."""
    user, kind = unsubscribe_read(token=token)
    preference = Preference.objects.get_or_create(user=user)[0]
    muted = Kind.values if kind == ALL_KINDS else [*preference.muted_kinds, kind]
    preference.muted_kinds = sorted(set(muted))
    preference.save(update_fields=["muted_kinds"])
    return user, kind
