from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from loyalty.tenancy.admin_sites import ReadOnlyModelAdmin, TenantInlineMixin, TenantModelAdmin, tenant_admin_site
from loyalty.tenancy.models import AuditEntry
from loyalty.tenancy.services import audit_record
from loyalty.tenancy.tasks import enqueue_on_commit
from tiers.models import (
    Criterion,
    EvaluationRun,
    PartnerScore,
    PartnerTier,
    Pathway,
    Tier,
    TierBenefit,
    TierChange,
    TierGate,
    TierModel,
)
from tiers.publishing import publication_plan, publication_sentence
from tiers.services import partner_tier_pin, tier_model_draft_touched, tier_model_for, tier_model_publish
from tiers.simulation import simulate
from tiers.tasks import evaluate_tenant
from tiers.validation import TierRow, ladder_problems


def _is_draft(model: TierModel | None) -> bool:
    return model is None or model.status == TierModel.Status.DRAFT


class DraftModelAdmin(TenantModelAdmin):
    """Published models are kept as they were, for audit: only drafts and their parts can be changed."""

    def model_of(self, obj: object) -> TierModel:
        return obj.model

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return super().has_change_permission(request, obj) and _is_draft(self.model_of(obj) if obj else None)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return super().has_delete_permission(request, obj) and _is_draft(self.model_of(obj) if obj else None)

    # A change here is a save of the draft: a designer page opened before it does not save over it.
    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        tier_model_draft_touched(model=self.model_of(form.instance))

    def delete_model(self, request: HttpRequest, obj: object) -> None:
        model = self.model_of(obj)
        super().delete_model(request, obj)
        if model is not obj:  # a part of the draft, not the draft itself
            tier_model_draft_touched(model=model)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        models = {self.model_of(obj).pk: self.model_of(obj) for obj in queryset if self.model_of(obj) is not obj}
        super().delete_queryset(request, queryset)
        for model in models.values():
            tier_model_draft_touched(model=model)


class DraftInline(TenantInlineMixin, admin.TabularInline):
    extra = 0

    @staticmethod
    def _parent_model(parent: object) -> TierModel | None:
        if parent is None:
            return None
        return parent if isinstance(parent, TierModel) else parent.model

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return super().has_add_permission(request, obj) and _is_draft(self._parent_model(obj))

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return super().has_change_permission(request, obj) and _is_draft(self._parent_model(obj))

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return super().has_delete_permission(request, obj) and _is_draft(self._parent_model(obj))


class LadderFormSet(BaseInlineFormSet):
    """Checks the ladder as typed, before anything is saved: the rules of `tiers.validation`."""

    def clean(self) -> None:
        super().clean()
        rows = [
            TierRow(data["rank"], data["name"], data["minimum_score"], data["point_multiplier"])
            for form in self.forms
            if (data := getattr(form, "cleaned_data", None))
            and not data.get("DELETE")
            and all(data.get(name) is not None for name in ("rank", "name", "minimum_score", "point_multiplier"))
        ]
        if any(form.errors for form in self.forms):
            return  # a row's own errors first; the ladder once every row reads
        # The pairs of tiers; how many tiers a model has is checked on publishing (a draft grows a row at a time).
        problems = [problem for problem in ladder_problems(rows) if problem.where]
        if problems:
            raise ValidationError([problem.message for problem in problems])


class TierForm(forms.ModelForm):
    """A tier edited on its own page: checked against the rest of its ladder (the admin adds the fields)."""

    def clean(self) -> dict:
        data = super().clean()
        model = data.get("model") or getattr(self.instance, "model", None)
        if self.errors or model is None:
            return data
        rows = [
            TierRow(tier.rank, tier.name, tier.minimum_score, tier.point_multiplier)
            for tier in model.tiers.exclude(pk=self.instance.pk)
        ]
        rows.append(TierRow(data["rank"], data["name"], data["minimum_score"], data["point_multiplier"]))
        problems = [problem for problem in ladder_problems(rows) if problem.where]
        if problems:
            raise ValidationError([problem.message for problem in problems])
        return data


class TierInline(DraftInline):
    model = Tier
    formset = LadderFormSet
    fields = ["rank", "name", "minimum_score", "point_multiplier", "colour", "edit_gates"]
    readonly_fields = ["edit_gates"]
    ordering = ["rank"]

    @admin.display(description=_("Gates and benefits"))
    def edit_gates(self, tier: Tier) -> str:
        if tier.pk is None:
            return "—"
        return format_html(
            _('<a href="{}">{} gate(s), {} benefit(s)</a>'),
            reverse("admin:tiers_tier_change", args=[tier.pk]),
            tier.gates.count(),
            tier.benefits.count(),
        )


class PathwayInline(DraftInline):
    model = Pathway
    fields = ["name", "partner_types", "edit_criteria"]
    readonly_fields = ["edit_criteria"]

    @admin.display(description=_("Criteria"))
    def edit_criteria(self, pathway: Pathway) -> str:
        if pathway.pk is None:
            return "—"
        return format_html(
            _('<a href="{}">{} criteria</a>'),
            reverse("admin:tiers_pathway_change", args=[pathway.pk]),
            pathway.criteria.count(),
        )


@admin.register(TierModel, site=tenant_admin_site)
class TierModelAdmin(DraftModelAdmin):
    list_display = ["name", "version", "status", "effective_from", "window", "downgrade", "grace_days", "model_actions"]
    list_filter = ["status"]
    inlines = [TierInline, PathwayInline]
    fields = ["name", "version", "effective_from", "window", "fiscal_year_start_month", "downgrade", "grace_days"]

    def model_of(self, obj: object) -> TierModel:
        return obj

    @admin.display(description="")
    def model_actions(self, model: TierModel) -> str:
        simulate_url = reverse("admin:tiers_tiermodel_simulate", args=[model.pk])
        return format_html(_('<a href="{}">Simulate</a>'), simulate_url)

    def get_urls(self) -> list:
        return [
            path(
                "<int:model_id>/simulate/",
                self.admin_site.admin_view(self.simulate_view),
                name="tiers_tiermodel_simulate",
            ),
            path(
                "<int:model_id>/publish/",
                self.admin_site.admin_view(self.publish_view),
                name="tiers_tiermodel_publish",
            ),
            *super().get_urls(),
        ]

    def simulate_view(self, request: HttpRequest, model_id: int) -> HttpResponse:
        """The draft against today's partners: distribution, migration matrix, movers, cost, suggested thresholds."""
        model = get_object_or_404(TierModel, pk=model_id)
        result = simulate(model=model, evaluated_on=timezone.localdate())
        context = {
            **self.admin_site.each_context(request),
            "title": _("Simulation of %(model)s") % {"model": model},
            "opts": self.opts,
            "model": model,
            "in_force": tier_model_for(evaluated_on=timezone.localdate()),
            "result": result,
            "max_count": max([1, *result.current_distribution.values(), *result.simulated_distribution.values()]),
        }
        return TemplateResponse(request, "admin/tiers/simulation.html", context)

    def response_change(self, request: HttpRequest, obj: TierModel) -> HttpResponse:
        """ "Save and publish": the form is saved first (a form with errors comes back with them, nothing lost),
        then the publication's consequences are shown for confirmation."""
        if "_publish" in request.POST:
            return redirect("admin:tiers_tiermodel_publish", obj.pk)
        return super().response_change(request, obj)

    def publish_view(self, request: HttpRequest, model_id: int) -> HttpResponse:
        """GET: what publishing would do (when, who moves, cost, problems). POST with `confirm`: publish."""
        model = get_object_or_404(TierModel, pk=model_id)
        if model.status != TierModel.Status.DRAFT:
            self.message_user(request, _("%(model)s is already published.") % {"model": model}, messages.INFO)
            return redirect("admin:tiers_tiermodel_change", model.pk)
        if request.method == "POST" and request.POST.get("confirm") == str(model.version):
            try:
                published = tier_model_publish(model=model, actor=request.user)
            except ValidationError as error:
                for message in error.messages:
                    self.message_user(request, message, messages.ERROR)
            else:
                self.audit_action(request, published, f"Published {published.name} v{published.version}")
                self.message_user(request, publication_sentence(model=published), messages.SUCCESS)
                return redirect("admin:tiers_tiermodel_change", model.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Publish %(model)s") % {"model": model},
            "opts": self.opts,
            "model": model,
            "plan": publication_plan(model=model),
        }
        return TemplateResponse(request, "admin/tiers/publish.html", context)


class GateInline(DraftInline):
    model = TierGate
    fields = ["label", "metric", "activity_kind", "code", "minimum"]


class BenefitInline(DraftInline):
    model = TierBenefit
    fields = ["position", "kind", "value", "currency", "text"]
    ordering = ["position", "pk"]


@admin.register(Tier, site=tenant_admin_site)
class TierAdmin(DraftModelAdmin):
    form = TierForm
    list_display = ["name", "model", "rank", "minimum_score", "point_multiplier"]
    list_filter = ["model"]
    inlines = [GateInline, BenefitInline]
    fields = ["model", "rank", "name", "minimum_score", "point_multiplier", "colour"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return False  # edited from its tier model


class CriterionInline(DraftInline):
    model = Criterion
    fields = ["label", "metric", "activity_kind", "code", "weight", "target", "cap"]


@admin.register(Pathway, site=tenant_admin_site)
class PathwayAdmin(DraftModelAdmin):
    list_display = ["name", "model"]
    fields = ["model", "name", "partner_types"]
    filter_horizontal = ["partner_types"]
    inlines = [CriterionInline]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return False  # edited from its tier model


@admin.register(EvaluationRun, site=tenant_admin_site)
class EvaluationRunAdmin(ReadOnlyModelAdmin):
    """Nightly runs with their progress; the list refreshes itself while one runs, and can start today's."""

    change_list_template = "admin/tiers/evaluationrun/change_list.html"
    list_display = [
        "evaluated_on",
        "tier_model",
        "status",
        "progress",
        "upgrades",
        "downgrades",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status"]

    def get_urls(self) -> list:
        return [
            path(
                "start/",
                self.admin_site.admin_view(require_POST(self.start_view)),
                name="tiers_evaluationrun_start",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        running = EvaluationRun.objects.filter(status=EvaluationRun.Status.RUNNING).exists()
        return super().changelist_view(request, {"is_running": running, **(extra_context or {})})

    def start_view(self, request: HttpRequest) -> HttpResponse:
        """Queue today's evaluation: it scores only the partners today's run has not scored yet."""
        today = timezone.localdate()
        enqueue_on_commit(evaluate_tenant, evaluated_on=today.isoformat())
        audit_record(
            actor=request.user,
            action=AuditEntry.Action.ACTION,
            target=request.tenant,
            summary=f"Started the evaluation of {today}",
        )
        self.message_user(
            request, _("The evaluation of %(day)s is queued; this page follows its progress.") % {"day": today}
        )
        return redirect("admin:tiers_evaluationrun_changelist")

    @admin.display(description=_("Progress"))
    def progress(self, run: EvaluationRun) -> str:
        return format_html(
            '<progress value="{}" max="{}" aria-label="{}">{} / {}</progress> {} / {}',
            run.done,
            max(run.total, 1),
            _("Partners evaluated"),
            run.done,
            run.total,
            run.done,
            run.total,
        )


@admin.register(PartnerScore, site=tenant_admin_site)
class PartnerScoreAdmin(ReadOnlyModelAdmin):
    list_display = ["evaluated_on", "partner", "source", "score", "tier", "qualified_tier", "pathway"]
    list_filter = ["source", "evaluated_on", "tier"]
    search_fields = ["partner__name"]
    list_select_related = ["partner", "tier", "qualified_tier", "pathway"]
    date_hierarchy = "evaluated_on"


@admin.register(TierChange, site=tenant_admin_site)
class TierChangeAdmin(ReadOnlyModelAdmin):
    list_display = ["created_at", "partner", "from_tier", "to_tier", "cause", "actor", "note"]
    list_filter = ["cause"]
    search_fields = ["partner__name"]
    list_select_related = ["partner", "from_tier", "to_tier", "actor"]


@admin.register(PartnerTier, site=tenant_admin_site)
class PartnerTierAdmin(TenantModelAdmin):
    """Current tiers; a program manager may pin a partner to a tier until a date, with a reason."""

    audit_category = AuditEntry.Category.TIERS

    list_display = ["partner", "tier", "since", "below_since", "pinned_tier", "pinned_until"]
    list_filter = ["tier"]
    search_fields = ["partner__name"]
    list_select_related = ["partner", "tier", "pinned_tier"]
    fields = ["partner", "tier", "since", "below_since", "pinned_tier", "pinned_until", "pin_reason"]
    readonly_fields = ["partner", "tier", "since", "below_since"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):  # noqa: ANN001, ANN201
        if db_field.name == "pinned_tier":
            kwargs["queryset"] = Tier.objects.filter(model__status=TierModel.Status.ACTIVE).order_by("rank")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: PartnerTier, form, change: bool) -> None:  # noqa: ANN001
        try:
            partner_tier_pin(
                partner=obj.partner,
                tier=form.cleaned_data["pinned_tier"],
                until=form.cleaned_data["pinned_until"],
                reason=form.cleaned_data["pin_reason"],
                actor=request.user,
            )
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)

    def get_form(self, request: HttpRequest, obj: PartnerTier | None = None, **kwargs):  # noqa: ANN201
        form = super().get_form(request, obj, **kwargs)
        for name in ("pinned_tier", "pinned_until", "pin_reason"):
            form.base_fields[name].required = True
        return form
