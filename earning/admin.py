"""The tenant admin's earning rules."""

from django.contrib import admin
from django.http import HttpRequest

from earning.models import EarningRule
from loyalty.tenancy.admin_sites import TenantModelAdmin, tenant_admin_site


@admin.register(EarningRule, site=tenant_admin_site)
class EarningRuleAdmin(TenantModelAdmin):
    list_display = ["name", "activity_kind", "basis", "rate", "valid_from", "valid_until", "cap_points", "is_active"]
    list_filter = ["is_active", "activity_kind", "basis"]
    search_fields = ["name", "code"]
    filter_horizontal = ["partner_types"]
    fieldsets = [
        (None, {"fields": ["name", "activity_kind", "is_active"]}),
        ("Points", {"fields": ["basis", "rate", "applies_tier_multiplier"]}),
        ("Conditions", {"fields": ["partner_types", "product_categories", "minimum_amount", "code"]}),
        ("Campaign window and cap", {"fields": ["valid_from", "valid_until", "cap_points", "cap_period"]}),
    ]

    def has_delete_permission(self, request: HttpRequest, obj: EarningRule | None = None) -> bool:
        # Rules that priced entries stay for the record; deactivate them instead.
        return super().has_delete_permission(request, obj) and (obj is None or not obj.entries.exists())
