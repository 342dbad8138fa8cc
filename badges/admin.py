"""Badges in the tenant admin: program staff define the rules and bonus points, and see who earned what."""

from django.contrib import admin
from django.http import HttpRequest

from badges.models import Badge, BadgeAward
from loyalty.tenancy.admin_sites import TenantModelAdmin, tenant_admin_site


@admin.register(Badge, site=tenant_admin_site)
class BadgeAdmin(TenantModelAdmin):
    list_display = ["__str__", "rule", "threshold", "bonus_points", "is_active", "position"]
    list_filter = ["rule", "is_active"]
    list_editable = ["is_active", "position"]


@admin.register(BadgeAward, site=tenant_admin_site)
class BadgeAwardAdmin(TenantModelAdmin):
    """Awards are written by the nightly run and the triggers only (once each, with their bonus): read-only here."""

    list_display = ["partner", "badge", "awarded_at"]
    list_filter = ["badge"]
    search_fields = ["partner__name", "partner__external_id"]
    list_select_related = ["partner", "badge"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: BadgeAward | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: BadgeAward | None = None) -> bool:
        return False
