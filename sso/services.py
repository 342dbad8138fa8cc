"""Who an identity provider lets in, and the membership it gives them (just-in-time, on the first sign-in)."""

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from loyalty.tenancy.models import PARTNER_ROLES, AuditEntry, Membership, Role, User
from loyalty.tenancy.services import audit_record
from partners.models import Partner
from sso.models import IdentityProvider


class SsoRefusedError(Exception):
    """The identity provider vouched for someone this program does not let in; the message is for that person."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason  # English, for the security log


def claim_value(claims: dict, name: str) -> str:
    """One claim as text: SAML attributes come as lists (the first value counts), OIDC claims as scalars."""
    value = claims.get(name) if name else None
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return "" if value is None else str(value).strip()


def sso_identity_check(*, provider: IdentityProvider, email: str) -> None:
    """Refuse an identity without an email address, or with one outside the provider's allowed domains."""
    if not email:
        raise SsoRefusedError(
            _("%(provider)s did not send an email address, so we cannot tell who you are.") % {"provider": provider},
            reason="no email address in the identity",
        )
    if not provider.allows_email(email):
        raise SsoRefusedError(
            _("%(email)s may not sign in to this program through %(provider)s: its domain is not one it allows.")
            % {"email": email, "provider": provider},
            reason=f"{email} is outside the allowed domains",
        )


def sso_role_and_partner(*, provider: IdentityProvider, claims: dict) -> tuple[str, Partner | None]:
    """The role and partner the claims ask for, else the provider's defaults; refuses a partner role without one."""
    role = provider.role_values.get(claim_value(claims, provider.role_claim)) or provider.default_role
    if role not in PARTNER_ROLES:
        return role, None
    external_id = claim_value(claims, provider.partner_claim)
    partner = Partner.objects.filter(external_id=external_id).first() if external_id else None
    if external_id and partner is None:
        raise SsoRefusedError(
            _("This program has no partner %(partner)s, which %(provider)s says you work for.")
            % {"partner": external_id, "provider": provider},
            reason=f"unknown partner {external_id!r} in the partner claim",
        )
    partner = partner or provider.default_partner
    if partner is None:
        raise SsoRefusedError(
            _("%(provider)s did not say which partner you work for.") % {"provider": provider},
            reason="no partner in the claims and no default partner",
        )
    return role, partner


@transaction.atomic
def sso_membership_grant(
    *, provider: IdentityProvider, user: User, claims: dict, request: HttpRequest | None = None
) -> Membership:
    """The person's membership in the provider's program: created on the first sign-in (just in time), kept in
    step with the role and partner claims afterwards; a membership that staff ended is never revived."""
    role, partner = sso_role_and_partner(provider=provider, claims=claims)
    membership = Membership.objects.select_for_update().filter(user=user).first()
    if membership is not None and not membership.is_active:
        raise SsoRefusedError(
            _("Your membership in this program has ended: ask the program's staff if this is a mistake."),
            reason="membership ended by the program",
        )
    if membership is None:
        membership = Membership.objects.create(user=user, role=role, partner=partner)
        summary = f"Joined through single sign-on ({provider}) as {membership.get_role_display()}"
    elif provider.role_claim and claim_value(claims, provider.role_claim) in provider.role_values:
        if (membership.role, membership.partner_id) == (role, partner.pk if partner else None):
            return membership
        if membership.role == Role.OWNER:
            return membership  # an owner's role is the program's to change, not the identity provider's
        membership.role, membership.partner = role, partner
        membership.save(update_fields=["role", "partner"])
        summary = f"Role set by single sign-on ({provider}): {membership.get_role_display()}"
    else:
        return membership
    if partner is not None:
        summary += f" of {partner}"
    audit_record(
        actor=user,
        action=AuditEntry.Action.ACTION,
        target=membership,
        category=AuditEntry.Category.ROLES,
        summary=summary,
        request=request,
    )
    return membership


def sso_refusal_record(*, provider: IdentityProvider | None, error: str, request: HttpRequest) -> None:
    """A sign-in through the program's identity provider that was refused, in the security log."""
    audit_record(
        actor=None,
        action=AuditEntry.Action.ACTION,
        target=provider,
        category=AuditEntry.Category.SIGN_IN,
        summary=f"Refused single sign-on ({provider or 'unknown provider'}): {error}",
        changes={"sign_in": {"method": "sso", "provider": str(provider or ""), "refused": True}},
        request=request,
    )
