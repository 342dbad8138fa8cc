from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from earning.services import (
    activity_approve,
    activity_reject,
    claim_approve,
    claim_reject,
    exchange_rate_set,
    exchange_rates_import,
)
from loyalty.ledger.models import PointsAccount
from loyalty.tenancy.admin_sites import (
    HistoryInline,
    ReadOnlyInline,
    ReviewActions,
    TenantModelAdmin,
    tenant_admin_site,
)
from loyalty.tenancy.models import Membership, User
from partners.currency import rate_errors
from partners.models import Activity, ActivityStatusChange, Claim, ExchangeRate, Partner, PartnerType
from tiers.models import PartnerScore, PartnerTier


@admin.register(PartnerType, site=tenant_admin_site)
class PartnerTypeAdmin(TenantModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


class MemberInline(ReadOnlyInline):
    """A partner's people; they join by invitation and their roles are changed under Memberships."""

    model = Membership
    fields = ["user", "role", "is_active", "created_at"]
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = _("members")


SCORE_HISTORY_LENGTH = 12


@admin.register(Partner, site=tenant_admin_site)
class PartnerAdmin(TenantModelAdmin):
    list_display = [
        "name",
        "external_id",
        "partner_type",
        "region",
        "account_manager",
        "current_tier",
        "balance",
        "status",
    ]
    list_filter = ["status", "partner_type", "region", "segment", "account_manager"]
    search_fields = ["name", "external_id"]
    list_select_related = ["partner_type", "account_manager"]
    date_hierarchy = "joined_at"
    inlines = [MemberInline]
    readonly_fields = ["points_summary", "tier_summary", "score_history"]
    fieldsets = [
        (None, {"fields": ["external_id", "name", "partner_type", "region", "segment", "account_manager"]}),
        (_("Status"), {"fields": ["joined_at", "status"]}),
        (_("Points, tier and scores"), {"fields": ["points_summary", "tier_summary", "score_history"]}),
    ]

    def get_inlines(self, request: HttpRequest, obj: Partner | None) -> list:
        return self.inlines if obj is not None else []  # members join an existing partner by invitation

    def get_queryset(self, request: HttpRequest) -> QuerySet[Partner]:
        states = PartnerTier.objects.filter(partner=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                tier_name=Subquery(states.values("tier__name")[:1]),
                points_balance=Subquery(PointsAccount.objects.filter(partner=OuterRef("pk")).values("balance")[:1]),
            )
        )

    @admin.display(description=_("Tier"), ordering="tier_name")
    def current_tier(self, partner: Partner) -> str:
        return partner.tier_name or "—"

    @admin.display(description=_("Points"), ordering="points_balance")
    def balance(self, partner: Partner) -> str:
        return "—" if partner.points_balance is None else f"{partner.points_balance:,}"

    @admin.display(description=_("Points account"))
    def points_summary(self, partner: Partner) -> str:
        account = PointsAccount.objects.filter(partner=partner).first()
        if account is None:
            return _("No points yet.")
        entries = reverse("admin:ledger_ledgerentry_changelist") + f"?account__id__exact={account.pk}"
        return format_html(
            _('{} points (earned {}, redeemed {}) · <a href="{}">Entries</a> · <a href="{}">Adjust</a>'),
            f"{account.balance:,}",
            f"{account.lifetime_earned:,}",
            f"{account.lifetime_redeemed:,}",
            entries,
            reverse("admin:ledger_pointsaccount_adjust", args=[account.pk]),
        )

    @admin.display(description=_("Current tier"))
    def tier_summary(self, partner: Partner) -> str:
        state = PartnerTier.objects.filter(partner=partner).select_related("tier", "pinned_tier").first()
        if state is None:
            return _("Not evaluated yet.")
        pinned = (
            format_html(_(" · pinned to {} until {}"), state.pinned_tier.name, state.pinned_until)
            if state.pinned_tier
            else ""
        )
        return format_html(
            _('{} since {}{} · <a href="{}">Pin a tier</a>'),
            state.tier.name,
            state.since,
            pinned,
            reverse("admin:tiers_partnertier_change", args=[state.pk]),
        )

    @admin.display(description=_("Score history"))
    def score_history(self, partner: Partner) -> str:
        scores = (
            PartnerScore.objects.filter(partner=partner)
            .select_related("tier", "pathway")
            .order_by("-evaluated_on")[:SCORE_HISTORY_LENGTH]
        )
        every = reverse("admin:tiers_partnerscore_changelist") + f"?partner__id__exact={partner.pk}"
        return render_to_string("admin/partners/score_history.html", {"scores": scores, "every_url": every})


class ActivityStatusChangeInline(HistoryInline):
    model = ActivityStatusChange


@admin.register(Activity, site=tenant_admin_site)
class ActivityAdmin(ReviewActions, TenantModelAdmin):
    """Activities arrive by API, import or claim; here staff review them. Status moves only through actions."""

    list_display = [
        "occurred_at",
        "partner",
        "kind",
        "amount",
        "currency",
        "amount_converted",
        "code",
        "source",
        "status",
    ]
    list_filter = ["status", "kind", "source"]
    search_fields = ["partner__name", "external_id", "product_sku", "code"]
    list_select_related = ["partner"]
    date_hierarchy = "occurred_at"
    readonly_fields = [field.name for field in Activity._meta.fields if field.name != "tenant"]
    inlines = [ActivityStatusChangeInline]
    review_title = _("Reject activities (approved ones have their points reversed)")
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
        "waited",
        "flags",
        "evidence_link",
    ]
    list_filter = ["status", "claim_type", ("duplicate_of", admin.EmptyFieldListFilter)]
    search_fields = ["partner__name", "invoice_number"]
    list_select_related = ["partner", "activity"]
    fields = [
        "flags",
        "evidence_preview",
        "partner",
        "submitted_by",
        "submitted_at",
        "claim_type",
        "invoice_number",
        "invoice_date",
        "amount",
        "duplicate_of",
        "activity",
        "status",
        "reviewed_by",
        "reviewed_at",
        "review_note",
    ]
    readonly_fields = fields
    review_title = _("Reject claims")
    pending_status = Claim.Status.PENDING
    waiting_since = "submitted_at"

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

    @admin.display(description=_("Needs review because"))
    def flags(self, claim: Claim) -> str:
        labels = {
            "duplicate": "resembles an earlier claim",
            "above_threshold": "above the review threshold",
            "review_required": "all claims are reviewed",
        }
        return ", ".join(labels.get(reason, reason) for reason in claim.review_reasons) or "—"

    @admin.display(description=_("Evidence"))
    def evidence_link(self, claim: Claim) -> str:
        if not claim.activity.evidence:
            return "—"
        return format_html(_('<a href="{}">View</a>'), reverse("activity_evidence", args=[claim.activity_id]))

    @admin.display(description=_("Evidence"))
    def evidence_preview(self, claim: Claim) -> str:
        """Images inline; PDFs open in a new tab (the file is served sandboxed, never framed)."""
        evidence = claim.activity.evidence
        if not evidence:
            return "—"
        url = reverse("activity_evidence", args=[claim.activity_id])
        name = claim.activity.metadata.get("evidence_name", evidence.name)
        if Path(evidence.name).suffix.lower() in {".png", ".jpg", ".jpeg"}:
            return format_html(
                _('<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="Evidence: {}" width="320"></a>'),
                url,
                url,
                name,
            )
        return format_html(_('<a href="{}" target="_blank" rel="noopener">Open {} (PDF) in a new tab</a>'), url, name)


# The CSV import of activities lives in its own module (registered on the same site).


class ExchangeRateForm(forms.ModelForm):
    class Meta:
        model = ExchangeRate
        fields = ["currency", "day", "rate"]

    def clean(self) -> dict:
        cleaned = super().clean()
        currency = (cleaned.get("currency") or (self.instance.currency if self.instance.pk else "")).strip().upper()
        cleaned["currency"] = currency
        errors = rate_errors(currency=currency, day=cleaned.get("day") or self.instance.day, rate=cleaned.get("rate"))
        for name, message in errors.items():
            if name in self.fields and name not in self.errors:
                self.add_error(name, message)
        if not self.instance.pk and not errors:
            # A rate for a day that has one corrects it (`save_model`) rather than being refused as a duplicate.
            existing = ExchangeRate.objects.filter(currency=currency, day=cleaned.get("day")).first()
            if existing is not None:
                self.instance = existing
        return cleaned


class RatesImportForm(forms.Form):
    text = forms.CharField(
        label=_("Rates"),
        widget=forms.Textarea(attrs={"rows": 12, "cols": 60}),
        help_text=_(
            "One rate a line: currency,day,rate — e.g. EUR,2026-03-04,1.0842 (units of the program's "
            "currency for one unit of that currency). A day that has a rate is corrected."
        ),
    )


@admin.register(ExchangeRate, site=tenant_admin_site)
class ExchangeRateAdmin(TenantModelAdmin):
    """Dated rates into the program's currency; saving one re-converts that currency's activities of that day."""

    form = ExchangeRateForm
    list_display = ["day", "currency", "rate", "source", "updated_by", "updated_at"]
    list_filter = ["currency", "source"]
    date_hierarchy = "day"

    change_list_template = "admin/partners/exchangerate/change_list.html"

    def get_urls(self) -> list:
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="partners_exchangerate_import"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Rates pasted as CSV (currency,day,rate): every line checked first, then all saved or none."""
        form = RatesImportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                changes = exchange_rates_import(text=form.cleaned_data["text"], actor=request.user)
            except ValidationError as error:
                form.add_error("text", error)
            else:
                converted = sum(change.activities for change in changes)
                self.message_user(
                    request,
                    _("%(rates)s rates saved; %(activities)s activities re-converted.")
                    % {"rates": len(changes), "activities": converted},
                    messages.SUCCESS,
                )
                return redirect("admin:partners_exchangerate_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import exchange rates"),
            "opts": self.opts,
            "form": form,
        }
        return TemplateResponse(request, "admin/partners/exchangerate/import.html", context)

    def get_readonly_fields(self, request: HttpRequest, obj: ExchangeRate | None = None) -> list[str]:
        return ["currency", "day", "source", "updated_by", "updated_at"] if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # activities were converted at it: correct it instead

    def save_model(self, request: HttpRequest, obj: ExchangeRate, form: forms.ModelForm, change: bool) -> None:
        result = exchange_rate_set(currency=obj.currency, day=obj.day, rate=obj.rate, actor=request.user)
        obj.pk = result.rate.pk
        obj.refresh_from_db()
        if result.activities:
            self.message_user(
                request,
                ngettext(
                    "%(count)s activity re-converted at the new rate; its partner is re-scored.",
                    "%(count)s activities re-converted at the new rate; their partners are re-scored.",
                    result.activities,
                )
                % {"count": result.activities},
            )
