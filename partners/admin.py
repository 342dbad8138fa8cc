from collections.abc import Callable

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from loyalty.tenancy.admin_sites import TenantModelAdmin, action_reason, tenant_admin_site
from partners.models import Activity, ActivityStatusChange, Claim, Partner, PartnerType
from partners.services import activity_approve, activity_reject, claim_approve, claim_reject


@admin.register(PartnerType, site=tenant_admin_site)
class PartnerTypeAdmin(TenantModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(Partner, site=tenant_admin_site)
class PartnerAdmin(TenantModelAdmin):
    list_display = ["name", "partner_type", "region", "account_manager", "status"]
    list_filter = ["status", "partner_type", "region", "segment"]
    search_fields = ["name", "external_id"]
    list_select_related = ["partner_type", "account_manager"]
    date_hierarchy = "joined_at"


def _each(queryset: QuerySet, service: Callable[[object], object]) -> tuple[int, list[str]]:
    """Apply a service to each selected row; collect refusals instead of stopping at the first."""
    done, refusals = 0, []
    for row in queryset:
        try:
            service(row)
            done += 1
        except ValidationError as error:
            refusals.append(f"{row}: {' '.join(error.messages)}")
    return done, refusals


def _report(modeladmin: admin.ModelAdmin, request: HttpRequest, verb: str, done: int, refusals: list[str]) -> None:
    modeladmin.message_user(request, f"{done} {verb}.", messages.SUCCESS)
    for refusal in refusals:
        modeladmin.message_user(request, refusal, messages.ERROR)


class ActivityStatusChangeInline(admin.TabularInline):
    model = ActivityStatusChange
    extra = 0
    can_delete = False
    fields = ["created_at", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Activity, site=tenant_admin_site)
class ActivityAdmin(TenantModelAdmin):
    """Activities arrive by API, import or claim; here staff review them. Status moves only through actions."""

    list_display = ["occurred_at", "partner", "kind", "amount", "currency", "code", "source", "status"]
    list_filter = ["status", "kind", "source"]
    search_fields = ["partner__name", "external_id", "product_sku", "code"]
    list_select_related = ["partner"]
    date_hierarchy = "occurred_at"
    readonly_fields = [field.name for field in Activity._meta.fields if field.name != "tenant"]
    inlines = [ActivityStatusChangeInline]
    actions = ["approve", "reject"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Approve the selected activities (earns their points)")
    def approve(self, request: HttpRequest, queryset: QuerySet[Activity]) -> None:
        done, refusals = _each(queryset, lambda row: activity_approve(activity=row, actor=request.user))
        _report(self, request, "approved", done, refusals)

    @admin.action(description="Reject the selected activities (reverses points already earned)")
    def reject(self, request: HttpRequest, queryset: QuerySet[Activity]) -> TemplateResponse | None:
        reason = action_reason(request, queryset, action="reject", title="Reject activities")
        if isinstance(reason, TemplateResponse):
            return reason
        done, refusals = _each(queryset, lambda row: activity_reject(activity=row, actor=request.user, reason=reason))
        _report(self, request, "rejected", done, refusals)
        return None


@admin.register(Claim, site=tenant_admin_site)
class ClaimAdmin(TenantModelAdmin):
    list_display = [
        "submitted_at",
        "partner",
        "claim_type",
        "invoice_number",
        "amount",
        "status",
        "flags",
        "evidence_link",
    ]
    list_filter = ["status", "claim_type"]
    search_fields = ["partner__name", "invoice_number"]
    list_select_related = ["partner", "activity"]
    readonly_fields = [field.name for field in Claim._meta.fields if field.name != "tenant"] + ["evidence_link"]
    actions = ["approve", "reject"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Needs review because")
    def flags(self, claim: Claim) -> str:
        labels = {
            "duplicate": "resembles an earlier claim",
            "above_threshold": "above the review threshold",
            "review_required": "all claims are reviewed",
        }
        return ", ".join(labels.get(reason, reason) for reason in claim.review_reasons) or "—"

    @admin.display(description="Evidence")
    def evidence_link(self, claim: Claim) -> str:
        if not claim.activity.evidence:
            return "—"
        return format_html('<a href="{}">View</a>', reverse("activity_evidence", args=[claim.activity_id]))

    @admin.action(description="Approve the selected claims")
    def approve(self, request: HttpRequest, queryset: QuerySet[Claim]) -> None:
        done, refusals = _each(queryset, lambda row: claim_approve(claim=row, actor=request.user))
        _report(self, request, "approved", done, refusals)

    @admin.action(description="Reject the selected claims")
    def reject(self, request: HttpRequest, queryset: QuerySet[Claim]) -> TemplateResponse | None:
        reason = action_reason(request, queryset, action="reject", title="Reject claims")
        if isinstance(reason, TemplateResponse):
            return reason
        done, refusals = _each(queryset, lambda row: claim_reject(claim=row, actor=request.user, reason=reason))
        _report(self, request, "rejected", done, refusals)
        return None
