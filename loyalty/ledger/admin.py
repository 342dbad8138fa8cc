import uuid

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from loyalty.ledger.forms import AdjustmentForm
from loyalty.ledger.models import LedgerEntry, PointsAccount
from loyalty.ledger.services import points_adjust
from loyalty.tenancy.admin_sites import ReadOnlyModelAdmin, tenant_admin_site
from loyalty.tenancy.models import AuditEntry


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
        return format_html('<a href="{}">Entries</a> · <a href="{}">Adjust</a>', entries, adjust)

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
        """A manual adjustment: points, a mandatory reason, the acting user; a hidden key makes resubmits safe."""
        account = get_object_or_404(PointsAccount.objects.select_related("partner"), pk=account_id)
        form = AdjustmentForm(request.POST or None, initial={"idempotency_key": f"adjust:{uuid.uuid4()}"})
        if request.method == "POST" and form.is_valid():
            try:
                entry = points_adjust(
                    partner=account.partner,
                    points=form.cleaned_data["points"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                    idempotency_key=form.cleaned_data["idempotency_key"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                self.audit_action(request, account, f"Adjusted by {entry.points:+d} points: {entry.memo}")
                self.message_user(request, f"Adjusted {account.partner}'s points.", messages.SUCCESS)
                return redirect(reverse("admin:ledger_ledgerentry_changelist") + f"?account__id__exact={account.pk}")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Adjust the points of {account.partner}",
            "account": account,
            "form": form,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/ledger/adjust.html", context)


@admin.register(LedgerEntry, site=tenant_admin_site)
class LedgerEntryAdmin(ReadOnlyModelAdmin):
    list_display = ["created_at", "partner", "kind", "points", "balance_after", "memo", "actor"]
    list_filter = ["kind", "created_at"]
    search_fields = ["account__partner__name", "memo", "idempotency_key"]
    list_select_related = ["account__partner", "actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="Partner", ordering="account__partner__name")
    def partner(self, entry: LedgerEntry) -> str:
        return entry.account.partner.name

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # One account's statement, linked from the accounts list.
        return lookup == "account__id__exact" or super().lookup_allowed(lookup, value, request)
