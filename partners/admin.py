from django.contrib import admin

from loyalty.tenancy.admin_sites import TenantModelAdmin, tenant_admin_site
from partners.models import Partner, PartnerType


@admin.register(PartnerType, site=tenant_admin_site)
class PartnerTypeAdmin(TenantModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(Partner, site=tenant_admin_site)
class PartnerAdmin(TenantModelAdmin):
    list_display = [
        "name",
        "external_id",
        "partner_type",
        "region",
        "segment",
        "account_manager",
        "status",
        "joined_at",
    ]
    list_filter = ["status", "partner_type", "region", "segment"]
    search_fields = ["name", "external_id"]
    list_select_related = ["partner_type", "account_manager"]
    date_hierarchy = "joined_at"
