"""Identity providers in the tenant admin (program staff) and in the platform admin (superusers, any program)."""

from collections.abc import Callable

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django_scopes import scopes_disabled

from loyalty.tenancy.admin_sites import TenantModelAdmin, tenant_admin_site
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry, Tenant
from loyalty.tenancy.services import audit_record
from sso.models import IdentityProvider

CONNECTION = [
    "issuer",
    "client_id",
    "client_secret",
    "saml_entity_id",
    "saml_metadata_url",
    "saml_sso_url",
    "saml_certificate",
]
WHO = ["allowed_domains", "default_role", "role_claim", "role_values", "partner_claim", "required_for_staff"]


def field_options(db_field: models.Field, kwargs: dict) -> dict:
    """The client secret is typed like a password and never shown again (`ProviderForm`); URLs are https."""
    if db_field.name == "client_secret":
        kwargs["widget"] = forms.PasswordInput(render_value=False)
    if isinstance(db_field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return kwargs


class ProviderForm(forms.ModelForm):
    """The saved client secret never goes back to the browser: left blank on a change, it stays as it is."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.client_secret and "client_secret" in self.fields:
            self.fields["client_secret"].help_text = _("Saved (not shown). Leave blank to keep it, or type a new one.")

    def clean_client_secret(self) -> str:
        return self.cleaned_data.get("client_secret") or (self.instance.client_secret if self.instance.pk else "")


@admin.register(IdentityProvider, site=tenant_admin_site)
class IdentityProviderAdmin(TenantModelAdmin):
    """Program staff connect their program to an OpenID Connect or SAML identity provider."""

    form = ProviderForm
    audit_category = AuditEntry.Category.SSO
    list_display = ["name", "protocol", "is_active", "allowed_domains", "default_role", "required_for_staff"]
    list_filter = ["protocol", "is_active", "required_for_staff"]
    fieldsets = [
        (None, {"fields": ["name", "protocol", "is_active"]}),
        (_("Connection (OpenID Connect: issuer and client; SAML: the IdP fields)"), {"fields": CONNECTION}),
        (_("Who may sign in, and as what"), {"fields": [*WHO[:2], "default_partner", *WHO[2:]]}),
        (_("Give your identity provider"), {"fields": ["redirect_uri"]}),
    ]
    readonly_fields = ["redirect_uri"]

    def formfield_for_dbfield(self, db_field: models.Field, request: HttpRequest, **kwargs) -> forms.Field | None:
        return super().formfield_for_dbfield(db_field, request, **field_options(db_field, kwargs))

    @admin.display(description=_("Redirect URI / SAML metadata"))
    def redirect_uri(self, provider: IdentityProvider) -> str:
        """What the identity provider's administrator needs from us (once the provider is saved)."""
        if provider.pk is None:
            return _("Shown once saved.")
        if provider.protocol == IdentityProvider.Protocol.OIDC:
            return f"/accounts/oidc/{provider.provider_id}/login/callback/ (on this program's host)"
        return f"/accounts/saml/{provider.provider_id}/metadata/ (on this program's host)"


class PlatformIdentityProviderForm(ProviderForm):
    """The admin builds the model's fields (a request is needed); this adds the program the row belongs to."""

    program = forms.ModelChoiceField(queryset=Tenant.objects.all())

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["program"].initial = self.instance.tenant_id
            self.fields["program"].disabled = True

    def _post_clean(self) -> None:
        program = self.cleaned_data.get("program")
        if program is not None and self.instance.tenant_id is None:
            self.instance.tenant = program
        super()._post_clean()


@admin.register(IdentityProvider)
class PlatformIdentityProviderAdmin(admin.ModelAdmin):
    """The platform admin sets up a program's identity provider for it (each row stays its program's)."""

    form = PlatformIdentityProviderForm
    exclude = ["default_partner"]  # a partner belongs to one program: its staff pick it in their admin
    list_display = ["name", "tenant", "protocol", "is_active", "allowed_domains", "required_for_staff"]
    list_filter = ["protocol", "is_active", "tenant"]
    fieldsets = [
        (None, {"fields": ["program", "name", "protocol", "is_active"]}),
        (_("Connection"), {"fields": CONNECTION}),
        (_("Who may sign in, and as what"), {"fields": WHO}),
    ]

    def formfield_for_dbfield(self, db_field: models.Field, request: HttpRequest, **kwargs) -> forms.Field | None:
        return super().formfield_for_dbfield(db_field, request, **field_options(db_field, kwargs))

    def get_queryset(self, request: HttpRequest) -> QuerySet[IdentityProvider]:
        return IdentityProvider.all_tenants.select_related("tenant")

    def get_urls(self) -> list:
        # Reads across programs (with the platform's row-level security flag, which the platform admin sets).
        return [self._unscoped(url) for url in super().get_urls()]

    @staticmethod
    def _unscoped(url: object) -> object:
        view: Callable[..., HttpResponse] = url.callback

        def unscoped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            with scopes_disabled():
                return view(request, *args, **kwargs)

        url.callback = unscoped
        return url

    def save_model(self, request: HttpRequest, obj: IdentityProvider, form: forms.Form, change: bool) -> None:
        with tenant_context(obj.tenant):
            obj.save()
            audit_record(
                actor=request.user,
                action=AuditEntry.Action.CHANGE if change else AuditEntry.Action.CREATE,
                target=obj,
                category=AuditEntry.Category.SSO,
                summary=f"Platform admin {'changed' if change else 'added'} the identity provider {obj}",
            )

    def delete_model(self, request: HttpRequest, obj: IdentityProvider) -> None:
        with tenant_context(obj.tenant):
            obj.delete()
