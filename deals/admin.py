"""Deal registrations in the tenant admin: the review queue (approve, reject with a reason), history, conflicts."""

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from deals.models import DealConflict, DealEvent, DealRegistration, DealSettings
from deals.services import deal_approve, deal_reject
from loyalty.tenancy.admin_sites import (
    HistoryInline,
    ReadOnlyInline,
    ReviewActions,
    TenantModelAdmin,
    tenant_admin_site,
)
from loyalty.tenancy.models import User


class DealEventInline(HistoryInline):
    model = DealEvent
    fk_name = "deal"


class DealConflictInline(ReadOnlyInline):
    model = DealConflict
    fk_name = "deal"
    verbose_name_plural = _("Conflicts found on submission")
    fields = ["other", "other_partner", "other_status", "rule", "score", "is_same_partner"]
    readonly_fields = fields

    @admin.display(description=_("Partner"))
    def other_partner(self, conflict: DealConflict) -> str:
        return str(conflict.other.partner)

    @admin.display(description=_("Status"))
    def other_status(self, conflict: DealConflict) -> str:
        return conflict.other.get_status_display()


@admin.register(DealRegistration, site=tenant_admin_site)
class DealRegistrationAdmin(ReviewActions, TenantModelAdmin):
    """The review queue: filter on Submitted, check the conflicts, then approve or reject with a reason."""

    list_display = [
        "reference",
        "submitted_at",
        "partner",
        "customer_name",
        "customer_domain",
        "amount",
        "currency",
        "status",
        "conflicts_found",
        "protected_until",
    ]
    list_filter = ["status", "source"]
    search_fields = ["customer_name", "customer_domain", "customer_tax_id", "partner__name", "external_id"]
    list_select_related = ["partner"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in DealRegistration._meta.fields if field.name != "tenant"]
    inlines = [DealConflictInline, DealEventInline]
    review_title = _("Reject deal registrations (the partner reads the reason)")
    pending_status = DealRegistration.Status.SUBMITTED

    @staticmethod
    def approve_service(deal: DealRegistration, actor: User) -> object:
        return deal_approve(deal=deal, actor=actor)

    @staticmethod
    def reject_service(deal: DealRegistration, actor: User, reason: str) -> object:
        return deal_reject(deal=deal, actor=actor, reason=reason)

    @admin.action(description=_("Approve the selected rows (first submitted first)"))
    def approve(self, request: HttpRequest, queryset: QuerySet[DealRegistration]) -> None:
        # First come, first approved: of two conflicting registrations approved together, the earlier one wins.
        super().approve(request, queryset.order_by("submitted_at", "pk"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[DealRegistration]:
        return super().get_queryset(request).annotate(conflict_count=Count("conflicts"))

    @admin.display(description=_("Reference"), ordering="pk")
    def reference(self, deal: DealRegistration) -> str:
        return deal.reference

    @admin.display(description=_("Conflicts"), ordering="conflict_count")
    def conflicts_found(self, deal: DealRegistration) -> int:
        return deal.conflict_count

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class DealSettingsForm(forms.ModelForm):
    class Meta:
        model = DealSettings
        fields = [
            "conflict_policy",
            "default_protection_days",
            "recently_won_days",
            "scorecard_counts",
            "reminder_days",
        ]

    def clean(self) -> dict:
        # One row per program: a second is a form error (the constraint would make it a 500).
        if self.instance.pk is None and DealSettings.objects.exists():
            raise forms.ValidationError(_("This program already has its deal settings: change that row instead."))
        return super().clean()


@admin.register(DealSettings, site=tenant_admin_site)
class DealSettingsAdmin(TenantModelAdmin):
    form = DealSettingsForm
    list_display = ["__str__", "conflict_policy", "default_protection_days", "scorecard_counts"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
