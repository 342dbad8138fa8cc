"""Fund periods are configured here; accounts, entries, requests, claims and payouts are shown read-only (they
change only through `funds.services`, from the portal's review queues or the allocation action)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from funds.models import FundAccount, FundClaim, FundEntry, FundPayout, FundPeriod, FundRequest
from funds.services import fund_accrue, fund_allocate
from loyalty.tenancy.admin_sites import ReadOnlyModelAdmin, TenantModelAdmin, tenant_admin_site


@admin.register(FundPeriod, site=tenant_admin_site)
class FundPeriodAdmin(TenantModelAdmin):
    list_display = ["name", "kind", "starts_on", "ends_on", "accrual_percent", "max_reimbursement_percent"]
    list_filter = ["kind"]
    actions = ["allocate"]

    @admin.action(description=_("Allocate funds (tier allocation once, accrual brought up to date)"))
    def allocate(self, request: HttpRequest, queryset: QuerySet[FundPeriod]) -> None:
        for period in queryset:
            allocated = fund_allocate(period=period)
            accrued = fund_accrue(period=period)
            self.audit_action(request, period, f"Allocated {len(allocated.credited)}, accrued {len(accrued.credited)}")
            self.message_user(
                request,
                _(
                    "%(period)s: %(allocated)s partner(s) allocated by tier, %(skipped)s without an allocation, "
                    "%(accrued)s accrual(s) posted."
                )
                % {
                    "period": period,
                    "allocated": len(allocated.credited),
                    "skipped": len(allocated.skipped),
                    "accrued": len(accrued.credited),
                },
                messages.SUCCESS,
            )


@admin.register(FundAccount, site=tenant_admin_site)
class FundAccountAdmin(ReadOnlyModelAdmin):
    list_display = ["partner", "period", "available", "committed", "currency", "updated_at"]
    list_filter = ["period"]
    search_fields = ["partner__name", "partner__external_id"]
    list_select_related = ["partner", "period"]


@admin.register(FundEntry, site=tenant_admin_site)
class FundEntryAdmin(ReadOnlyModelAdmin):
    list_display = ["created_at", "account", "kind", "available_delta", "committed_delta", "currency", "memo"]
    list_filter = ["kind"]
    list_select_related = ["account__partner", "account__period"]


@admin.register(FundRequest, site=tenant_admin_site)
class FundRequestAdmin(ReadOnlyModelAdmin):
    list_display = ["title", "partner", "activity_type", "requested_amount", "approved_amount", "status"]
    list_filter = ["status", "activity_type"]
    search_fields = ["title", "partner__name"]
    list_select_related = ["partner"]


@admin.register(FundClaim, site=tenant_admin_site)
class FundClaimAdmin(ReadOnlyModelAdmin):
    list_display = ["request", "partner", "total_cost", "amount", "approved_amount", "status"]
    list_filter = ["status"]
    list_select_related = ["request", "partner"]


@admin.register(FundPayout, site=tenant_admin_site)
class FundPayoutAdmin(ReadOnlyModelAdmin):
    list_display = ["number", "partner", "amount", "currency", "method", "issued_at"]
    list_select_related = ["partner"]
