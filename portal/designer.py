"""The program designer (/program/designer/): program staff edit a draft tier model and see, at each change, what it
would do to today's partners; nothing is saved until they press Save.

Every change posts the whole draft (ladder and criteria) as form rows. The page keeps no state of its own: the rows
are parsed, checked with `tiers.validation`, turned into an unsaved scorecard (`tiers.designer`) and simulated over
the population (`tiers.simulation`). Arrows and benefit buttons are submit buttons of the same form, so the page
works without script; with htmx a typed change re-renders the what-if panel and the problems beside each field.
Buttons post the page: swapping inputs in would have Chromium style colour and range inputs inline, which the CSP
refuses for script-inserted content.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from loyalty.inputs import ReaderDateInput
from loyalty.tenancy.models import AuditEntry, Role
from loyalty.tenancy.permissions import membership_required
from loyalty.tenancy.services import audit_record
from partners.models import ActivityKind, Partner, PartnerType
from tiers.designer import (
    Explanation,
    GroupRow,
    MoverExplainer,
    MoverWhy,
    designer_population,
    draft_scorecard,
    fairness_rows,
    model_diff,
    partner_explain,
    partner_find,
    size_bands,
    weight_shares,
)
from tiers.engine import Scorecard, scorecard_load
from tiers.models import BenefitKind, Criterion, Metric, TierModel
from tiers.publishing import publication_plan, publication_sentence
from tiers.services import (
    DraftChangedError,
    DraftSave,
    tier_model_draft_save,
    tier_model_draft_schedule,
    tier_model_draft_start,
    tier_model_for,
    tier_model_publish,
)
from tiers.simulation import NO_TIER, Population, SimulationResult, simulate_scorecard
from tiers.validation import (
    BenefitDraft,
    CriterionDraft,
    GateDraft,
    PathwayDraft,
    Problem,
    TierDraft,
    draft_problems,
)

DESIGNERS = (Role.PROGRAM_MANAGER, Role.OWNER)
MOVERS_SHOWN = 50
MAX_BENEFITS = 12
MAX_GATES = 6
MAX_CRITERIA = 60
PUBLISHED_SHOWN = 10


class TierRowForm(forms.Form):
    tier_id = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("Name"), max_length=100)
    minimum_score = forms.DecimalField(
        label=_("Minimum score"), min_value=0, max_value=100, max_digits=5, decimal_places=2
    )
    point_multiplier = forms.DecimalField(label=_("Point multiplier"), min_value=0, max_digits=4, decimal_places=2)
    colour = forms.RegexField(
        label=_("Colour"),
        regex=r"^#[0-9a-fA-F]{6}$",
        widget=forms.TextInput(attrs={"type": "color"}),
        error_messages={"invalid": _("A colour is # and six hexadecimal digits.")},
    )


class BenefitRowForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=BenefitKind.choices)
    value = forms.DecimalField(label=_("Value"), required=False, min_value=0, max_digits=14, decimal_places=2)
    currency = forms.CharField(label=_("Currency"), required=False, max_length=3)
    text = forms.CharField(label=_("Text"), required=False, max_length=200)


METRIC_CHOICES = [("", _("Choose a metric")), *Metric.choices]
KIND_CHOICES = [("", _("Any kind (counts only)")), *ActivityKind.choices]


class GateRowForm(forms.Form):
    label = forms.CharField(label=_("Gate"), max_length=200)
    metric = forms.ChoiceField(label=_("Metric"), choices=METRIC_CHOICES)
    activity_kind = forms.ChoiceField(label=_("Activity kind"), choices=KIND_CHOICES, required=False)
    code = forms.CharField(label=_("Code"), max_length=100, required=False)
    minimum = forms.DecimalField(label=_("Minimum"), min_value=Decimal("0.01"), max_digits=16, decimal_places=2)


class CriterionRowForm(forms.Form):
    """A criterion row; `label`, `metric`, `activity_kind` and `code` are dropped when the post does not carry them
    (the saved criterion's stay)."""

    criterion_id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    pathway_id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    label = forms.CharField(label=_("Label"), max_length=200)
    metric = forms.ChoiceField(label=_("Metric"), choices=METRIC_CHOICES)
    activity_kind = forms.ChoiceField(label=_("Activity kind"), choices=KIND_CHOICES, required=False)
    code = forms.CharField(label=_("Code"), max_length=100, required=False)
    weight = forms.DecimalField(label=_("Weight"), min_value=Decimal("0.01"), max_digits=6, decimal_places=2)
    target = forms.DecimalField(label=_("Target"), min_value=Decimal("0.01"), max_digits=16, decimal_places=2)
    cap = forms.DecimalField(label=_("Cap"), min_value=Decimal("0.01"), max_digits=5, decimal_places=2)


TIER_FIELDS = ("tier_id", "name", "minimum_score", "point_multiplier", "colour")
BENEFIT_FIELDS = ("kind", "value", "currency", "text")
GATE_FIELDS = ("label", "metric", "activity_kind", "code", "minimum")
CRITERION_FIELDS = ("criterion_id", "pathway_id", "weight", "target", "cap")
CRITERION_SPEC_FIELDS = ("label", "metric", "activity_kind", "code")


# --- The draft as raw rows (what the form posted), so buttons can reorder them before anything is checked ---------


@dataclass
class Rows:
    """The draft as posted: tiers lowest first (each with its benefits and gates), criteria in pathway order, and
    each pathway's partner types (pathway id → type ids as typed). `gates`, a criterion's spec fields and
    `pathways` are None when the post does not carry them: the saved ones stay."""

    tiers: list[dict]
    criteria: list[dict]
    pathways: dict[int, list[str]] | None


def _number_text(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def _rows_from_model(model: TierModel) -> Rows:
    tiers = []
    for tier in model.tiers.order_by("rank").prefetch_related("benefits", "gates"):
        row = {
            "tier_id": str(tier.pk),
            "name": tier.name,
            "minimum_score": _number_text(tier.minimum_score),
            "point_multiplier": f"{tier.point_multiplier:f}",
            "colour": tier.colour,
        }
        row["benefits"] = [
            {
                "kind": benefit.kind,
                "value": _number_text(benefit.value),
                "currency": benefit.currency,
                "text": benefit.text,
            }
            for benefit in tier.benefits.all()
        ]
        row["gates"] = [
            {
                "label": gate.label,
                "metric": gate.metric,
                "activity_kind": gate.activity_kind,
                "code": gate.code,
                "minimum": _number_text(gate.minimum),
            }
            for gate in sorted(tier.gates.all(), key=lambda gate: gate.pk)
        ]
        tiers.append(row)
    criteria = [
        {
            "criterion_id": str(criterion.pk),
            "pathway_id": str(criterion.pathway_id),
            "label": criterion.label,
            "metric": criterion.metric,
            "activity_kind": criterion.activity_kind,
            "code": criterion.code,
            "weight": _number_text(criterion.weight),
            "target": _number_text(criterion.target),
            "cap": _number_text(criterion.cap),
        }
        for criterion in Criterion.objects.filter(pathway__model=model).order_by("pathway_id", "pk")
    ]
    pathways = {
        pathway.pk: [str(partner_type.pk) for partner_type in pathway.partner_types.all()]
        for pathway in model.pathways.order_by("pk").prefetch_related("partner_types")
    }
    return Rows(tiers, criteria, pathways)


def _count(data: dict, name: str, limit: int) -> int:
    try:
        return max(0, min(int(data.get(name, 0)), limit))
    except (TypeError, ValueError):
        return 0


def _rows_from_post(data: QueryDict, scorecard: Scorecard) -> Rows:
    tiers = []
    for index in range(_count(data, "tiers", 12)):
        prefix = f"tier-{index}"
        row = {name: data.get(f"{prefix}-{name}", "") for name in TIER_FIELDS}
        row["benefits"] = [
            {name: data.get(f"{prefix}-benefit-{position}-{name}", "") for name in BENEFIT_FIELDS}
            for position in range(_count(data, f"{prefix}-benefits", MAX_BENEFITS))
        ]
        row["gates"] = (
            [
                {name: data.get(f"{prefix}-gate-{position}-{name}", "") for name in GATE_FIELDS}
                for position in range(_count(data, f"{prefix}-gates", MAX_GATES))
            ]
            if f"{prefix}-gates" in data
            else None
        )
        tiers.append(row)
    criteria = []
    for index in range(_count(data, "criteria", MAX_CRITERIA)):
        prefix = f"criterion-{index}"
        row = {name: data.get(f"{prefix}-{name}", "") for name in CRITERION_FIELDS}
        row |= {name: data.get(f"{prefix}-{name}") for name in CRITERION_SPEC_FIELDS}  # None: not posted
        criteria.append(row)
    shown = [pathway.id for pathway in scorecard.pathways if f"pathway-{pathway.id}-shown" in data]
    pathways = {pk: data.getlist(f"pathway-{pk}-partner_types") for pk in shown} if shown else None
    return Rows(tiers, criteria, pathways)


def _numbers(text: str) -> list[int] | None:
    try:
        return [int(part) for part in text.split(":")] if text else []
    except ValueError:
        return None


def _apply_action(action: str, rows: Rows) -> bool:
    """Reorder tiers, or add/remove a benefit, a gate or a criterion row; True when the action changed the rows."""
    verb, _sep, rest = action.partition(":")
    numbers = _numbers(rest)
    tiers = rows.tiers
    if numbers is None:
        return False
    if verb in ("up", "down") and len(numbers) == 1:
        index = numbers[0]
        other = index + 1 if verb == "up" else index - 1
        if 0 <= index < len(tiers) and 0 <= other < len(tiers):
            tiers[index], tiers[other] = tiers[other], tiers[index]
            return True
    if verb in ("add-benefit", "add-gate") and len(numbers) == 1 and 0 <= numbers[0] < len(tiers):
        key, limit, blank = (
            ("benefits", MAX_BENEFITS, {"kind": BenefitKind.TEXT, "value": "", "currency": "", "text": ""})
            if verb == "add-benefit"
            else ("gates", MAX_GATES, dict.fromkeys(GATE_FIELDS, ""))
        )
        listed = tiers[numbers[0]][key]
        if listed is not None and len(listed) < limit:
            listed.append(blank)
            return True
    if verb in ("remove-benefit", "remove-gate") and len(numbers) == 2 and 0 <= numbers[0] < len(tiers):
        listed = tiers[numbers[0]]["benefits" if verb == "remove-benefit" else "gates"]
        if listed is not None and 0 <= numbers[1] < len(listed):
            del listed[numbers[1]]
            return True
    if verb == "add-criterion" and len(numbers) == 1 and len(rows.criteria) < MAX_CRITERIA:
        blank = dict.fromkeys(CRITERION_FIELDS + CRITERION_SPEC_FIELDS, "") | {"pathway_id": str(numbers[0])}
        rows.criteria.append(blank | {"cap": "1"})
        return True
    if verb == "remove-criterion" and len(numbers) == 1 and 0 <= numbers[0] < len(rows.criteria):
        del rows.criteria[numbers[0]]
        return True
    return False


# --- The rows bound to forms, checked, and simulated ---------------------------------------------------------------


@dataclass
class BenefitEditor:
    form: BenefitRowForm
    position: int
    problems: list[Problem] = field(default_factory=list)


@dataclass
class GateEditor:
    form: GateRowForm
    position: int
    problems: list[Problem] = field(default_factory=list)


@dataclass
class TierEditor:
    form: TierRowForm
    index: int  # position in the ladder, lowest first; its rank is index + 1
    benefits: list[BenefitEditor]
    gates: list[GateEditor] | None  # None: the post did not carry gates (the saved ones stay)
    problems: list[Problem] = field(default_factory=list)
    percentile: Decimal | None = None  # the suggested minimum scores for this rank (none for the entry tier)
    natural_break: Decimal | None = None

    @property
    def rank(self) -> int:
        return self.index + 1

    @property
    def suggestions(self) -> list[Decimal]:
        return [value for value in (self.percentile, self.natural_break) if value is not None]


@dataclass
class CriterionEditor:
    form: CriterionRowForm
    index: int  # position in the posted rows (the remove button names it)
    key: int  # the saved criterion's id, or -(index + 1) for a new row
    pathway_id: int
    saved: Criterion | None
    share: Decimal | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def spec_typed(self) -> bool:
        """The row carries its label and metric (the page always posts them)."""
        return "label" in self.form.fields

    @property
    def label(self) -> str:
        value = self.form["label"].value() if self.spec_typed else None
        return value or (self.saved.label if self.saved else "")


@dataclass
class PathwayEditor:
    id: int
    name: str
    partner_types: list[tuple[int, str, bool]] | None  # (id, name, admitted); None: not posted
    criteria: list[CriterionEditor]
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class FairnessRow:
    group: GroupRow
    cells: list[tuple[int, int]]  # (now, draft) per rank, in the matrix's column order


@dataclass
class Workspace:
    model: TierModel
    tiers: list[TierEditor]  # lowest first
    pathways: list[PathwayEditor]
    problems: list[Problem]  # the whole model's
    is_valid: bool
    tier_drafts: list[TierDraft] = field(default_factory=list)
    criterion_drafts: list[CriterionDraft] = field(default_factory=list)
    pathway_drafts: list[PathwayDraft] | None = None
    result: SimulationResult | None = None
    movers: list[MoverWhy] = field(default_factory=list)
    in_force: TierModel | None = None
    typed: Scorecard | None = None  # the typed draft's scorecard, when the rows read
    population: Population | None = None
    explained: Partner | None = None
    explanations: list[tuple[str, Explanation]] = field(default_factory=list)  # (which model, why)
    fairness: list[tuple[str, list[FairnessRow]]] = field(default_factory=list)
    read_at: datetime | None = None  # when the population's metric values were read
    type_names: dict[int, str] = field(default_factory=dict)  # the tenant's partner types, id → name

    @property
    def criterion_count(self) -> int:
        return sum(len(pathway.criteria) for pathway in self.pathways)

    @property
    def ladder(self) -> list[TierEditor]:
        return list(reversed(self.tiers))

    @property
    def blocking(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.blocking]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if not problem.blocking]


def _data(rows: Rows) -> dict[str, str]:
    """The rows as form data, renumbered (an arrow or a removal changed their places)."""
    data = {"tiers": str(len(rows.tiers)), "criteria": str(len(rows.criteria))}
    for index, row in enumerate(rows.tiers):
        data |= {f"tier-{index}-{name}": row[name] for name in TIER_FIELDS}
        for position, benefit in enumerate(row["benefits"]):
            data |= {f"tier-{index}-benefit-{position}-{name}": benefit[name] for name in BENEFIT_FIELDS}
        for position, gate in enumerate(row["gates"] or ()):
            data |= {f"tier-{index}-gate-{position}-{name}": gate[name] for name in GATE_FIELDS}
    for index, row in enumerate(rows.criteria):
        data |= {f"criterion-{index}-{name}": value for name, value in row.items() if value is not None}
    return data


def _criterion_form(data: dict, index: int, row: dict) -> CriterionRowForm:
    form = CriterionRowForm(data, prefix=f"criterion-{index}")
    for name in CRITERION_SPEC_FIELDS:
        if row.get(name) is None:
            del form.fields[name]
    return form


def _bound(model: TierModel, scorecard: Scorecard, rows: Rows) -> Workspace:
    """The posted rows bound to forms and checked; the typed drafts built when every row reads."""
    saved_criteria = {
        criterion.pk: criterion
        for criterion in Criterion.objects.filter(pathway__model=model).select_related("pathway")
    }
    pathway_ids = {pathway.id for pathway in scorecard.pathways}

    def kept(row: dict) -> bool:  # a saved criterion of this draft, or a new one in one of its pathways
        text = str(row["criterion_id"])
        if text.isdigit():
            return int(text) in saved_criteria
        return not text and str(row["pathway_id"]).isdigit() and int(row["pathway_id"]) in pathway_ids

    rows.criteria = [row for row in rows.criteria if kept(row)]
    data = _data(rows)
    saved_gates = {tier.id: tier.gates for tier in scorecard.tiers}
    tier_editors = []
    for index, row in enumerate(rows.tiers):
        benefits = [
            BenefitEditor(BenefitRowForm(data, prefix=f"tier-{index}-benefit-{position}"), position)
            for position in range(len(row["benefits"]))
        ]
        gates = (
            None
            if row["gates"] is None
            else [
                GateEditor(GateRowForm(data, prefix=f"tier-{index}-gate-{position}"), position)
                for position in range(len(row["gates"]))
            ]
        )
        tier_editors.append(TierEditor(TierRowForm(data, prefix=f"tier-{index}"), index, benefits, gates))
    criterion_editors = []
    for index, row in enumerate(rows.criteria):
        saved = saved_criteria.get(int(row["criterion_id"])) if str(row["criterion_id"]).isdigit() else None
        criterion_editors.append(
            CriterionEditor(
                _criterion_form(data, index, row),
                index,
                saved.pk if saved else -(index + 1),
                saved.pathway_id if saved else int(row["pathway_id"]),
                saved,
            )
        )
    type_names = list(PartnerType.objects.order_by("name").values_list("pk", "name"))
    workspace_types = dict(type_names)
    pathway_editors = []
    for pathway in scorecard.pathways:
        typed = None if rows.pathways is None else rows.pathways.get(pathway.id, [])
        pathway_editors.append(
            PathwayEditor(
                pathway.id,
                pathway.name,
                None if typed is None else [(pk, name, str(pk) in typed) for pk, name in type_names],
                [editor for editor in criterion_editors if editor.pathway_id == pathway.id],
            )
        )
    is_valid = all(
        [editor.form.is_valid() for editor in tier_editors]
        + [benefit.form.is_valid() for editor in tier_editors for benefit in editor.benefits]
        + [gate.form.is_valid() for editor in tier_editors for gate in editor.gates or ()]
        + [editor.form.is_valid() for editor in criterion_editors]
    )
    workspace = Workspace(model, tier_editors, pathway_editors, [], is_valid, type_names=workspace_types)
    typed_ids = [int(row["tier_id"]) if str(row["tier_id"]).isdigit() else 0 for row in rows.tiers]
    if not is_valid or sorted(typed_ids) != sorted(saved_gates):
        workspace.is_valid = False
        return workspace
    workspace.tier_drafts = [_tier_draft(editor) for editor in tier_editors]
    workspace.criterion_drafts = [_criterion_draft(editor) for editor in criterion_editors]
    if rows.pathways is not None:
        workspace.pathway_drafts = [
            PathwayDraft(
                editor.id, editor.name, frozenset(pk for pk, _name, admitted in editor.partner_types if admitted)
            )
            for editor in pathway_editors
        ]
    problems = draft_problems(
        scorecard=scorecard,
        tiers=workspace.tier_drafts,
        criteria=workspace.criterion_drafts,
        pathways=workspace.pathway_drafts,
    )
    _place(workspace, problems)
    workspace.is_valid = not any(problem.blocking for problem in problems)
    return workspace


def _tier_draft(editor: TierEditor) -> TierDraft:
    cleaned = editor.form.cleaned_data
    return TierDraft(
        id=cleaned["tier_id"],
        name=cleaned["name"],
        minimum_score=cleaned["minimum_score"],
        point_multiplier=cleaned["point_multiplier"],
        colour=cleaned["colour"],
        benefits=tuple(
            BenefitDraft(
                kind=benefit.form.cleaned_data["kind"],
                value=benefit.form.cleaned_data["value"],
                currency=benefit.form.cleaned_data["currency"].strip(),
                text=benefit.form.cleaned_data["text"],
            )
            for benefit in editor.benefits
        ),
        gates=None
        if editor.gates is None
        else tuple(
            GateDraft(
                label=gate.form.cleaned_data["label"],
                metric=gate.form.cleaned_data["metric"],
                activity_kind=gate.form.cleaned_data["activity_kind"],
                code=gate.form.cleaned_data["code"].strip(),
                minimum=gate.form.cleaned_data["minimum"],
            )
            for gate in editor.gates
        ),
    )


def _criterion_draft(editor: CriterionEditor) -> CriterionDraft:
    cleaned = editor.form.cleaned_data
    spec = (cleaned["metric"], cleaned["activity_kind"], cleaned["code"].strip()) if editor.spec_typed else None
    return CriterionDraft(
        id=editor.key,
        weight=cleaned["weight"],
        target=cleaned["target"],
        cap=cleaned["cap"],
        label=cleaned["label"] if editor.spec_typed else None,
        spec=spec,
        pathway_id=editor.pathway_id,
    )


def _place(workspace: Workspace, problems: list[Problem]) -> None:
    """Each problem beside the row it names; the rest are the whole model's."""
    by_where: dict[str, list[Problem]] = {}
    for problem in problems:
        by_where.setdefault(problem.where, []).append(problem)
    for editor in workspace.tiers:
        editor.problems = by_where.pop(f"tier:{editor.rank}", [])
        for benefit in editor.benefits:
            benefit.problems = by_where.pop(f"benefit:{editor.rank}:{benefit.position}", [])
        for gate in editor.gates or ():
            gate.problems = by_where.pop(f"gate:{editor.rank}:{gate.position}", [])
    for pathway in workspace.pathways:
        pathway.problems = by_where.pop(f"pathway:{pathway.id}", [])
        for editor in pathway.criteria:
            editor.problems = by_where.pop(f"criterion:{editor.key}", [])
    workspace.problems = [problem for located in by_where.values() for problem in located]


def _simulate(workspace: Workspace, scorecard: Scorecard, *, reread: bool = False) -> None:
    """Re-score today's partners with the typed draft, even when a rule is broken (the what-if shows what it does)."""
    if not workspace.tier_drafts:
        return
    typed = draft_scorecard(
        scorecard=scorecard,
        tiers=workspace.tier_drafts,
        criteria=workspace.criterion_drafts,
        pathways=workspace.pathway_drafts,
    )
    shares = weight_shares(scorecard=typed)
    for pathway in workspace.pathways:
        for editor in pathway.criteria:
            editor.share = shares.get(editor.key)
    population = designer_population(
        model=workspace.model, evaluated_on=timezone.localdate(), specs=typed.specs(), reread=reread
    )
    workspace.read_at = population.read_at
    workspace.typed, workspace.population = typed, population
    workspace.result = simulate_scorecard(scorecard=typed, population=population)
    for editor in workspace.tiers:
        if editor.index >= 1 and editor.index <= len(workspace.result.percentile_thresholds):
            editor.percentile = workspace.result.percentile_thresholds[editor.index - 1]
        if editor.index >= 1 and editor.index <= len(workspace.result.natural_break_thresholds):
            editor.natural_break = workspace.result.natural_break_thresholds[editor.index - 1]
    explainer = MoverExplainer(typed, population)
    workspace.movers = explainer.explained(workspace.result.movers[:MOVERS_SHOWN])


def _apply_suggested(workspace: Workspace, scorecard: Scorecard, rows: Rows, *, natural: bool) -> Workspace:
    """Every tier above the entry one takes the suggested minimum score of the draft as typed (not saved)."""
    _simulate(workspace, scorecard)
    if workspace.result is None:
        return workspace  # the typed rows do not read: nothing to suggest from
    for editor in workspace.tiers:
        suggested = editor.natural_break if natural else editor.percentile
        if suggested is not None:
            rows.tiers[editor.index]["minimum_score"] = _number_text(suggested)
    return _bound(workspace.model, scorecard, rows)


def _explained_id(request: HttpRequest, action: str, population: Population) -> tuple[int | None, bool]:
    """The partner to explain (a mover's button, the search box, or the one explained already) and whether a
    search found nothing."""
    if action == "explain":
        found = partner_find(population=population, query=request.POST.get("explain_query", ""))
        return found, found is None
    text = action.removeprefix("explain:") if action.startswith("explain:") else request.POST.get("explained", "")
    partner_id = int(text) if text.isdigit() else None
    return (partner_id if partner_id in population.index_set() else None), False


def _explain(request: HttpRequest, workspace: Workspace, action: str) -> None:
    """Why one partner lands where it does, under the typed draft and under the model in force."""
    if workspace.typed is None or workspace.population is None:
        return
    partner_id, not_found = _explained_id(request, action, workspace.population)
    if not_found:
        messages.info(request, gettext("No active partner has that name."))
    if partner_id is None:
        return
    currency = request.tenant.currency
    population = workspace.population
    workspace.explained = Partner.objects.select_related("partner_type").get(pk=partner_id)
    workspace.explanations = [
        (
            gettext("With the draft"),
            partner_explain(scorecard=workspace.typed, population=population, partner_id=partner_id, currency=currency),
        )
    ]
    in_force = workspace.in_force
    if in_force is not None:
        if (in_force.window, in_force.fiscal_year_start_month) != (
            workspace.model.window,
            workspace.model.fiscal_year_start_month,
        ):
            population = designer_population(
                model=in_force, evaluated_on=timezone.localdate(), specs=scorecard_load(model=in_force).specs()
            )
        workspace.explanations.append(
            (
                gettext("With the model in force (%(name)s v%(version)s)")
                % {"name": in_force.name, "version": in_force.version},
                partner_explain(
                    scorecard=scorecard_load(model=in_force),
                    population=population,
                    partner_id=partner_id,
                    currency=currency,
                ),
            )
        )


def _fairness(workspace: Workspace) -> None:
    """Who the draft moves, by partner type, by region and by size (sales in the window)."""
    result, population = workspace.result, workspace.population
    if result is None or population is None:
        return
    type_names = workspace.type_names
    ranks = result.all_ranks
    sizes, size_order = size_bands(population=population)
    for title, groups, order in (
        (gettext("By partner type"), [type_names.get(type_id, NO_TIER) for type_id in population.type_ids], None),
        (gettext("By region"), [region or NO_TIER for region in population.regions], None),
        (gettext("By size (sales in the window)"), sizes, size_order),
    ):
        rows = fairness_rows(population=population, result=result, groups=groups, order=order)
        workspace.fairness.append(
            (
                title,
                [FairnessRow(row, [(row.now.get(rank, 0), row.draft.get(rank, 0)) for rank in ranks]) for row in rows],
            )
        )


def _save(model: TierModel, workspace: Workspace, onto: DraftSave) -> None:
    tier_model_draft_save(
        model=model,
        tiers=workspace.tier_drafts,
        criteria=workspace.criterion_drafts,
        pathways=workspace.pathway_drafts,
        onto=onto,
    )


# What the page posts besides the draft's content.
NOT_CONTENT = frozenset({"csrfmiddlewaretoken", "action", "revision", "explain_query", "explained"})


def _onto(data: QueryDict) -> DraftSave:
    """The revision the page was opened at (anything but a number is none: it saves onto nothing) and a fingerprint
    of the typed content, field by field in a fixed order."""
    posted = data.get("revision", "")
    revision = int(posted) if posted.isascii() and posted.isdigit() and len(posted) < 10 else -1
    content = sorted((name, value) for name, values in data.lists() if name not in NOT_CONTENT for value in values)
    fingerprint = hashlib.sha256(repr(content).encode("utf-8", "surrogatepass")).hexdigest()
    return DraftSave(revision=revision, fingerprint=fingerprint)


def _not_a_draft(request: HttpRequest, model: TierModel) -> HttpResponse:
    """Back, reload or a second tab after publishing: say what became of the model rather than a 404."""
    if model.status in (TierModel.Status.SCHEDULED, TierModel.Status.ACTIVE):
        messages.info(request, publication_sentence(model=model))
    else:
        messages.info(
            request,
            gettext("%(model)s is no longer a draft.") % {"model": f"{model.name} v{model.version}"},
        )
    if request.htmx:  # a typed change in a tab left open: the whole page goes, not the what-if panel
        return HttpResponseClientRedirect(reverse("portal:designer"))
    return redirect("portal:designer")


# --- Views ---------------------------------------------------------------------------------------------------------


@membership_required(*DESIGNERS)
def designer_home(request: HttpRequest) -> HttpResponse:
    """The model in force and the drafts; a draft starts as a copy of the model in force."""
    in_force = tier_model_for(evaluated_on=timezone.localdate())
    drafts = list(TierModel.objects.filter(status=TierModel.Status.DRAFT).order_by("-version"))
    continued = next((draft for draft in drafts if in_force and draft.copied_from_id == in_force.pk), None)
    published = list(
        TierModel.objects.exclude(status=TierModel.Status.DRAFT)
        .filter(published_at__isnull=False)
        .select_related("published_by")
        .order_by("-published_at")[:PUBLISHED_SHOWN]
    )
    context = {"in_force": in_force, "drafts": drafts, "continued": continued, "published": published}
    return render(request, "portal/designer/home.html", context)


@require_POST
@membership_required(*DESIGNERS)
def designer_start(request: HttpRequest) -> HttpResponse:
    """Copy the model in force into a draft (or reopen the draft already copied from it) and open it."""
    in_force = tier_model_for(evaluated_on=timezone.localdate())
    if in_force is None:
        messages.error(request, gettext("There is no model in force to copy."))
        return redirect("portal:designer")
    draft = tier_model_draft_start(source=in_force)
    return redirect("portal:designer-draft", model_id=draft.pk)


@membership_required(*DESIGNERS)
def designer_draft(request: HttpRequest, model_id: int) -> HttpResponse:
    """GET: the saved draft. POST: the typed draft, re-checked and re-simulated; `action` says what else to do."""
    model = get_object_or_404(TierModel, pk=model_id)
    if model.status != TierModel.Status.DRAFT:
        return _not_a_draft(request, model)
    scorecard = scorecard_load(model=model)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    if request.method == "POST":
        rows = _rows_from_post(request.POST, scorecard)
        _apply_action(action, rows)
    else:
        rows = _rows_from_model(model)
    workspace = _bound(model, scorecard, rows)
    if action in ("apply:percentiles", "apply:natural"):
        workspace = _apply_suggested(workspace, scorecard, rows, natural=action == "apply:natural")
    workspace.in_force = tier_model_for(evaluated_on=timezone.localdate())
    status, clash = 200, False
    # The revision the page saves onto stays the one it was opened at, however many previews since.
    onto = _onto(request.POST) if request.method == "POST" else DraftSave(revision=model.revision, fingerprint="")
    if action in ("save", "publish"):
        # Publishing works on the saved draft: what is typed is saved first (the rules permitting), then confirmed.
        if workspace.is_valid:
            try:
                _save(model, workspace, onto)
            except DraftChangedError as error:  # what is typed stays on the page, for the person to compare
                messages.error(request, " ".join(error.messages))
                status = 409
                clash = True
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                status = 400
            else:
                if action == "publish":
                    return redirect("portal:designer-publish", model_id=model.pk)
                messages.success(request, gettext("Draft saved."))
                return redirect("portal:designer-draft", model_id=model.pk)
        elif action == "save":
            messages.error(request, gettext("The draft was not saved: fix the marked fields first."))
            status = 400
        else:
            messages.error(request, gettext("The draft cannot be published: fix the marked fields first."))
            status = 400
    _simulate(workspace, scorecard, reread=action == "reread")
    _explain(request, workspace, action)
    _fairness(workspace)
    distribution = _distribution(workspace.result)
    context = {
        "workspace": workspace,
        "model": model,
        "revision": onto.revision,
        "clash": clash,
        "distribution": distribution,
        "chart_height": max(1, len(distribution)) * ROW_HEIGHT,
        "label_width": LABEL_WIDTH,
    }
    if request.htmx and action == "preview":
        return render(request, "portal/designer/draft.html#preview", context)
    return render(request, "portal/designer/draft.html", context, status=status)


@dataclass(frozen=True)
class DistributionRow:
    """A rank's partners now and with the draft, and its two bars in the chart (100 px is the fullest row)."""

    name: str  # "Gold", or "Gold / Premier" when the draft renames the tier
    now: int
    draft: int
    y: int
    now_width: float
    draft_width: float

    @property
    def change(self) -> int:
        return self.draft - self.now


ROW_HEIGHT = 30
LABEL_WIDTH = 120
BAR_SPAN = 200


def _distribution(result: SimulationResult | None) -> list[DistributionRow]:
    if result is None:
        return []
    rows = result.distribution_rows()
    fullest = max([1, *(now for _n, _d, now, _s in rows), *(draft for _n, _d, _c, draft in rows)])
    return [
        DistributionRow(
            name=draft_name if now_name in (draft_name, "—") else f"{now_name} / {draft_name}",
            now=now,
            draft=draft,
            y=index * ROW_HEIGHT,
            now_width=round(BAR_SPAN * now / fullest, 1),
            draft_width=round(BAR_SPAN * draft / fullest, 1),
        )
        for index, (now_name, draft_name, now, draft) in enumerate(rows)
    ]


class PublishForm(forms.Form):
    effective_from = forms.DateField(label=_("Effective date"), widget=ReaderDateInput())
    publication_downgrades = forms.ChoiceField(
        label=_("Partners the draft places lower than the tier they hold"),
        choices=TierModel.PublicationDowngrades.choices,
        widget=forms.RadioSelect,
    )

    def clean_effective_from(self):  # noqa: ANN201 - a form's clean method
        effective_from = self.cleaned_data["effective_from"]
        if effective_from < timezone.localdate():
            raise forms.ValidationError(_("A model takes effect today or later."))
        return effective_from


@membership_required(*DESIGNERS)
def designer_publish(request: HttpRequest, model_id: int) -> HttpResponse:
    """Publish a saved draft with care: GET says when, what changes, who moves and what it costs; POST `schedule`
    stores the date and the policy for partners placed lower; POST `confirm` (naming the version and date shown)
    publishes and records it in the audit log. A repeat after publishing says so."""
    model = get_object_or_404(TierModel, pk=model_id)
    if model.status != TierModel.Status.DRAFT:
        return _not_a_draft(request, model)
    form = PublishForm(
        initial={
            "effective_from": max(model.effective_from, timezone.localdate()),
            "publication_downgrades": model.publication_downgrades,
        }
    )
    status = 200
    if request.method == "POST" and request.POST.get("action") == "schedule":
        form = PublishForm(request.POST)
        if form.is_valid():
            tier_model_draft_schedule(model=model, **form.cleaned_data)
            return redirect("portal:designer-publish", model_id=model.pk)
        status = 400
    elif request.method == "POST" and request.POST.get("action") == "confirm":
        shown = (request.POST.get("version"), request.POST.get("effective_from"))
        if shown == (str(model.version), model.effective_from.isoformat()):
            try:
                published = tier_model_publish(model=model, actor=request.user)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                status = 400
            else:
                audit_record(
                    actor=request.user,
                    action=AuditEntry.Action.ACTION,
                    target=published,
                    summary=f"Published {published.name} v{published.version} from the designer, effective "
                    f"{published.effective_from.isoformat()}, placed lower: {published.publication_downgrades}",
                    request=request,
                )
                messages.success(request, publication_sentence(model=published))
                return redirect("portal:designer")
        else:
            messages.error(request, gettext("The date changed since this page was shown: check it and confirm again."))
            status = 400
    model.refresh_from_db()
    plan = publication_plan(model=model)
    in_force = plan.in_force
    changes = model_diff(draft=scorecard_load(model=model), in_force=scorecard_load(model=in_force)) if in_force else []
    context = {"model": model, "form": form, "plan": plan, "changes": changes}
    return render(request, "portal/designer/publish.html", context, status=status)
