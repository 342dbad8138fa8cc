"""The program designer's domain side: a draft as typed rows, the unsaved scorecard they make, and why movers move.

The designer page edits a saved draft without saving at each keystroke: every change posts the whole ladder and the
criteria as rows (`TierDraft`, `CriterionDraft`); `tiers.validation.draft_problems` checks them (the rules of save and
publish) and `draft_scorecard` turns them into a scorecard the simulation scores in memory. Saving goes
through `tiers.services.tier_model_draft_save`, which asks the same two functions.
"""

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from tiers.engine import LoadedCriterion, LoadedGate, LoadedPathway, LoadedTier, Scorecard, evaluate_one, scorecard_load
from tiers.metrics import MetricSpecKey
from tiers.models import Metric, TierChange, TierModel
from tiers.simulation import (
    NO_TIER,
    Mover,
    Population,
    SimulationResult,
    population_load,
    population_pins_read,
    simulate_scorecard,
)
from tiers.validation import CriterionDraft, PathwayDraft, Problem, TierDraft, draft_problems
from tiers.wording import gap_sentence, progress_text


def draft_scorecard(
    *,
    scorecard: Scorecard,
    tiers: list[TierDraft],
    criteria: list[CriterionDraft],
    pathways: list[PathwayDraft] | None = None,
) -> Scorecard:
    """The saved draft's scorecard with the typed ladder and criteria: ranks by position; a tier's gates as typed
    (or as saved when not typed). With `pathways`, the criteria rows are each pathway's whole list, in order (new
    ones included, removed ones gone) and the partner types are as typed; without, typed rows replace saved ones."""
    saved_tiers = {tier.id: tier for tier in scorecard.tiers}
    loaded_tiers = tuple(
        LoadedTier(
            id=tier.id,
            name=tier.name,
            rank=rank,
            minimum_score=tier.minimum_score,
            point_multiplier=tier.point_multiplier,
            colour=tier.colour,
            gates=_gates(tier, saved_tiers.get(tier.id)),
        )
        for rank, tier in enumerate(tiers, start=1)
    )
    saved = {criterion.id: (pathway.id, criterion) for pathway in scorecard.pathways for criterion in pathway.criteria}
    if pathways is None:
        typed = {row.id: row for row in criteria}
        loaded_pathways = tuple(
            replace(
                pathway,
                criteria=tuple(_criterion_with(criterion, typed.get(criterion.id)) for criterion in pathway.criteria),
            )
            for pathway in scorecard.pathways
        )
    else:
        drafts = {pathway.id: pathway for pathway in pathways}
        loaded_pathways = tuple(
            LoadedPathway(
                id=pathway.id,
                name=pathway.name,
                partner_type_ids=drafts.get(pathway.id, pathway).partner_type_ids,
                criteria=tuple(
                    _criterion_with(saved[row.id][1] if row.id in saved else None, row)
                    for row in criteria
                    if (row.pathway_id or saved.get(row.id, (None,))[0]) == pathway.id
                ),
            )
            for pathway in scorecard.pathways
        )
    return Scorecard(model=scorecard.model, tiers=loaded_tiers, pathways=loaded_pathways)


def _gates(tier: TierDraft, saved: LoadedTier | None) -> tuple[LoadedGate, ...]:
    if tier.gates is None:
        return saved.gates if saved else ()
    return tuple(
        LoadedGate(gate.label, (gate.metric, gate.activity_kind, gate.code), gate.minimum) for gate in tier.gates
    )


def _criterion_with(criterion: LoadedCriterion | None, row: CriterionDraft | None) -> LoadedCriterion:
    if row is None:
        return criterion
    label = row.label if row.label is not None else criterion.label
    spec = row.spec or criterion.spec
    return LoadedCriterion(row.id, label, spec, row.weight, row.target, row.cap)


def weight_shares(*, scorecard: Scorecard) -> dict[int, Decimal]:
    """Each criterion's weight as a share of 100 % of its pathway's weights."""
    shares = {}
    for pathway in scorecard.pathways:
        total = pathway.total_weight
        for criterion in pathway.criteria:
            share = criterion.weight / total * 100 if total > 0 else Decimal(0)
            shares[criterion.id] = share.quantize(Decimal("0.1"))
    return shares


@dataclass(frozen=True)
class MoverWhy:
    mover: Mover
    why: str


# --- The population a designer session re-simulates -----------------------------------------------------------------

# Metric values do not change while thresholds do: a draft's population (partners, tiers held, points earned, metric
# values) is read once and kept in this process for a while, so a change re-scores in memory (docs/tiers.md).
POPULATION_SECONDS = 15 * 60
POPULATIONS_KEPT = 4
_populations: OrderedDict[tuple, Population] = OrderedDict()
_populations_lock = threading.Lock()


def designer_population(
    *, model: TierModel, evaluated_on: date, specs: list[MetricSpecKey], reread: bool = False
) -> Population:
    """Today's population for a draft, read at most every POPULATION_SECONDS (or when `reread`), and again once a
    tier held has moved (a nightly run, a new model's first run, a pin): the tiers held are what the what-if
    compares with, and the publish page, which reads them afresh, must say the same."""
    key = (model.tenant_id, model.pk, evaluated_on, model.window, model.fiscal_year_start_month)
    last_move = TierChange.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with _populations_lock:
        population = _populations.pop(key, None)
    fresh = (
        population is not None
        and population.last_move == last_move
        and (timezone.now() - population.read_at).total_seconds() < POPULATION_SECONDS
    )
    if reread or not fresh:
        population = population_load(model=model, evaluated_on=evaluated_on, specs=specs)
        population.last_move = last_move
    else:
        population_pins_read(population)
    population.specs_load(specs)  # a criterion on a metric not read yet
    with _populations_lock:
        _populations[key] = population
        while len(_populations) > POPULATIONS_KEPT:
            _populations.popitem(last=False)
    return population


def designer_populations_forget() -> None:
    with _populations_lock:
        _populations.clear()


@dataclass
class MoverExplainer:
    """Says in a sentence why each mover lands where the draft puts it, from the values the simulation used."""

    scorecard: Scorecard
    population: Population

    def values(self, partner_id: int) -> dict[MetricSpecKey, Decimal]:
        index = self.population.index_of(partner_id)
        zero = Decimal(0)
        return {
            spec: self.population.values.get(spec, {}).get(self.population.ids[index], zero)
            for spec in self.scorecard.specs()
        }

    def why(self, mover: Mover) -> str:
        by_rank = {tier.rank: tier for tier in self.scorecard.tiers}
        if mover.direction == "up":
            tier = by_rank[mover.simulated_rank]
            return _("Score %(score)s reaches %(tier)s's minimum of %(minimum)s.") % {
                "score": formats.number_format(mover.score, 2),
                "tier": tier.name,
                "minimum": _number(tier.minimum_score),
            }
        kept = by_rank.get(mover.current_rank)
        if kept is None:
            return _("The draft has no tier at this rank.")
        if mover.score < kept.minimum_score:
            return _("Score %(score)s is below %(tier)s's minimum of %(minimum)s.") % {
                "score": formats.number_format(mover.score, 2),
                "tier": kept.name,
                "minimum": _number(kept.minimum_score),
            }
        values = self.values(mover.partner_id)
        unmet = [gate for gate in kept.gates if values.get(gate.spec, Decimal(0)) < gate.minimum]
        if unmet:
            return _("Score %(score)s is enough for %(tier)s, but its gate is not met: %(gates)s.") % {
                "score": formats.number_format(mover.score, 2),
                "tier": kept.name,
                "gates": ", ".join(
                    f"{gate.label} ({_number(values.get(gate.spec, Decimal(0)))} / {_number(gate.minimum)})"
                    for gate in unmet
                ),
            }
        return ""  # not reached: a partner below its rank misses the score or a gate

    def explained(self, movers: list[Mover]) -> list[MoverWhy]:
        return [MoverWhy(mover, self.why(mover)) for mover in movers]


def _number(value: Decimal) -> str:
    """A threshold or target as the reader writes numbers: 240,000 and 67.5; 240.000 and 67,5 in Spanish."""
    return formats.number_format(Decimal(f"{value.normalize():f}"), use_l10n=True, force_grouping=True)


# --- Why a partner lands where it does, under the draft and under the model in force ------------------------------


@dataclass(frozen=True)
class CriterionLine:
    label: str
    progress: str  # "$60,000 / $100,000", as the portal words it
    weight: Decimal
    contribution: str


@dataclass(frozen=True)
class GateLine:
    tier: str
    label: str
    value: Decimal
    minimum: Decimal

    @property
    def is_met(self) -> bool:
        return self.value >= self.minimum


@dataclass(frozen=True)
class Explanation:
    """The engine's evaluation of one partner under one scorecard (before any downgrade policy), in words."""

    score: Decimal
    tier: str
    pathway: str
    runner_up: tuple[str, Decimal] | None
    criteria: list[CriterionLine]
    gates: list[GateLine]
    gap: str  # the portal's sentence: what reaches the next tier


def partner_explain(*, scorecard: Scorecard, population: Population, partner_id: int, currency: str) -> Explanation:
    """`engine.evaluate_one` on the population's values, worded by `tiers.wording` as the partner portal does."""
    population.specs_load(scorecard.specs())
    index = population.index_of(partner_id)
    zero = Decimal(0)
    values = {spec: population.values[spec].get(partner_id, zero) for spec in scorecard.specs()}
    evaluation = evaluate_one(
        scorecard=scorecard, partner_id=partner_id, partner_type_id=population.type_ids[index], values=values
    )
    kinds = {criterion.id: criterion.spec[1] for pathway in scorecard.pathways for criterion in pathway.criteria}
    tracks = sorted(evaluation.gaps.get("tracks", []), key=lambda track: -Decimal(track["score"]))
    best = next((track for track in tracks if track["pathway"] == evaluation.pathway_id), None)
    others = [track for track in tracks if track is not best]
    return Explanation(
        score=evaluation.score,
        tier=evaluation.qualified_tier.name if evaluation.qualified_tier else NO_TIER,
        pathway=best["name"] if best else NO_TIER,
        runner_up=(others[0]["name"], Decimal(others[0]["score"])) if others else None,
        criteria=[
            CriterionLine(
                label=row["label"],
                progress=progress_text(
                    row["metric"], kinds.get(row["criterion"], ""), row["value"], row["target"], currency
                ),
                weight=Decimal(row["weight"]),
                contribution=row["contribution"],
            )
            for row in evaluation.breakdown
        ],
        gates=[
            GateLine(tier.name, gate.label, values.get(gate.spec, zero), gate.minimum)
            for tier in scorecard.tiers
            for gate in tier.gates
        ],
        gap=gap_sentence(gaps=evaluation.gaps, kinds=kinds, currency=currency),
    )


def partner_find(*, population: Population, query: str) -> int | None:
    """The active partner whose name (or part of it) is typed, first by name; None when none matches."""
    needle = query.strip().casefold()
    if not needle:
        return None
    matches = [
        (name, pk) for pk, name in zip(population.ids, population.names, strict=True) if needle in name.casefold()
    ]
    return min(matches)[1] if matches else None


# --- Fairness: who the draft moves, by partner type and region -----------------------------------------------------


@dataclass(frozen=True)
class GroupRow:
    group: str
    partners: int
    up: int
    down: int
    now: dict[int, int]  # rank → partners
    draft: dict[int, int]


def size_bands(*, population: Population) -> tuple[list[str], list[str]]:
    """Each partner's size band by its sales in the window (the population's revenue column), and the bands in
    order: no sales, the lower and upper half of the partners who sold, and the top tenth of them."""
    spec = (Metric.REVENUE, "", "")
    population.specs_load([spec])
    column = population.values[spec]
    zero = Decimal(0)
    sales = [column.get(partner_id, zero) for partner_id in population.ids]
    sellers = sorted(value for value in sales if value > 0)
    bands = [
        _("No sales in the window"),
        _("Lower half of sellers"),
        _("Upper half of sellers"),
        _("Top tenth of sellers"),
    ]
    if not sellers:
        return [bands[0]] * len(sales), bands
    median, top = sellers[len(sellers) // 2], sellers[min(len(sellers) - 1, len(sellers) * 9 // 10)]

    def band(value: Decimal) -> str:
        if value <= 0:
            return bands[0]
        if value >= top and len(sellers) >= 10:
            return bands[3]
        return bands[2] if value >= median else bands[1]

    return [band(value) for value in sales], bands


def fairness_rows(
    *, population: Population, result: SimulationResult, groups: list[str], order: list[str] | None = None
) -> list[GroupRow]:
    """Partners, moves up and down, and partners per rank now and with the draft, per group (by name, or in
    `order`)."""
    rows: dict[str, dict] = {}
    for index, group in enumerate(groups):
        row = rows.setdefault(group, {"partners": 0, "up": 0, "down": 0, "now": Counter(), "draft": Counter()})
        now, draft = population.current_rank[index], result.simulated_ranks[index]
        row["partners"] += 1
        row["up"] += draft > now
        row["down"] += draft < now
        row["now"][now] += 1
        row["draft"][draft] += 1
    names = [name for name in order if name in rows] if order is not None else sorted(rows)
    return [
        GroupRow(
            group,
            rows[group]["partners"],
            rows[group]["up"],
            rows[group]["down"],
            dict(rows[group]["now"]),
            dict(rows[group]["draft"]),
        )
        for group in names
    ]


# --- What a draft changes against the model in force ----------------------------------------------------------------


def model_diff(*, draft: Scorecard, in_force: Scorecard) -> list[str]:
    """Each difference in a sentence: tiers by rank (name, minimum score, multiplier), criteria by pathway and label."""
    changes = []
    before = {tier.rank: tier for tier in in_force.tiers}
    after = {tier.rank: tier for tier in draft.tiers}
    for rank in sorted(set(before) | set(after), reverse=True):
        old, new = before.get(rank), after.get(rank)
        if old is None:
            changes.append(_("New tier %(tier)s at rank %(rank)s.") % {"tier": new.name, "rank": rank})
            continue
        if new is None:
            changes.append(_("Tier %(tier)s (rank %(rank)s) is gone.") % {"tier": old.name, "rank": rank})
            continue
        if old.name != new.name:
            changes.append(_("%(old)s is renamed %(new)s.") % {"old": old.name, "new": new.name})
        for label, old_value, new_value in (
            (_("minimum score"), old.minimum_score, new.minimum_score),
            (_("point multiplier"), old.point_multiplier, new.point_multiplier),
        ):
            if old_value != new_value:
                changes.append(
                    _("%(tier)s: %(field)s %(old)s → %(new)s.")
                    % {"tier": new.name, "field": label, "old": _number(old_value), "new": _number(new_value)}
                )
    old_criteria = {
        (pathway.name, criterion.label): criterion for pathway in in_force.pathways for criterion in pathway.criteria
    }
    for pathway in draft.pathways:
        for criterion in pathway.criteria:
            old = old_criteria.get((pathway.name, criterion.label))
            if old is None:
                continue
            for label, old_value, new_value in (
                (_("weight"), old.weight, criterion.weight),
                (_("target"), old.target, criterion.target),
                (_("cap"), old.cap, criterion.cap),
            ):
                if old_value != new_value:
                    changes.append(
                        _("%(pathway)s, %(criterion)s: %(field)s %(old)s → %(new)s.")
                        % {
                            "pathway": pathway.name,
                            "criterion": criterion.label,
                            "field": label,
                            "old": _number(old_value),
                            "new": _number(new_value),
                        }
                    )
    return changes


# --- The same what-if for programs managed as code (the API's simulate) --------------------------------------------


def model_simulate(
    *, model: TierModel, tiers: list[dict] | None = None, criteria: list[dict] | None = None
) -> tuple[SimulationResult, list[Problem]]:
    """Simulate `model` over today's active partners as saved, or with changes (nothing saved): `tiers` as rows
    {id, name?, minimum_score?, point_multiplier?} naming every tier once, lowest first (their order gives the
    ranks); `criteria` as rows {id, weight?, target?, cap?}. The rules are checked as the designer checks them and
    returned with the result; a row naming a tier or criterion not of this model is a ValueError."""
    scorecard = scorecard_load(model=model)
    saved_tiers = {tier.id: tier for tier in scorecard.tiers}
    saved_criteria = {criterion.id: criterion for pathway in scorecard.pathways for criterion in pathway.criteria}
    tier_rows = tiers if tiers else [{"id": tier.id} for tier in scorecard.tiers]
    if sorted(row["id"] for row in tier_rows) != sorted(saved_tiers):
        raise ValueError(_("Name every tier of this model once, lowest first."))
    if any(row["id"] not in saved_criteria for row in criteria or ()):
        raise ValueError(_("A criterion named is not one of this model's."))
    tier_drafts = [
        TierDraft(
            id=row["id"],
            colour=saved_tiers[row["id"]].colour,
            **_as_changed(saved_tiers[row["id"]], row, ("name", "minimum_score", "point_multiplier")),
        )
        for row in tier_rows
    ]
    criterion_drafts = [
        CriterionDraft(id=row["id"], **_as_changed(saved_criteria[row["id"]], row, ("weight", "target", "cap")))
        for row in criteria or ()
    ]
    problems = draft_problems(scorecard=scorecard, tiers=tier_drafts, criteria=criterion_drafts)
    typed = draft_scorecard(scorecard=scorecard, tiers=tier_drafts, criteria=criterion_drafts)
    population = designer_population(model=model, evaluated_on=timezone.localdate(), specs=typed.specs())
    return simulate_scorecard(scorecard=typed, population=population), problems


def _as_changed(saved: object, row: dict, names: tuple[str, ...]) -> dict:
    """The fields `names` as the row changes them, the saved values where it does not."""
    return {name: row.get(name, getattr(saved, name)) for name in names}
