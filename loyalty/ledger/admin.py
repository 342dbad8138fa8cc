import uuid

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from loyalty.ledger.forms import AdjustmentForm
from loyalty.ledger.models import AdjustmentRequest, LedgerEntry, PointsAccount
from loyalty.ledger.services import (
    adjustment_approve,
    adjustment_needs_second_person,
    adjustment_reject,
    points_adjust_or_request,
)
from loyalty.tenancy.admin_sites import ReadOnlyModelAdmin, ReviewActions, TenantModelAdmin, tenant_admin_site
from loyalty.tenancy.models import AuditEntry, User


@admin.register(PointsAccount, site=tenant_admin_site)
class PointsAccountAdmin(ReadOnlyModelAdmin):
    audit_category = AuditEntry.Category.POINTS  # its one action is the manual adjustment
    list_display = ["partner", "balance", "lifetime_earned", "lifetime_redeemed", "updated_at", "actions_column"]
    search_fields = ["partner__name", "partner__external_id"]
    list_select_related = ["partner"]
    ordering = ["partner__name"]

    @admin.display(description="")
    def actions_column(self, account: PointsAccount) -> str:
        entries = reverse("admin:ledger_ledgerentry_changelist") + f"?account__id__exact={account.pk}"
        adjust = reverse("admin:ledger_pointsaccount_adjust", args=[account.pk])
        return format_html(_('<a href="{}">Entries</a> · <a href="{}">Adjust</a>'), entries, adjust)

    def get_urls(self) -> list:
        return [
            path(
                "<int:account_id>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="ledger_pointsaccount_adjust",
            ),
            *super().get_urls(),
        ]

    def adjust_view(self, request: HttpRequest, account_id: int) -> HttpResponse:
        """A manual adjustment in two steps: the form, then its consequence (the balance after, or that a second
        person must approve it) to confirm. A hidden key makes a resubmit (back, reload, double click) safe."""
        account = get_object_or_404(PointsAccount.objects.select_related("partner"), pk=account_id)
        form = AdjustmentForm(
            request.POST or None, balance=account.balance, initial={"idempotency_key": f"adjust:{uuid.uuid4()}"}
        )
        preview = None
        if request.method == "POST" and form.is_valid():
            points = form.cleaned_data["points"]
            if "confirm" not in request.POST:
                preview = {
                    "points": points,
                    "balance_after": account.balance + points,
                    "needs_second_person": adjustment_needs_second_person(points),
                    "limit": request.tenant.adjustment_approval_points,
                }
            else:
                key = form.cleaned_data["idempotency_key"]
                repeat = (
                    AdjustmentRequest.objects.filter(idempotency_key=key).exists()
                    or LedgerEntry.objects.filter(idempotency_key=key).exists()
                )
                try:
                    result = points_adjust_or_request(
                        partner=account.partner,
                        points=points,
                        reason=form.cleaned_data["reason"],
                        actor=request.user,
                        idempotency_key=key,
                    )
                except ValidationError as error:
                    form.add_error(None, error)
                else:
                    return self._adjusted(request, account, result, repeat=repeat)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Adjust the points of %(partner)s") % {"partner": account.partner},
            "account": account,
            "form": form,
            "preview": preview,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/ledger/adjust.html", context)

    def _adjusted(self, request: HttpRequest, account: PointsAccount, result: object, *, repeat: bool) -> HttpResponse:
        """Where a posted adjustment or a request leads; a resubmitted form is not audited twice."""
        if isinstance(result, AdjustmentRequest):
            if not repeat:
                self.audit_action(request, account, f"Asked to adjust by {result.points:+d} points: {result.reason}")
            self.message_user(
                request,
                _("%(points)s points for %(partner)s wait for a second program manager or owner.")
                % {"points": f"{result.points:+,d}", "partner": account.partner},
                messages.WARNING,
            )
            return redirect(reverse("admin:ledger_adjustmentrequest_change", args=[result.pk]))
        if not repeat:
            self.audit_action(request, account, f"Adjusted by {result.points:+d} points: {result.memo}")
        self.message_user(
            request, _("Adjusted the points of %(partner)s.") % {"partner": account.partner}, messages.SUCCESS
        )
        return redirect(reverse("admin:ledger_ledgerentry_changelist") + f"?account__id__exact={account.pk}")


@admin.register(AdjustmentRequest, site=tenant_admin_site)
class AdjustmentRequestAdmin(ReviewActions, TenantModelAdmin):
    """Adjustments above the program's four-eyes limit: another program manager or owner approves or rejects."""

    audit_category = AuditEntry.Category.POINTS

    list_display = ["requested_at", "partner", "points_at_stake", "balance", "requested_by", "status", "waited"]
    list_filter = ["status"]
    search_fields = ["account__partner__name", "reason"]
    list_select_related = ["account__partner", "requested_by", "decided_by"]
    readonly_fields = [field.name for field in AdjustmentRequest._meta.fields if field.name != "tenant"]
    review_title = _("Reject adjustments (nothing is posted)")
    pending_status = AdjustmentRequest.Status.PENDING
    waiting_since = "requested_at"

    @staticmethod
    def approve_service(request: AdjustmentRequest, actor: User) -> object:
        return adjustment_approve(request=request, approver=actor)

    @staticmethod
    def reject_service(request: AdjustmentRequest, actor: User, reason: str) -> object:
        return adjustment_reject(request=request, approver=actor, note=reason)

    @admin.display(description=_("Partner"), ordering="account__partner__name")
    def partner(self, request: AdjustmentRequest) -> str:
        return request.account.partner.name

    @admin.display(description=_("Points"), ordering="points")
    def points_at_stake(self, request: AdjustmentRequest) -> str:
        return f"{request.points:+,}"

    @admin.display(description=_("Balance now"))
    def balance(self, request: AdjustmentRequest) -> str:
        return f"{request.account.balance:,}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # asked for from an account's Adjust page

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(LedgerEntry, site=tenant_admin_site)
class LedgerEntryAdmin(ReadOnlyModelAdmin):
    list_display = ["created_at", "partner", "kind", "points", "balance_after", "memo", "actor"]
    list_filter = ["kind", "created_at"]
    search_fields = ["account__partner__name", "memo", "idempotency_key"]
    list_select_related = ["account__partner", "actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description=_("Partner"), ordering="account__partner__name")
    def partner(self, entry: LedgerEntry) -> str:
        return entry.account.partner.name

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # One account's statement, linked from the accounts list.
        return lookup == "account__id__exact" or super().lookup_allowed(lookup, value, request)
