"""The tenant admin's earning rules."""

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from earning.models import EarningRule
from earning.simulation import rule_simulate
from loyalty.tenancy.admin_sites import TenantModelAdmin, tenant_admin_site

SHOWN_PARTNERS = 50


class RuleSimulationForm(forms.Form):
    months = forms.IntegerField(label=_("Months of past activities"), min_value=1, max_value=36, initial=3)


@admin.register(EarningRule, site=tenant_admin_site)
class EarningRuleAdmin(TenantModelAdmin):
    list_display = ["name", "activity_kind", "basis", "rate", "valid_from", "valid_until", "cap_points", "is_active"]
    list_filter = ["is_active", "activity_kind", "basis"]
    search_fields = ["name", "code"]
    filter_horizontal = ["partner_types"]
    fieldsets = [
        (None, {"fields": ["name", "activity_kind", "is_active"]}),
        (_("Points"), {"fields": ["basis", "rate", "applies_tier_multiplier"]}),
        (_("Conditions"), {"fields": ["partner_types", "product_categories", "minimum_amount", "code"]}),
        (_("Campaign window and cap"), {"fields": ["valid_from", "valid_until", "cap_points", "cap_period"]}),
    ]

    def get_urls(self) -> list:
        return [
            path(
                "<int:rule_id>/simulate/",
                self.admin_site.admin_view(self.simulate_view),
                name="earning_earningrule_simulate",
            ),
            *super().get_urls(),
        ]

    def simulate_view(self, request: HttpRequest, rule_id: int) -> HttpResponse:
        """What the rule would have paid over the last N months, to whom, and its cost, before switching it on."""
        rule = get_object_or_404(EarningRule, pk=rule_id)
        form = RuleSimulationForm(request.GET or {"months": 3})
        result = rule_simulate(rule=rule, months=form.cleaned_data["months"]) if form.is_valid() else None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Simulate %(rule)s") % {"rule": rule.name},
            "rule": rule,
            "form": form,
            "result": result,
            "shown": result.partners[:SHOWN_PARTNERS] if result else [],
            "more": max(0, len(result.partners) - SHOWN_PARTNERS) if result else 0,
            "opts": self.opts,
            "original": rule,
        }
        return TemplateResponse(request, "admin/earning/earningrule/simulate.html", context)

    def has_delete_permission(self, request: HttpRequest, obj: EarningRule | None = None) -> bool:
        # Rules that priced entries stay for the record; deactivate them instead.
        return super().has_delete_permission(request, obj) and (obj is None or not obj.entries.exists())
