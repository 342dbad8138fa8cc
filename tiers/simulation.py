"""What-if: run a draft model read-only over today's partners and compare it with the tiers they hold now."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from loyalty.tenancy.context import current_tenant
from partners.models import Partner
from tiers.engine import evaluate_partners, scorecard_load
from tiers.metrics import points_earned, qualification_window
from tiers.models import PartnerTier, TierModel
from tiers.services import CHUNK_SIZE

NO_TIER = "—"


@dataclass(frozen=True)
class Mover:
    partner_id: int
    partner_name: str
    current: str
    simulated: str
    score: Decimal
    direction: str  # "up" or "down"


@dataclass
class SimulationResult:
    model: TierModel
    evaluated_on: date
    partners: int = 0
    tier_names: list[str] = field(default_factory=list)
    current_distribution: Counter = field(default_factory=Counter)
    simulated_distribution: Counter = field(default_factory=Counter)
    matrix: dict[str, Counter] = field(default_factory=dict)  # current tier → simulated tier → partners
    movers: list[Mover] = field(default_factory=list)
    multiplier_cost_points: int = 0  # extra points a year at the simulated multipliers (negative: savings)
    multiplier_cost_value: Decimal = Decimal(0)
    scores: list[Decimal] = field(default_factory=list)
    percentile_thresholds: list[Decimal] = field(default_factory=list)
    natural_break_thresholds: list[Decimal] = field(default_factory=list)


def percentile_thresholds(scores: list[Decimal], tiers: int) -> list[Decimal]:
    """Minimum scores splitting partners into a pyramid: each tier above the entry one is half the one below."""
    if not scores or tiers < 2:
        return []
    ordered = sorted(scores)
    shares = [2**-rank for rank in range(1, tiers)]  # 1/2, 1/4, 1/8 … of partners at or above each threshold
    return [ordered[min(len(ordered) - 1, int(len(ordered) * (1 - share)))] for share in shares]


def natural_break_thresholds(scores: list[Decimal], tiers: int, sample: int = 400) -> list[Decimal]:
    """Jenks natural breaks (minimal within-class variance) over a sorted sample of the scores."""
    if len(scores) < tiers or tiers < 2:
        return []
    ordered = sorted(float(score) for score in scores)
    if len(ordered) > sample:
        step = len(ordered) / sample
        ordered = [ordered[int(index * step)] for index in range(sample)]
    count = len(ordered)
    prefix, prefix_squares = [0.0], [0.0]
    for value in ordered:
        prefix.append(prefix[-1] + value)
        prefix_squares.append(prefix_squares[-1] + value * value)

    def cost(start: int, end: int) -> float:  # variance sum of ordered[start:end]
        total = prefix[end] - prefix[start]
        return prefix_squares[end] - prefix_squares[start] - total * total / (end - start)

    best = [[float("inf")] * (count + 1) for _ in range(tiers + 1)]
    cut = [[0] * (count + 1) for _ in range(tiers + 1)]
    best[0][0] = 0.0
    for classes in range(1, tiers + 1):
        for end in range(classes, count + 1):
            for start in range(classes - 1, end):
                candidate = best[classes - 1][start] + cost(start, end)
                if candidate < best[classes][end]:
                    best[classes][end], cut[classes][end] = candidate, start
    starts, end = [], count
    for classes in range(tiers, 0, -1):
        start = cut[classes][end]
        starts.append(start)
        end = start
    return [Decimal(str(round(ordered[start], 2))) for start in sorted(starts)[1:]]


def simulate(*, model: TierModel, evaluated_on: date) -> SimulationResult:
    """Score every active partner with `model` without writing anything, and compare with their tiers now."""
    scorecard = scorecard_load(model=model)
    window = qualification_window(model=model, evaluated_on=evaluated_on, time_zone=current_tenant().time_zone)
    result = SimulationResult(
        model=model, evaluated_on=evaluated_on, tier_names=[tier.name for tier in scorecard.tiers]
    )
    current = {
        state.partner_id: state.tier
        for state in PartnerTier.objects.select_related("tier").filter(tier__model__status="active")
    }
    partners = list(
        Partner.objects.filter(status=Partner.Status.ACTIVE).order_by("pk").values_list("pk", "partner_type_id", "name")
    )
    for start in range(0, len(partners), CHUNK_SIZE):
        chunk = partners[start : start + CHUNK_SIZE]
        evaluations = evaluate_partners(
            scorecard=scorecard, partners=[(pk, type_id) for pk, type_id, _name in chunk], window=window
        )
        earned = points_earned([pk for pk, _type, _name in chunk], window, "", "")
        for partner_id, _type_id, name in chunk:
            evaluation = evaluations[partner_id]
            held = current.get(partner_id)
            simulated = evaluation.qualified_tier
            current_name = held.name if held else NO_TIER
            simulated_name = simulated.name if simulated else NO_TIER
            result.partners += 1
            result.scores.append(evaluation.score)
            result.current_distribution[current_name] += 1
            result.simulated_distribution[simulated_name] += 1
            result.matrix.setdefault(current_name, Counter())[simulated_name] += 1
            current_rank = held.rank if held else 0
            simulated_rank = simulated.rank if simulated else 0
            if current_name != simulated_name:
                direction = "up" if simulated_rank > current_rank else "down"
                result.movers.append(Mover(partner_id, name, current_name, simulated_name, evaluation.score, direction))
            old_multiplier = held.point_multiplier if held else Decimal(1)
            new_multiplier = simulated.point_multiplier if simulated else Decimal(1)
            # Points earned at the current multiplier, re-priced at the simulated one.
            base_points = earned.get(partner_id, Decimal(0)) / old_multiplier
            result.multiplier_cost_points += int(base_points * (new_multiplier - old_multiplier))
    result.multiplier_cost_value = (Decimal(result.multiplier_cost_points) * current_tenant().point_value).quantize(
        Decimal("0.01")
    )
    result.percentile_thresholds = percentile_thresholds(result.scores, len(scorecard.tiers))
    result.natural_break_thresholds = natural_break_thresholds(result.scores, len(scorecard.tiers))
    result.movers.sort(key=lambda mover: (mover.direction, -mover.score))
    return result
