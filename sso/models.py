"""Single sign-on: each program's identity providers (OpenID Connect or SAML), kept per tenant.

allauth's own `SocialApp` table is global; Tierline never writes it. The adapter (sso/adapters.py) builds an
unsaved SocialApp from the host's tenant's rows, so a provider exists only on the host of the program that set it up.
"""

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.encryption import EncryptedTextField
from loyalty.tenancy.models import PARTNER_ROLES, Role, TenantOwnedModel

DOMAIN_PATTERN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
PROVIDER_ID_PREFIX = "sso-"
# An identity provider may make someone anything but an owner: owners join by invitation only.
CLAIMABLE_ROLES = frozenset(Role.values) - {Role.OWNER}


def split_domains(text: str) -> list[str]:
    """The domains of a comma-, space- or line-separated list, lowercased, without a leading '@'."""
    return [part.strip().lstrip("@").lower() for part in re.split(r"[\s,;]+", text or "") if part.strip()]


class IdentityProvider(TenantOwnedModel):
    """A program's identity provider: who may sign in through it, and the membership they get on first sign-in."""

    class Protocol(models.TextChoices):
        OIDC = "oidc", _("OpenID Connect")
        SAML = "saml", _("SAML 2.0")

    name = models.CharField(
        _("name"), max_length=100, help_text=_('Shown on the sign-in button: "Sign in with <name>".')
    )
    protocol = models.CharField(_("protocol"), max_length=8, choices=Protocol.choices, default=Protocol.OIDC)
    is_active = models.BooleanField(_("active"), default=True)

    # OpenID Connect
    issuer = models.URLField(
        _("issuer"),
        blank=True,
        help_text=_(
            "OpenID Connect: the issuer URL; its /.well-known/openid-configuration is read, and ID tokens must "
            "name exactly this issuer."
        ),
    )
    client_id = models.CharField(_("client ID"), max_length=200, blank=True)
    # Stored encrypted (loyalty/encryption.py): a dump or a backup of the database holds no usable secret.
    client_secret = EncryptedTextField(_("client secret"), max_length=500, blank=True)

    # SAML
    saml_entity_id = models.CharField(
        _("IdP entity ID"), max_length=500, blank=True, help_text=_("SAML: the identity provider's entity ID.")
    )
    saml_metadata_url = models.URLField(
        _("IdP metadata URL"),
        blank=True,
        help_text=_("SAML: where the identity provider publishes its metadata (or fill in the two fields below)."),
    )
    saml_sso_url = models.URLField(_("IdP sign-in URL"), blank=True, help_text=_("SAML: the single sign-on URL."))
    saml_certificate = models.TextField(
        _("IdP signing certificate"),
        blank=True,
        help_text=_("SAML: the X.509 certificate (PEM) assertions are signed with."),
    )

    allowed_domains = models.TextField(
        _("allowed email domains"),
        help_text=_("Only people with an email address at one of these domains may sign in (comma or line separated)."),
    )
    default_role = models.CharField(
        _("default role"),
        max_length=32,
        choices=Role.choices,
        default=Role.PARTNER_USER,
        help_text=_("The role of someone who signs in for the first time, unless the role claim says otherwise."),
    )
    default_partner = models.ForeignKey(
        "partners.Partner",
        verbose_name=_("default partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For partner roles: the partner they act for, unless the partner claim names another."),
    )
    role_claim = models.CharField(
        _("role claim"),
        max_length=200,
        blank=True,
        help_text=_("Name of the claim or SAML attribute holding the person's role (empty: always the default role)."),
    )
    role_values = models.JSONField(
        _("role values"),
        default=dict,
        blank=True,
        help_text=_('What each value of the role claim means, e.g. {"channel-admin": "partner_admin"}.'),
    )
    partner_claim = models.CharField(
        _("partner claim"),
        max_length=200,
        blank=True,
        help_text=_("Name of the claim or SAML attribute holding the partner's external ID (from your CRM)."),
    )
    required_for_staff = models.BooleanField(
        _("required for program staff"),
        default=False,
        help_text=_(
            "The program's staff (owners, program managers, account managers, finance) may sign in only with "
            "this provider: password sign-in and My programs' hand-off are refused for them."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        ordering = ["name"]
        verbose_name = _("identity provider")
        verbose_name_plural = _("single sign-on")
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="identity_provider_name_per_tenant")]

    def __str__(self) -> str:
        return self.name

    @property
    def provider_id(self) -> str:
        """allauth's provider id (and SAML organisation slug): unique across programs, since the pk is."""
        return f"{PROVIDER_ID_PREFIX}{self.pk}"

    @property
    def domains(self) -> list[str]:
        return split_domains(self.allowed_domains)

    def allows_email(self, email: str) -> bool:
        return email.rpartition("@")[2].lower() in self.domains

    def clean(self) -> None:
        errors: dict[str, str] = {}
        domains = self.domains
        if not domains:
            errors["allowed_domains"] = _("Name at least one domain.")
        elif bad := [domain for domain in domains if not DOMAIN_PATTERN.match(domain)]:
            errors["allowed_domains"] = _("Not a domain: %(domains)s.") % {"domains": ", ".join(bad)}
        if self.protocol == self.Protocol.OIDC:
            for field in ("issuer", "client_id", "client_secret"):
                if not getattr(self, field):
                    errors[field] = _("OpenID Connect needs this.")
        else:
            if not self.saml_entity_id:
                errors["saml_entity_id"] = _("SAML needs this.")
            if not self.saml_metadata_url and not (self.saml_sso_url and self.saml_certificate):
                errors["saml_metadata_url"] = _("Give the metadata URL, or the sign-in URL and the certificate.")
        if not isinstance(self.role_values, dict) or any(
            value not in CLAIMABLE_ROLES for value in (self.role_values or {}).values()
        ):
            errors["role_values"] = _("Map each claim value to one of: %(roles)s.") % {
                "roles": ", ".join(sorted(CLAIMABLE_ROLES))
            }
        if self.default_role not in CLAIMABLE_ROLES:
            errors["default_role"] = _("Owners join by invitation only.")
        if self.default_role in PARTNER_ROLES and self.default_partner_id is None and not self.partner_claim:
            errors["default_partner"] = _("A partner role needs a default partner or a partner claim.")
        if errors:
            raise ValidationError(errors)
