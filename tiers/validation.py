"""The rules a tier model must keep, in one place: the admin's forms, the designer page, the API and publishing all
ask here (docs/tiers.md, "What a model must be").

Rules work on plain rows, so a form can be checked before anything is saved, and on a saved model
(`model_problems`). Each problem names where it is (a tier's rank, a pathway) so a page can show it beside the field.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from partners.models import ActivityKind, PartnerType
from tiers.engine import Scorecard
from tiers.metrics import REGISTRY
from tiers.models import BENEFIT_VALUE_UNITS, BenefitKind, Metric, TierModel

MIN_TIERS, MAX_TIERS = 2, 6


@dataclass(frozen=True)
class TierRow:
    rank: int
    name: str
    minimum_score: Decimal
    point_multiplier: Decimal


@dataclass(frozen=True)
class CriterionRow:
    """A criterion as typed (the designer's rows) or saved: `criterion_problems` reads either."""

    pk: int
    label: str
    metric: str
    weight: Decimal
    target: Decimal
    cap: Decimal


@dataclass(frozen=True)
class Problem:
    message: str
    where: str = ""  # "tier:<rank>", "pathway:<id>", "gate:<id>", "criterion:<id>"; empty: the whole model
    field: str = ""
    blocking: bool = True  # False: a warning that publishing states but does not refuse

    def __str__(self) -> str:
        return self.message


def _number(value: Decimal) -> str:
    """90.00 → "90", 1.10 → "1.1": as a person would type it."""
    return f"{value.normalize():f}"


def ladder_problems(tiers: Sequence[TierRow]) -> list[Problem]:
    """Ranks distinct, minimum scores strictly increasing with rank, multipliers never decreasing."""
    problems = []
    if not MIN_TIERS <= len(tiers) <= MAX_TIERS:
        problems.append(Problem(_("A model has between %(low)d and %(high)d tiers.") % {"low": 2, "high": 6}))
    ordered = sorted(tiers, key=lambda row: row.rank)
    for lower, higher in zip(ordered, ordered[1:], strict=False):
        where = f"tier:{higher.rank}"
        if lower.rank == higher.rank:
            problems.append(
                Problem(
                    _("%(tier)s and %(other)s have the same rank.") % {"tier": higher.name, "other": lower.name},
                    where,
                    "rank",
                )
            )
            continue
        if higher.minimum_score <= lower.minimum_score:
            problems.append(
                Problem(
                    _("%(tier)s needs a higher minimum score than %(lower)s (%(minimum)s).")
                    % {"tier": higher.name, "lower": lower.name, "minimum": _number(lower.minimum_score)},
                    where,
                    "minimum_score",
                )
            )
        if higher.point_multiplier < lower.point_multiplier:
            problems.append(
                Problem(
                    _("%(tier)s's point multiplier is below %(lower)s's (%(multiplier)s).")
                    % {"tier": higher.name, "lower": lower.name, "multiplier": _number(lower.point_multiplier)},
                    where,
                    "point_multiplier",
                )
            )
    return problems


@dataclass(frozen=True)
class BenefitDraft:
    kind: str
    value: Decimal | None
    currency: str
    text: str


@dataclass(frozen=True)
class GateDraft:
    """A gate as typed: a minimum of one metric (with its activity kind and code for counts)."""

    label: str
    metric: str
    activity_kind: str
    code: str
    minimum: Decimal


@dataclass(frozen=True)
class TierDraft:
    """A tier of the draft as typed; its rank is its place in the ladder (the list's order, lowest first)."""

    id: int
    name: str
    minimum_score: Decimal
    point_multiplier: Decimal
    colour: str
    benefits: tuple[BenefitDraft, ...] = ()
    gates: tuple[GateDraft, ...] | None = None  # None: the saved tier's gates, unchanged


@dataclass(frozen=True)
class CriterionDraft:
    """A criterion as typed. A new one has an id of 0 or below until saved; `spec`, `label` and `pathway_id` left
    as None keep the saved criterion's."""

    id: int
    weight: Decimal
    target: Decimal
    cap: Decimal
    label: str | None = None
    spec: tuple[str, str, str] | None = None  # (metric, activity kind, code)
    pathway_id: int | None = None


@dataclass(frozen=True)
class PathwayDraft:
    """A saved pathway's partner types as typed (empty: every type). Given, the criteria rows are the whole list."""

    id: int
    name: str
    partner_type_ids: frozenset[int]


def benefit_problems(benefit: BenefitDraft, *, where: str) -> list[Problem]:
    """The rules of `TierBenefit.clean`, on a typed row."""
    unit = BENEFIT_VALUE_UNITS.get(benefit.kind)
    if benefit.kind not in BenefitKind.values:
        return [Problem(_("Choose a kind of benefit."), where, "kind")]
    if unit and benefit.value is None:
        return [Problem(_("This kind of benefit needs a value."), where, "value")]
    if unit == "percent" and benefit.value is not None and benefit.value > 100:
        return [Problem(_("A rate is at most 100 %."), where, "value")]
    if unit == "days" and benefit.value is not None and benefit.value != benefit.value.to_integral_value():
        return [Problem(_("Deal protection is a whole number of days."), where, "value")]
    if unit == "amount" and len(benefit.currency) != 3:
        return [Problem(_("Give the currency of the allocation (e.g. USD)."), where, "currency")]
    # Only an "other" benefit is its text; support and early access read well without one (tiers/wording.py).
    if benefit.kind == BenefitKind.TEXT and not benefit.text.strip():
        return [Problem(_("Say what the benefit is."), where, "text")]
    return []


def spec_problems(*, label: str, metric: str, activity_kind: str, where: str, unnamed: str) -> list[Problem]:
    """A criterion's or a gate's label and metric: named, a metric of the registry, a kind when it counts a kind."""
    problems = []
    if not label.strip():
        problems.append(Problem(unnamed, where, "label"))
    if metric not in REGISTRY:
        problems.append(Problem(_("Choose a metric."), where, "metric"))
    elif metric == Metric.ACTIVITY_COUNT and activity_kind not in ActivityKind.values:
        problems.append(Problem(_("Choose the kind of activity to count."), where, "activity_kind"))
    return problems


def draft_problems(
    *,
    scorecard: Scorecard,
    tiers: list[TierDraft],
    criteria: list[CriterionDraft],
    pathways: list[PathwayDraft] | None = None,
) -> list[Problem]:
    """Every rule over the typed rows. Problems name the tier by its *new* rank, the criterion by its id (a new one
    by its id below 1), the gate by its tier's rank and position, the pathway by its id."""
    problems = ladder_problems(
        [
            TierRow(rank, tier.name, tier.minimum_score, tier.point_multiplier)
            for rank, tier in enumerate(tiers, start=1)
        ]
    )
    for rank, tier in enumerate(tiers, start=1):
        if not tier.name.strip():
            problems.append(Problem(_("Give the tier a name."), f"tier:{rank}", "name"))
        for position, benefit in enumerate(tier.benefits):
            problems += benefit_problems(benefit, where=f"benefit:{rank}:{position}")
        for position, gate in enumerate(tier.gates or ()):
            where = f"gate:{rank}:{position}"
            problems += spec_problems(
                label=gate.label,
                metric=gate.metric,
                activity_kind=gate.activity_kind,
                where=where,
                unnamed=_("Give the gate a label."),
            )
            if gate.minimum <= 0:
                problems.append(Problem(_("A gate's minimum is above 0."), where, "minimum"))
    saved = {criterion.id: criterion for pathway in scorecard.pathways for criterion in pathway.criteria}
    for row in criteria:
        criterion = saved.get(row.id)
        label = row.label if row.label is not None else (criterion.label if criterion else "")
        spec = row.spec or (criterion.spec if criterion else ("", "", ""))
        typed = row.label is not None or row.spec is not None
        if typed:
            problems += spec_problems(
                label=label,
                metric=spec[0],
                activity_kind=spec[1],
                where=f"criterion:{row.id}",
                unnamed=_("Give the criterion a label."),
            )
        if criterion is not None or typed:
            problems += [
                problem
                for problem in criterion_problems(CriterionRow(row.id, label, spec[0], row.weight, row.target, row.cap))
                if not (typed and problem.field == "metric")  # said once, by spec_problems
            ]
    if pathways is not None:
        problems += _pathway_draft_problems(scorecard=scorecard, criteria=criteria, pathways=pathways)
    return problems


def _pathway_draft_problems(
    *, scorecard: Scorecard, criteria: list[CriterionDraft], pathways: list[PathwayDraft]
) -> list[Problem]:
    """Each pathway has criteria; partner types no pathway admits are stated (a warning, as on a saved model)."""
    saved_pathway = {criterion.id: pathway.id for pathway in scorecard.pathways for criterion in pathway.criteria}
    counts = Counter(row.pathway_id or saved_pathway.get(row.id) for row in criteria)
    problems = [
        Problem(_("Pathway %(name)s has no criteria.") % {"name": pathway.name}, f"pathway:{pathway.id}")
        for pathway in pathways
        if not counts[pathway.id]
    ]
    if pathways and all(pathway.partner_type_ids for pathway in pathways):
        admitted = set().union(*(pathway.partner_type_ids for pathway in pathways))
        left_out = list(PartnerType.objects.exclude(pk__in=admitted).order_by("name").values_list("name", flat=True))
        if left_out:
            problems.append(_left_out_problem(left_out))
    return problems


def model_problems(*, model: TierModel) -> list[Problem]:
    """Every rule over a saved model: its ladder, gates, pathways and criteria, and the partner types left out."""
    tiers = list(model.tiers.order_by("rank").prefetch_related("gates"))
    problems = ladder_problems(
        [TierRow(tier.rank, tier.name, tier.minimum_score, tier.point_multiplier) for tier in tiers]
    )
    for tier in tiers:
        problems += [
            Problem(
                _("Gate %(gate)s of %(tier)s measures %(metric)s, which is not a metric.")
                % {"gate": gate.label, "tier": tier.name, "metric": gate.metric},
                f"gate:{gate.pk}",
                "metric",
            )
            for gate in tier.gates.all()
            if gate.metric not in REGISTRY
        ]
    pathways = list(model.pathways.order_by("pk").prefetch_related("criteria", "partner_types"))
    if not pathways:
        problems.append(Problem(_("A model needs at least one pathway.")))
    for pathway in pathways:
        criteria = list(pathway.criteria.all())
        if not criteria:
            problems.append(
                Problem(_("Pathway %(name)s has no criteria.") % {"name": pathway.name}, f"pathway:{pathway.pk}")
            )
        for criterion in criteria:
            problems += criterion_problems(criterion)
    problems += coverage_problems(pathways=pathways)
    return problems


def criterion_problems(criterion) -> list[Problem]:  # noqa: ANN001 (a Criterion or a CriterionRow)
    where = f"criterion:{criterion.pk}"
    problems = []
    if criterion.metric not in REGISTRY:
        problems.append(
            Problem(
                _("Criterion %(label)s measures %(metric)s, which is not a metric.")
                % {"label": criterion.label, "metric": criterion.metric},
                where,
                "metric",
            )
        )
    for name, label in (("weight", _("weight")), ("target", _("target")), ("cap", _("cap"))):
        if getattr(criterion, name) <= 0:
            problems.append(
                Problem(
                    _("Criterion %(label)s needs a %(field)s above 0.") % {"label": criterion.label, "field": label},
                    where,
                    name,
                )
            )
    return problems


def coverage_problems(*, pathways: Sequence) -> list[Problem]:
    """Partner types no pathway admits: they score 0 and sit on the entry tier. Stated, not refused."""
    if not pathways or any(not pathway.partner_types.all() for pathway in pathways):
        return []
    admitted = {partner_type.pk for pathway in pathways for partner_type in pathway.partner_types.all()}
    left_out = [partner_type.name for partner_type in PartnerType.objects.exclude(pk__in=admitted).order_by("name")]
    if not left_out:
        return []
    return [_left_out_problem(left_out)]


def _left_out_problem(left_out: list[str]) -> Problem:
    message = _("No pathway admits partners of type %(types)s: they score 0 and stay on the entry tier.") % {
        "types": ", ".join(left_out)
    }
    return Problem(message, "pathways", "partner_types", blocking=False)


def model_validate(*, model: TierModel) -> list[Problem]:
    """Raise the blocking problems as one ValidationError; return the warnings."""
    problems = model_problems(model=model)
    blocking = [problem.message for problem in problems if problem.blocking]
    if blocking:
        raise ValidationError(blocking)
    return [problem for problem in problems if not problem.blocking]
