"""Writes of memberships and invitations."""

import ipaddress
import secrets
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.tenancy.context import platform_context
from loyalty.tenancy.models import (
    PARTNER_ROLES,
    AuditEntry,
    Invitation,
    Membership,
    Role,
    SignInHandoff,
    Tenant,
    User,
)
from loyalty.tenancy.tasks import enqueue_on_commit, invitation_send


def invitation_validate(*, email: str, role: str, partner: models.Model | None) -> None:
    """The business rules of an invitation; raises ValidationError keyed by field."""
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    if role in PARTNER_ROLES and partner is None:
        raise ValidationError({"partner": _("Partner roles need a partner.")})
    if role not in PARTNER_ROLES and partner is not None:
        raise ValidationError({"partner": _("Only partner roles belong to a partner.")})
    if Membership.objects.filter(user__email__iexact=email.strip(), is_active=True).exists():
        raise ValidationError({"email": _("This person is already a member of the program.")})


@transaction.atomic
def invitation_create(
    *, email: str, role: str, partner: models.Model | None = None, invited_by: User | None
) -> Invitation:
    """Invite `email` to the current tenant with `role`; earlier pending invitations for it are revoked."""
    email = email.strip().lower()
    invitation_validate(email=email, role=role, partner=partner)
    now = timezone.now()
    Invitation.objects.filter(email=email, accepted_at=None, revoked_at=None).update(revoked_at=now)
    invitation = Invitation(
        email=email,
        role=role,
        partner=partner,
        invited_by=invited_by,
        expires_at=now + timedelta(days=settings.INVITATION_VALID_DAYS),
    )
    invitation.full_clean()
    invitation.save()
    _roles_audit(
        actor=invited_by,
        action=AuditEntry.Action.CREATE,
        target=invitation,
        summary=f"Invited {email} as {invitation.get_role_display()}" + (f" of {partner}" if partner else ""),
    )
    enqueue_on_commit(invitation_send, invitation_id=invitation.pk)
    return invitation


def invitation_resend(*, invitation: Invitation) -> None:
    if not invitation.is_pending:
        raise ValidationError(_("Only pending invitations can be sent again."))
    enqueue_on_commit(invitation_send, invitation_id=invitation.pk)


def invitation_revoke(*, invitation: Invitation, actor: User | None) -> None:
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        _roles_audit(
            actor=actor,
            action=AuditEntry.Action.ACTION,
            target=invitation,
            summary=f"Revoked the invitation of {invitation.email}",
        )


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Turn a pending invitation into an active membership for `user`, whose email must match."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending:
        raise ValidationError(_("This invitation has expired, was revoked or was already used."))
    if user.email.lower() != invitation.email.lower():
        raise ValidationError(_("This invitation was sent to another email address."))
    membership = Membership.objects.filter(user=user).first()
    if membership is None:
        membership = Membership(user=user)
    elif membership.is_active:
        raise ValidationError(_("You are already a member of this program."))
    membership.role = invitation.role
    membership.partner = invitation.partner
    membership.is_active = True
    membership.save()
    # Following the emailed link proves the address.
    EmailAddress.objects.update_or_create(
        user=user, email=invitation.email, defaults={"verified": True, "primary": True}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    _roles_audit(
        actor=user,
        action=AuditEntry.Action.ACTION,
        target=membership,
        summary=f"Accepted the invitation: {membership.get_role_display()}"
        + (f" of {membership.partner}" if membership.partner_id else ""),
    )
    return membership


@transaction.atomic
def invitation_signup(*, invitation: Invitation, password: str, first_name: str = "", last_name: str = "") -> User:
    """Create the invitee's account (they have none yet) and accept the invitation with it."""
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise ValidationError(_("An account with this email exists: sign in to accept."))
    user = User.objects.create_user(invitation.email, password, first_name=first_name, last_name=last_name)
    invitation_accept(invitation=invitation, user=user)
    return user


@transaction.atomic
def membership_deactivate(*, membership: Membership, actor: User) -> None:
    """Remove a member from the program; nobody removes themselves, and a partner keeps an active partner admin."""
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.user_id == actor.pk:
        raise ValidationError(_("You cannot remove yourself from the team."))
    if not membership.is_active:
        return
    if membership.role == Role.PARTNER_ADMIN:
        # Lock the partner's active admins so two concurrent removals cannot leave none.
        admins = list(
            Membership.objects.select_for_update()
            .filter(partner_id=membership.partner_id, role=Role.PARTNER_ADMIN, is_active=True)
            .values_list("pk", flat=True)
        )
        if admins == [membership.pk]:
            raise ValidationError(_("This is the partner's last active partner admin: make someone else admin first."))
    membership.is_active = False
    membership.save(update_fields=["is_active"])
    _roles_audit(
        actor=actor,
        action=AuditEntry.Action.ACTION,
        target=membership,
        summary=f"Removed {membership.user} ({membership.get_role_display()}) from the program",
    )


def _roles_audit(*, actor: User | None, action: str, target: models.Model, summary: str) -> None:
    """Who joined, left or changed role: the security log's `roles` category."""
    audit_record(actor=actor, action=action, target=target, category=AuditEntry.Category.ROLES, summary=summary)


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    summary: str = "",
    changes: dict | None = None,
    category: str = AuditEntry.Category.CHANGE,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """Append one entry to the current tenant's audit log; `request` adds where it came from (IP, user agent)."""
    return AuditEntry.objects.create(
        actor=actor,
        category=category,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk or "") if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        summary=summary[:300],
        changes=changes or {},
        ip_address=client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:300] if request is not None else "",
    )


def client_ip(request: HttpRequest | None) -> str | None:
    """The peer's address as the WSGI server saw it (behind a proxy, the proxy must pass it on as REMOTE_ADDR)."""
    if request is None:
        return None
    try:
        return str(ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")))
    except ValueError:
        return None


HANDOFF_SALT = "tierline.sign-in-handoff"
HANDOFF_VALID_SECONDS = 60


class HandoffRefusedError(Exception):
    """A hand-off token that is forged, expired, spent, for another host, or for someone without a membership."""


def handoff_issue(*, user: User, tenant: Tenant) -> str:
    """A signed, single-use pass into `tenant`'s host for `user`, valid for a minute; only for a member."""
    with platform_context():
        if not Membership.all_tenants.filter(user=user, tenant=tenant, is_active=True).exists():
            raise HandoffRefusedError("not a member of this program")
        handoff = SignInHandoff.objects.create(user=user, tenant=tenant, nonce=secrets.token_urlsafe(32))
    return signing.dumps({"nonce": handoff.nonce, "user": user.pk, "tenant": tenant.pk}, salt=HANDOFF_SALT)


def handoff_redeem(*, token: str, tenant: Tenant) -> User:
    """The person a hand-off token lets into `tenant`, spending it; raises HandoffRefusedError otherwise."""
    try:
        payload = signing.loads(token, salt=HANDOFF_SALT, max_age=HANDOFF_VALID_SECONDS)
    except signing.BadSignature as error:  # includes SignatureExpired
        raise HandoffRefusedError("forged or expired") from error
    if payload.get("tenant") != tenant.pk:
        raise HandoffRefusedError("issued for another program")
    spent = SignInHandoff.objects.filter(
        nonce=payload.get("nonce"),
        user_id=payload.get("user"),
        tenant=tenant,
        used_at__isnull=True,
        created_at__gte=timezone.now() - timedelta(seconds=HANDOFF_VALID_SECONDS),
    ).update(used_at=timezone.now())
    if spent != 1:  # one UPDATE decides: two tabs racing with the same token, only one gets in
        raise HandoffRefusedError("already used")
    user = User.objects.filter(pk=payload["user"], is_active=True).first()
    if user is None or not Membership.objects.filter(user=user, is_active=True).exists():
        raise HandoffRefusedError("no active membership")
    return user
