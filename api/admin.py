"""API keys in the tenant admin: create one (its key is shown once, on the next page), list, revoke."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from api.forms import ApiKeyForm
from api.models import ApiKey
from api.services import api_key_create, api_key_revoke
from loyalty.tenancy.admin_sites import TenantModelAdmin, action_confirm, tenant_admin_site
from loyalty.tenancy.models import AuditEntry


@admin.register(ApiKey, site=tenant_admin_site)
class ApiKeyAdmin(TenantModelAdmin):
    form = ApiKeyForm
    audit_category = AuditEntry.Category.API_KEYS
    list_display = ["name", "prefix", "scope_list", "state", "created_by", "created_at", "expires_at", "last_used_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    # The secret's hash is never shown, not even read-only.
    fields = ["name", "prefix", "scopes", "created_by", "created_at", "expires_at", "revoked_at", "last_used_at"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return ["name", "scopes", "expires_at"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return [] if obj is None else self.fields

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # a key's scopes never change under the integration using it: make a new key

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoked keys stay, so the ledger's "via API key …" always names a known key

    @admin.display(description=_("Scopes"))
    def scope_list(self, api_key: ApiKey) -> str:
        return ", ".join(api_key.scopes)

    @admin.display(description=_("State"))
    def state(self, api_key: ApiKey) -> str:
        if api_key.revoked_at is not None:
            return pgettext("API key", "revoked")
        return pgettext("API key", "active") if api_key.is_usable_at(timezone.now()) else pgettext("API key", "expired")

    def save_model(self, request: HttpRequest, obj: ApiKey, form: ApiKeyForm, change: bool) -> None:
        """Keys are made by the service (it generates and hashes the secret); the admin never saves one itself."""
        created = api_key_create(name=obj.name, scopes=obj.scopes, created_by=request.user, expires_at=obj.expires_at)
        request.api_key_token = created.token
        # The admin logs the addition and builds the next page from `obj`.
        obj.pk, obj.prefix, obj.tenant_id = created.api_key.pk, created.api_key.prefix, created.api_key.tenant_id

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        """The one page that ever shows the key."""
        context = {
            **self.admin_site.each_context(request),
            "title": _("API key created"),
            "opts": self.model._meta,
            "api_key": obj,
            "token": request.api_key_token,
        }
        return TemplateResponse(request, "api/apikey_created.html", context)

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> TemplateResponse | None:
        if page := action_confirm(
            request,
            queryset,
            action="revoke",
            title=_("Revoke API keys"),
            consequences=[
                _("Every request signed with these keys is refused from now on; a revoked key cannot return.")
            ],
        ):
            return page
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
            self.audit_action(request, api_key, "Revoked")
        self.message_user(request, _("%(count)s revoked.") % {"count": queryset.count()}, messages.SUCCESS)
        return None
