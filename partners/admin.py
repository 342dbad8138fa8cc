from pathlib import Path

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from loyalty.tenancy.admin_sites import HistoryInline, ReviewActions, TenantModelAdmin, tenant_admin_site
from loyalty.tenancy.models import User
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


class ActivityStatusChangeInline(HistoryInline):
    model = ActivityStatusChange


@admin.register(Activity, site=tenant_admin_site)
class ActivityAdmin(ReviewActions, TenantModelAdmin):
    """Activities arrive by API, import or claim; here staff review them. Status moves only through actions."""

    list_display = ["occurred_at", "partner", "kind", "amount", "currency", "code", "source", "status"]
    list_filter = ["status", "kind", "source"]
    search_fields = ["partner__name", "external_id", "product_sku", "code"]
    list_select_related = ["partner"]
    date_hierarchy = "occurred_at"
    readonly_fields = [field.name for field in Activity._meta.fields if field.name != "tenant"]
    inlines = [ActivityStatusChangeInline]
    review_title = "Reject activities (approved ones have their points reversed)"
    pending_status = Activity.Status.PENDING

    @staticmethod
    def approve_service(activity: Activity, actor: User) -> object:
        return activity_approve(activity=activity, actor=actor)

    @staticmethod
    def reject_service(activity: Activity, actor: User, reason: str) -> object:
        return activity_reject(activity=activity, actor=actor, reason=reason)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Claim, site=tenant_admin_site)
class ClaimAdmin(ReviewActions, TenantModelAdmin):
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
    list_filter = ["status", "claim_type", ("duplicate_of", admin.EmptyFieldListFilter)]
    search_fields = ["partner__name", "invoice_number"]
    list_select_related = ["partner", "activity"]
    readonly_fields = ["flags", "evidence_preview"] + [
        field.name for field in Claim._meta.fields if field.name not in {"tenant", "review_reasons"}
    ]
    review_title = "Reject claims"
    pending_status = Claim.Status.PENDING

    @staticmethod
    def approve_service(claim: Claim, actor: User) -> object:
        return claim_approve(claim=claim, actor=actor)

    @staticmethod
    def reject_service(claim: Claim, actor: User, reason: str) -> object:
        return claim_reject(claim=claim, actor=actor, reason=reason)

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

    @admin.display(description="Evidence")
    def evidence_preview(self, claim: Claim) -> str:
        """Images inline; PDFs open in a new tab (the file is served sandboxed, never framed)."""
        evidence = claim.activity.evidence
        if not evidence:
            return "—"
        url = reverse("activity_evidence", args=[claim.activity_id])
        name = claim.activity.metadata.get("evidence_name", evidence.name)
        if Path(evidence.name).suffix.lower() in {".png", ".jpg", ".jpeg"}:
            return format_html(
                '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="Evidence: {}" width="320"></a>',
                url,
                url,
                name,
            )
        return format_html('<a href="{}" target="_blank" rel="noopener">Open {} (PDF) in a new tab</a>', url, name)
