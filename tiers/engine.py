"""The scoring engine: one module for the nightly run, the instant re-score and the simulation.

Pure over its inputs: a loaded scorecard, the partners of a chunk and their metric values. It never queries
per partner: `evaluate_partners` runs one aggregate query per distinct metric for the whole chunk.
"""

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal

from tiers.metrics import MetricSpecKey, Window, metric_values
from tiers.models import Metric, TierModel

ZERO = Decimal(0)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
GAP_SNAP_PLACES = 10
GAP_SNAP = Decimal(1).scaleb(-GAP_SNAP_PLACES)  # a criterion gap's steps are rounded to this before the ceiling
WIDE = Context(prec=60)  # room for GAP_SNAP's places on any amount
COUNT_METRICS = frozenset({Metric.ACTIVITY_COUNT, Metric.DEAL_REGISTRATIONS, Metric.VALID_CERTIFICATIONS})


@dataclass(frozen=True)
class LoadedGate:
    label: str
    spec: MetricSpecKey
    minimum: Decimal


@dataclass(frozen=True)
class LoadedTier:
    id: int
    name: str
    rank: int
    minimum_score: Decimal
    point_multiplier: Decimal
    colour: str
    gates: tuple[LoadedGate, ...]


@dataclass(frozen=True)
class LoadedCriterion:
    id: int
    label: str
    spec: MetricSpecKey
    weight: Decimal
    target: Decimal
    cap: Decimal
    # The breakdown's entries that never change, built once per scorecard rather than once per partner.
    constants: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        constants = {
            "criterion": self.id,
            "label": self.label,
            "metric": self.spec[0],
            "target": str(self.target),
            "weight": str(self.weight),
            "cap": str(self.cap),
        }
        object.__setattr__(self, "constants", constants)


@dataclass(frozen=True)
class LoadedPathway:
    id: int
    name: str
    partner_type_ids: frozenset[int]  # empty: every type
    criteria: tuple[LoadedCriterion, ...]

    total_weight: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total_weight", sum((criterion.weight for criterion in self.criteria), ZERO))

    def admits(self, partner_type_id: int) -> bool:
        return not self.partner_type_ids or partner_type_id in self.partner_type_ids


@dataclass(frozen=True)
class Scorecard:
    model: TierModel
    tiers: tuple[LoadedTier, ...]  # by rank, lowest first
    pathways: tuple[LoadedPathway, ...]
    # What the forecasts work out from the scorecard per partner type (`tiers.forecasts._shape`), kept with it.
    shapes: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def specs(self) -> list[MetricSpecKey]:
        criteria = [criterion.spec for pathway in self.pathways for criterion in pathway.criteria]
        return criteria + [gate.spec for tier in self.tiers for gate in tier.gates]

    def tier_above(self, tier: LoadedTier | None) -> LoadedTier | None:
        higher = [candidate for candidate in self.tiers if tier is None or candidate.rank > tier.rank]
        return higher[0] if higher else None

    def tier_by_id(self, tier_id: int) -> LoadedTier | None:
        return next((tier for tier in self.tiers if tier.id == tier_id), None)


def scorecard_load(*, model: TierModel) -> Scorecard:
    """The model's tiers, gates, pathways and criteria, in four queries."""
    tiers = list(model.tiers.order_by("rank").prefetch_related("gates"))
    pathways = list(model.pathways.order_by("pk").prefetch_related("partner_types", "criteria"))
    return Scorecard(
        model=model,
        tiers=tuple(
            LoadedTier(
                id=tier.pk,
                name=tier.name,
                rank=tier.rank,
                minimum_score=tier.minimum_score,
                point_multiplier=tier.point_multiplier,
                colour=tier.colour,
                gates=tuple(LoadedGate(gate.label, gate.spec, gate.minimum) for gate in tier.gates.all()),
            )
            for tier in tiers
        ),
        pathways=tuple(
            LoadedPathway(
                id=pathway.pk,
                name=pathway.name,
                partner_type_ids=frozenset(partner_type.pk for partner_type in pathway.partner_types.all()),
                criteria=tuple(
                    LoadedCriterion(
                        id=criterion.pk,
                        label=criterion.label,
                        spec=criterion.spec,
                        weight=criterion.weight,
                        target=criterion.target,
                        cap=criterion.cap,
                    )
                    for criterion in sorted(pathway.criteria.all(), key=lambda criterion: criterion.pk)
                ),
            )
            for pathway in pathways
        ),
    )


@dataclass
class Evaluation:
    """One partner's result: best track, score, qualified tier (before any downgrade policy), why and what's next."""

    partner_id: int
    pathway_id: int | None
    score: Decimal
    qualified_tier: LoadedTier | None
    breakdown: list[dict] = field(default_factory=list)
    gaps: dict = field(default_factory=dict)
    # The metric values it was scored on (not stored): the forecast projects them forward.
    values: dict[MetricSpecKey, Decimal] = field(default_factory=dict, repr=False)


def _ratio(value: Decimal, criterion: LoadedCriterion) -> Decimal:
    return min(value / criterion.target, criterion.cap)


def criterion_contribution(value: Decimal, criterion: LoadedCriterion, total_weight: Decimal) -> Decimal:
    """A criterion's share of its track's score: weight · min(value / target, cap) / Σ weight · 100."""
    return criterion.weight * _ratio(value, criterion) / total_weight * HUNDRED


@dataclass(frozen=True)
class TrackScore:
    score: Decimal  # rounded half-up to two decimals: what partners see and tiers compare
    exact: Decimal  # unrounded, for gaps
    breakdown: list[dict]


def pathway_score(*, pathway: LoadedPathway, values: dict[MetricSpecKey, Decimal]) -> TrackScore:
    """Score (0–100, two decimals) = Σ weight·min(value/target, cap) / Σ weight · 100, and its breakdown."""
    total_weight = pathway.total_weight
    if not pathway.criteria:
        return TrackScore(ZERO, ZERO, [])
    breakdown = []
    exact = ZERO
    for criterion in pathway.criteria:
        value = values.get(criterion.spec, ZERO)
        contribution = criterion_contribution(value, criterion, total_weight)
        exact += contribution
        breakdown.append(
            criterion.constants
            | {
                "value": str(value.quantize(CENT)),
                "contribution": str(contribution.quantize(CENT, ROUND_HALF_UP)),
            }
        )
    # Capped at 100 by construction only when every cap is 1; a scorecard may reward overachievement past 100.
    return TrackScore(exact.quantize(CENT, ROUND_HALF_UP), exact, breakdown)


def gates_unmet(*, tier: LoadedTier, values: dict[MetricSpecKey, Decimal]) -> list[dict]:
    unmet = []
    for gate in tier.gates:
        value = values.get(gate.spec, ZERO)
        if value < gate.minimum:
            unmet.append(
                {
                    "label": gate.label,
                    "metric": gate.spec[0],
                    "kind": gate.spec[1],
                    "value": str(value.quantize(CENT)),
                    "minimum": str(gate.minimum),
                    "shortfall": str((gate.minimum - value).quantize(CENT)),
                }
            )
    return unmet


def qualified_tier(*, scorecard: Scorecard, score: Decimal, values: dict[MetricSpecKey, Decimal]) -> LoadedTier | None:
    """The highest tier whose minimum score is met (ties count) and whose gates are all met."""
    for tier in reversed(scorecard.tiers):
        if score >= tier.minimum_score and all(values.get(gate.spec, ZERO) >= gate.minimum for gate in tier.gates):
            return tier
    return None


def criterion_gap(*, criterion: LoadedCriterion, pathway: LoadedPathway, value: Decimal, score_needed: Decimal) -> dict:
    """The smallest increase of this criterion alone that adds `score_needed` points of score, if it can."""
    ratio_needed = _ratio(value, criterion) + score_needed * pathway.total_weight / (HUNDRED * criterion.weight)
    gap = {"criterion": criterion.id, "label": criterion.label, "metric": criterion.spec[0]}
    if ratio_needed > criterion.cap:
        return gap | {"alone": False}
    increase = ratio_needed * criterion.target - value
    step = Decimal(1) if criterion.spec[0] in COUNT_METRICS else CENT
    # Rounded to GAP_SNAP before the ceiling: an increase of exactly 262,044.72 comes out of the divisions a few
    # units in the 20th decimal above or below it (Decimal's 28 digits here, PostgreSQL's numeric in the SQL path,
    # each its own way), which the ceiling alone would turn into one cent more on one path only.
    steps = (increase / step).quantize(GAP_SNAP, rounding=ROUND_HALF_UP, context=WIDE)
    increase = max(step, steps.to_integral_value(ROUND_CEILING) * step)
    return gap | {"alone": True, "increase": str(increase)}


def qualify(
    *, scorecard: Scorecard, partner_type_id: int, values: dict[MetricSpecKey, Decimal]
) -> tuple[Decimal, LoadedPathway | None, LoadedTier | None]:
    """Score, best pathway and qualified tier without the breakdown and gaps: what a simulation needs, fast.

    The same arithmetic as `evaluate_one` (which explains it): the best admitted track counts, ties to the first.
    """
    best_score, best_pathway = ZERO, None
    for pathway in scorecard.pathways:
        if not pathway.criteria or not pathway.admits(partner_type_id):
            continue
        total_weight = pathway.total_weight
        exact = sum(
            (
                criterion_contribution(values.get(criterion.spec, ZERO), criterion, total_weight)
                for criterion in pathway.criteria
            ),
            ZERO,
        )
        score = exact.quantize(CENT, ROUND_HALF_UP)
        if best_pathway is None or score > best_score:
            best_score, best_pathway = score, pathway
    return best_score, best_pathway, qualified_tier(scorecard=scorecard, score=best_score, values=values)


def evaluate_one(
    *, scorecard: Scorecard, partner_id: int, partner_type_id: int, values: dict[MetricSpecKey, Decimal]
) -> Evaluation:
    """Score a partner on every track its type allows; the best track counts."""
    tracks = [
        (pathway_score(pathway=pathway, values=values), pathway)
        for pathway in scorecard.pathways
        if pathway.admits(partner_type_id)
    ]
    if not tracks:
        tier = qualified_tier(scorecard=scorecard, score=ZERO, values=values)
        return Evaluation(partner_id, None, ZERO, tier, gaps={"tracks": []})
    best, pathway = max(tracks, key=lambda track: (track[0].score, -track[1].id))
    score = best.score
    tier = qualified_tier(scorecard=scorecard, score=score, values=values)
    gaps: dict = {
        "tracks": [{"pathway": track.id, "name": track.name, "score": str(result.score)} for result, track in tracks]
    }
    next_tier = scorecard.tier_above(tier)
    if next_tier is not None:
        score_needed = max(ZERO, next_tier.minimum_score - score)
        # The exact score rounds up to the minimum from half a cent below it: gaps count from there.
        exact_needed = max(ZERO, next_tier.minimum_score - CENT / 2 - best.exact)
        gaps |= {
            "next_tier": {"id": next_tier.id, "name": next_tier.name, "minimum_score": str(next_tier.minimum_score)},
            "score_needed": str(score_needed),
            "criteria": [
                criterion_gap(
                    criterion=criterion,
                    pathway=pathway,
                    value=values.get(criterion.spec, ZERO),
                    score_needed=exact_needed,
                )
                for criterion in pathway.criteria
            ]
            if score_needed > 0
            else [],
            "gates": gates_unmet(tier=next_tier, values=values),
        }
    return Evaluation(partner_id, pathway.id, score, tier, best.breakdown, gaps)


def evaluate_partners(
    *, scorecard: Scorecard, partners: list[tuple[int, int]], window: Window
) -> dict[int, Evaluation]:
    """Evaluate a chunk of (partner id, partner type id): one aggregate query per metric, whatever the chunk size."""
    partner_ids = [partner_id for partner_id, _type in partners]
    by_metric = metric_values(specs=scorecard.specs(), partner_ids=partner_ids, window=window).items()
    results = {}
    for partner_id, partner_type_id in partners:
        values = {spec: by_partner.get(partner_id, ZERO) for spec, by_partner in by_metric}
        results[partner_id] = evaluate_one(
            scorecard=scorecard, partner_id=partner_id, partner_type_id=partner_type_id, values=values
        )
        results[partner_id].values = values
    return results
