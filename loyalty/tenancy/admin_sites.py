"""The two admin sites: the platform admin (superusers, bare host) and each tenant's admin (its staff)."""

from collections.abc import Callable
from functools import wraps

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from loyalty.tenancy.models import PROGRAM_ROLES


class PlatformAdminSite(admin.AdminSite):
    site_header = "Tierline platform"
    site_title = "Tierline platform"
    index_title = "Tenants and platform settings"

    def has_permission(self, request: HttpRequest) -> bool:
        return getattr(request, "tenant", None) is None and request.user.is_active and request.user.is_superuser


class TenantAdminSite(admin.AdminSite):
    """A tenant's admin at `<tenant host>/admin/`, for its program managers and owners.

    Every model registered here uses its scoped default manager, so lists, forms and foreign-key
    choices only ever show the current tenant's rows.
    """

    site_title = "Tierline"
    index_title = "Program administration"

    def has_permission(self, request: HttpRequest) -> bool:
        membership = getattr(request, "membership", None)
        return (
            getattr(request, "tenant", None) is not None
            and request.user.is_active
            and membership is not None
            and membership.role in PROGRAM_ROLES
        )

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        context["site_header"] = f"{request.tenant.name} · Tierline" if getattr(request, "tenant", None) else "Tierline"
        return context

    def admin_view(self, view: Callable, cacheable: bool = False) -> Callable:
        """A signed-in user without a staff role here gets 403, not the admin's login form."""
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied
            return inner(request, *args, **kwargs)

        return guarded

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """Sign-in is allauth's, on the tenant's host."""
        if request.user.is_authenticated:
            raise PermissionDenied
        return redirect_to_login(request.GET.get("next", reverse("admin:index")), reverse("account_login"))


# Named "admin" like the platform site: each lives in its own URLconf, and admin templates reverse "admin:…".
tenant_admin_site = TenantAdminSite(name="admin")


class TenantModelAdmin(admin.ModelAdmin):
    """ModelAdmin for tenant-owned models: permission comes from the member's role, not Django perms."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.admin_site.has_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.admin_site.has_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)


def action_reason(request: HttpRequest, queryset: QuerySet, *, action: str, title: str) -> str | TemplateResponse:
    """For admin actions that need a reason: the reason once confirmed, else the page that asks for it."""
    reason = request.POST.get("reason", "").strip()
    if request.POST.get("confirmed") and reason:
        return reason
    context = {
        **tenant_admin_site.each_context(request),
        "title": title,
        "objects": queryset,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "missing_reason": bool(request.POST.get("confirmed")) and not reason,
        "opts": queryset.model._meta,
    }
    return TemplateResponse(request, "admin/action_reason.html", context)


class TenantInlineMixin:
    """Inlines of tenant admins: permission comes from the member's role, like TenantModelAdmin."""

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)


class ReviewActions:
    """Bulk approve and reject (with a reason) for admins of reviewable rows; refusals are reported per row."""

    actions = ["approve", "reject"]
    approve_service: Callable[..., object]
    reject_service: Callable[..., object]
    review_title: str

    def _apply(self, request: HttpRequest, queryset: QuerySet, verb: str, service: Callable[[object], object]) -> None:
        done = 0
        for row in queryset:
            try:
                service(row)
                done += 1
            except ValidationError as error:
                self.message_user(request, f"{row}: {' '.join(error.messages)}", messages.ERROR)
        self.message_user(request, f"{done} {verb}.", messages.SUCCESS)

    @admin.action(description="Approve the selected rows")
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, "approved", lambda row: self.approve_service(row, request.user))

    @admin.action(description="Reject the selected rows, with a reason")
    def reject(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        reason = action_reason(request, queryset, action="reject", title=self.review_title)
        if isinstance(reason, TemplateResponse):
            return reason
        self._apply(request, queryset, "rejected", lambda row: self.reject_service(row, request.user, reason))
        return None


class ReadOnlyModelAdmin(TenantModelAdmin):
    """Rows written only by services (ledger, scores, runs): the admin shows them and never edits them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class HistoryInline(TenantInlineMixin, admin.TabularInline):
    """A read-only status history (who moved it, from what, to what, why, when) under its object."""

    extra = 0
    fields = ["created_at", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
