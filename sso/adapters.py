"""allauth's adapters for single sign-on: providers per program, who gets in, and "SSO required" for staff.

allauth looks up identity providers through `list_apps`; here they come from the host's tenant's
IdentityProvider rows only, so tenant A's provider does not exist on tenant B's host (its login, callback and
ACS URLs are 404 there) and an identity from it can never make or reach a membership in B.
"""

from allauth.account.internal.stagekit import clear_login
from allauth.account.utils import user_email
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from loyalty.tenancy.adapters import AccountAdapter as InvitationOnlyAccountAdapter
from loyalty.tenancy.models import PARTNER_ROLES, Membership, User
from loyalty.tenancy.selectors import memberships_everywhere
from sso.models import IdentityProvider
from sso.selectors import identity_provider_for, identity_providers_active, sso_required_for_staff
from sso.services import (
    SsoRefusedError,
    sso_identity_check,
    sso_membership_grant,
    sso_refusal_record,
    sso_role_and_partner,
)

SAML_ATTRIBUTES = {
    "uid": ["urn:oasis:names:tc:SAML:attribute:subject-id"],
    "email": [
        "email",
        "urn:oid:0.9.2342.19200300.100.1.3",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    ],
    "first_name": ["givenName", "urn:oid:2.5.4.42", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"],
    "last_name": ["sn", "urn:oid:2.5.4.4", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"],
}


def social_app(provider: IdentityProvider) -> SocialApp:
    """The unsaved allauth SocialApp of one of the program's identity providers."""
    common = {"provider_id": provider.provider_id, "name": provider.name}
    if provider.protocol == IdentityProvider.Protocol.OIDC:
        return SocialApp(
            provider="openid_connect",
            client_id=provider.client_id,
            secret=provider.client_secret,
            settings={
                "server_url": provider.issuer,
                # ID tokens must name the issuer the program configured, whatever the discovery document says.
                "openid_configuration_overrides": {"issuer": provider.issuer},
                "oauth_pkce_enabled": True,
            },
            **common,
        )
    idp = {"entity_id": provider.saml_entity_id}
    if provider.saml_metadata_url:
        idp["metadata_url"] = provider.saml_metadata_url
    else:
        idp.update(sso_url=provider.saml_sso_url, x509cert=provider.saml_certificate)
    return SocialApp(
        provider="saml",
        client_id=provider.provider_id,  # the organisation slug in /accounts/saml/<slug>/…
        settings={
            "idp": idp,
            "attribute_mapping": SAML_ATTRIBUTES,
            "use_nameid_for_email": False,
            "advanced": {"want_assertion_signed": True, "reject_idp_initiated_sso": True},
        },
        **common,
    )


def login_claims(sociallogin: SocialLogin) -> dict:
    """What the identity provider said: OIDC's ID token and userinfo claims, or SAML's attributes."""
    data = sociallogin.account.extra_data or {}
    if "userinfo" in data or "id_token" in data:
        return {**(data.get("id_token") or {}), **(data.get("userinfo") or {})}
    return data


def login_provider(request: HttpRequest, sociallogin: SocialLogin) -> IdentityProvider | None:
    return identity_provider_for(provider_id=sociallogin.account.provider) if request.tenant else None


def refused(request: HttpRequest, provider: IdentityProvider | None, error: SsoRefusedError) -> ImmediateHttpResponse:
    sso_refusal_record(provider=provider, error=error.reason, request=request)
    context = {"provider": provider, "message": error.message}
    return ImmediateHttpResponse(render(request, "sso/refused.html", context, status=403))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request: HttpRequest, provider: str | None = None, client_id: str | None = None) -> list:
        if request is None or getattr(request, "tenant", None) is None:
            return []  # the platform host has no identity providers
        apps = [social_app(idp) for idp in identity_providers_active()]
        return [
            app
            for app in apps
            if (provider is None or provider in (app.provider, app.provider_id))
            and (client_id is None or client_id == app.client_id)
        ]

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True  # pre_social_login has already refused whoever this program does not let in

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        provider = login_provider(request, sociallogin)
        try:
            if provider is None:
                raise SsoRefusedError(_("This program has no such identity provider."), reason="unknown provider")
            self._admit(request, provider, sociallogin)
        except SsoRefusedError as error:
            raise refused(request, provider, error) from error

    def _admit(self, request: HttpRequest, provider: IdentityProvider, sociallogin: SocialLogin) -> None:
        email = (user_email(sociallogin.user) or "").strip().lower()
        sso_identity_check(provider=provider, email=email)
        claims = login_claims(sociallogin)
        if sociallogin.state.get("process") == AuthProcess.CONNECT:
            # Linking while signed in with a password on this host: the person has proved the account is theirs.
            sso_membership_grant(provider=provider, user=request.user, claims=claims, request=request)
            return
        if not sociallogin.is_existing:
            user = User.objects.filter(email__iexact=email).first()
            if user is None:
                sso_role_and_partner(provider=provider, claims=claims)  # refuse before an account is made
                return  # a new person: save_user creates the account and its membership
            if not self._may_take_over(request, user):
                raise SsoRefusedError(
                    _(
                        "An account with %(email)s already exists. Sign in with its password once, then link "
                        "%(provider)s on your account's single sign-on page."
                    )
                    % {"email": email, "provider": provider},
                    reason=f"{email} has an account used outside this program",
                )
        else:
            user = sociallogin.user
        if not user.is_active:
            raise SsoRefusedError(_("This account is disabled."), reason="account disabled")
        sso_membership_grant(provider=provider, user=user, claims=claims, request=request)
        if not sociallogin.is_existing:
            sociallogin.connect(request, user)  # from now on this identity signs in as this account

    @staticmethod
    def _may_take_over(request: HttpRequest, user: User) -> bool:
        """An existing account is signed into by the program's identity provider only when it is this program's
        alone: an account also used in other programs (or on the platform) is linked by its owner, signed in."""
        programs = {membership.tenant_id for membership in memberships_everywhere(user=user)}
        return not user.is_superuser and programs == {request.tenant.pk}

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: object = None) -> User:
        user = super().save_user(request, sociallogin, form)
        provider = login_provider(request, sociallogin)
        sso_membership_grant(provider=provider, user=user, claims=login_claims(sociallogin), request=request)
        return user

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: object,
        error: str | None = None,
        exception: Exception | None = None,
        extra_context: dict | None = None,
    ) -> None:
        """A failed exchange with the identity provider (a wrong issuer or audience, a bad signature…), logged."""
        if getattr(request, "tenant", None) is None:
            return
        idp = identity_provider_for(provider_id=getattr(provider, "sub_id", "") or "")
        detail = (extra_context or {}).get("saml_last_error_reason") or exception or error or "unknown error"
        sso_refusal_record(
            provider=idp, error=f"the identity provider's answer was refused ({detail})"[:200], request=request
        )


class AccountAdapter(InvitationOnlyAccountAdapter):
    """With "SSO required for staff", the program's staff get in only through its identity provider."""

    def pre_login(self, request: HttpRequest, user: User, **kwargs: object) -> HttpResponse | None:
        response = super().pre_login(request, user, **kwargs)
        if response is not None or getattr(request, "tenant", None) is None:
            return response
        steps = [record.get("method") for record in request.session.get("account_authentication_methods", [])]
        if "socialaccount" in steps or not sso_required_for_staff():
            return None
        membership = Membership.objects.filter(user=user, is_active=True).first()
        if membership is None or membership.role in PARTNER_ROLES:
            return None
        clear_login(request)
        request.session.pop("account_authentication_methods", None)
        message = _("Program staff sign in to %(program)s with single sign-on.") % {"program": request.tenant}
        messages.error(request, message)
        return redirect("account_login")
