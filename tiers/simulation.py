"""What-if: run a model read-only over today's partners and compare it with the tiers they hold now.

Two steps, so a page can re-simulate at every keystroke: `population_load` reads what does not change while a model
is edited (partners, their current tiers, points earned, metric values: one aggregate query per metric and chunk),
and `simulate_scorecard` scores that population in memory with any scorecard, saved or not. Scores depend on the
pathways and criteria only, so a population keeps the scores (and the suggested thresholds) of the last few sets of
criteria it was scored with: a change of thresholds, multipliers or names only re-tiers, column by column.

A model's tiers are an ordered ladder, so current and simulated tiers are matched by **rank**, never by name:
renaming Silver changes no one's place, and the migration matrix always sums to the number of partners.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from loyalty.tenancy.context import current_tenant
from partners.models import Partner
from tiers.engine import CENT, HUNDRED, Scorecard, scorecard_load
from tiers.metrics import MetricSpecKey, Window, metric_values, points_earned, qualification_window
from tiers.models import PartnerTier, TierModel, pin_holds
from tiers.services import CHUNK_SIZE, held_tier

NO_TIER = "—"
NO_RANK = 0  # partners without a tier, in distributions and the matrix


@dataclass
class Population:
    """Today's active partners with what scoring needs; the metric values are filled per spec, as needed."""

    evaluated_on: date
    window: Window
    read_at: datetime = field(default_factory=timezone.now)
    ids: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    type_ids: list[int] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    current_rank: list[int] = field(default_factory=list)  # NO_RANK without a tier
    current_multiplier: list[Decimal] = field(default_factory=list)  # 1 without a tier
    pinned: set[int] = field(default_factory=set)  # partners whose pin holds on `evaluated_on` (they do not move)
    earned: list[Decimal] = field(default_factory=list)  # points earned in the window (at the current multiplier)
    current_names: dict[int, str] = field(default_factory=dict)  # rank → name of the tier partners hold there
    last_move: int = 0  # the latest TierChange when the tiers held were read (tiers/designer.py reads again after)
    values: dict[MetricSpecKey, dict[int, Decimal]] = field(default_factory=dict)
    # Scores per set of pathways (`_pathways_key`), the most recent last: see `population_scores`.
    scored: dict[tuple, "Scored"] = field(default_factory=dict, repr=False)
    _index: dict[int, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def index_set(self) -> dict[int, int]:
        """Partner id → position (built once per population)."""
        if len(self._index) != len(self.ids):
            self._index = {pk: index for index, pk in enumerate(self.ids)}
        return self._index

    def index_of(self, partner_id: int) -> int:
        if len(self._index) != len(self.ids):
            self._index = {pk: index for index, pk in enumerate(self.ids)}
        return self._index[partner_id]

    def specs_load(self, specs: list[MetricSpecKey]) -> None:
        """Read the metric values of the specs not read yet, one aggregate query per metric and chunk."""
        missing = [spec for spec in dict.fromkeys(specs) if spec not in self.values]
        if not missing:
            return
        for spec in missing:
            self.values[spec] = {}
        for start in range(0, len(self.ids), CHUNK_SIZE):
            chunk = self.ids[start : start + CHUNK_SIZE]
            for spec, by_partner in metric_values(specs=missing, partner_ids=chunk, window=self.window).items():
                self.values[spec].update(by_partner)


def population_load(*, model: TierModel, evaluated_on: date, specs: list[MetricSpecKey] = ()) -> Population:
    """Active partners, their current tiers (of whatever model, by rank) and earnings over `model`'s window."""
    window = qualification_window(model=model, evaluated_on=evaluated_on, time_zone=current_tenant().time_zone)
    population = Population(evaluated_on=evaluated_on, window=window)
    held = {}
    for partner_id, rank, name, multiplier, pinned_tier_id, pinned_until in PartnerTier.objects.values_list(
        "partner_id", "tier__rank", "tier__name", "tier__point_multiplier", "pinned_tier_id", "pinned_until"
    ):
        held[partner_id] = (rank, multiplier)
        population.current_names.setdefault(rank, name)
        if pin_holds(pinned_tier_id=pinned_tier_id, pinned_until=pinned_until, on=evaluated_on):
            population.pinned.add(partner_id)
    partners = Partner.objects.filter(status=Partner.Status.ACTIVE).order_by("pk")
    for partner_id, type_id, name, region in partners.values_list("pk", "partner_type_id", "name", "region"):
        rank, multiplier = held.get(partner_id, (NO_RANK, Decimal(1)))
        population.ids.append(partner_id)
        population.names.append(name)
        population.type_ids.append(type_id)
        population.regions.append(region)
        population.current_rank.append(rank)
        population.current_multiplier.append(multiplier)
    earned: dict[int, Decimal] = {}
    for start in range(0, len(population.ids), CHUNK_SIZE):
        earned |= points_earned(population.ids[start : start + CHUNK_SIZE], window, "", "")
    population.earned = [earned.get(partner_id, Decimal(0)) for partner_id in population.ids]
    population.specs_load(list(specs))
    return population


def population_pins_read(population: Population) -> None:
    """The partners whose pin holds on the population's day, for a population kept between what-ifs: a pin at the
    tier already held moves nothing, so no TierChange tells the designer to read it again (tiers/designer.py)."""
    population.pinned = {
        partner_id
        for partner_id, pinned_tier_id, pinned_until in PartnerTier.objects.filter(
            pinned_tier__isnull=False
        ).values_list("partner_id", "pinned_tier_id", "pinned_until")
        if pin_holds(pinned_tier_id=pinned_tier_id, pinned_until=pinned_until, on=population.evaluated_on)
    }


@dataclass(frozen=True)
class Mover:
    partner_id: int
    partner_name: str
    current: str
    simulated: str
    score: Decimal
    direction: str  # "up" or "down"
    current_rank: int = NO_RANK
    simulated_rank: int = NO_RANK


@dataclass
class SimulationResult:
    model: TierModel
    evaluated_on: date
    partners: int = 0
    tier_names: list[str] = field(default_factory=list)  # the simulated model's, lowest rank first
    ranks: list[int] = field(default_factory=list)  # the simulated model's ranks, lowest first
    current_names: dict[int, str] = field(default_factory=dict)  # rank → the name partners hold there now
    current_distribution: Counter = field(default_factory=Counter)  # rank → partners now
    simulated_distribution: Counter = field(default_factory=Counter)  # rank → partners under the model
    matrix: dict[int, Counter] = field(default_factory=dict)  # current rank → simulated rank → partners
    movers: list[Mover] = field(default_factory=list)
    held_by_pin: int = 0  # partners the scorecard would move whom a pin holds at their rank (not movers)
    multiplier_cost_points: int = 0  # extra points a year at the simulated multipliers (negative: savings)
    multiplier_cost_value: Decimal = Decimal(0)
    unpriced_partners: int = 0  # partners whose current multiplier is 0: their earnings cannot be re-priced
    scores: list[Decimal] = field(default_factory=list)
    simulated_ranks: list[int] = field(default_factory=list)  # population order, for breakdowns by group
    percentile_thresholds: list[Decimal] = field(default_factory=list)
    natural_break_thresholds: list[Decimal] = field(default_factory=list)

    def simulated_name(self, rank: int) -> str:
        return dict(zip(self.ranks, self.tier_names, strict=True)).get(rank, NO_TIER)

    def current_name(self, rank: int) -> str:
        return self.current_names.get(rank, NO_TIER)

    @property
    def all_ranks(self) -> list[int]:
        """Every rank held now or simulated, highest first, and "no tier" last (if anyone is there)."""
        ranks = sorted(
            {*self.ranks, *self.current_distribution, *self.simulated_distribution} - {NO_RANK}, reverse=True
        )
        has_none = self.current_distribution.get(NO_RANK) or self.simulated_distribution.get(NO_RANK)
        return [*ranks, NO_RANK] if has_none else ranks

    def distribution_rows(self) -> list[tuple[str, str, int, int]]:
        """(name now, name simulated, partners now, partners simulated) per rank, highest first."""
        return [
            (
                self.current_name(rank),
                self.simulated_name(rank),
                self.current_distribution.get(rank, 0),
                self.simulated_distribution.get(rank, 0),
            )
            for rank in self.all_ranks
        ]

    def matrix_rows(self) -> list[tuple[str, list[int], int]]:
        """(current tier, partners per simulated tier in `matrix_columns` order, row total), rows with partners."""
        columns = self.all_ranks
        return [
            (
                self.current_name(rank),
                [self.matrix[rank].get(column, 0) for column in columns],
                self.current_distribution[rank],
            )
            for rank in columns
            if rank in self.matrix
        ]

    def matrix_columns(self) -> list[str]:
        return [self.simulated_name(rank) for rank in self.all_ranks]

    @property
    def moving_up(self) -> int:
        return sum(1 for mover in self.movers if mover.direction == "up")

    @property
    def moving_down(self) -> int:
        return len(self.movers) - self.moving_up


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


SCORED_KEPT = 4  # sets of criteria whose scores a population keeps (a designer alternates between a few)


@dataclass(frozen=True)
class Scored:
    """Every partner's best score (population order) under one set of pathways, and the thresholds it suggests."""

    scores: list[Decimal]
    suggestions: dict[int, tuple[list[Decimal], list[Decimal]]] = field(default_factory=dict)  # tiers → both kinds

    def suggested(self, tiers: int) -> tuple[list[Decimal], list[Decimal]]:
        if tiers not in self.suggestions:
            self.suggestions[tiers] = (
                percentile_thresholds(self.scores, tiers),
                natural_break_thresholds(self.scores, tiers),
            )
        return self.suggestions[tiers]


def _pathways_key(scorecard: Scorecard) -> tuple:
    return tuple(
        (
            pathway.id,
            pathway.partner_type_ids,
            tuple(
                (criterion.spec, criterion.weight, criterion.target, criterion.cap) for criterion in pathway.criteria
            ),
        )
        for pathway in scorecard.pathways
    )


def population_scores(*, scorecard: Scorecard, population: Population) -> Scored:
    """Each partner's score on its best admitted pathway: `engine.qualify`'s arithmetic, criterion by criterion over
    the population's columns (no dictionary of values per partner), kept on the population for its criteria."""
    key = _pathways_key(scorecard)
    if key in population.scored:
        population.scored[key] = population.scored.pop(key)  # the most recent last
        return population.scored[key]
    population.specs_load(scorecard.specs())
    zero = Decimal(0)
    ids, type_ids = population.ids, population.type_ids
    best: list[Decimal | None] = [None] * len(ids)
    for pathway in scorecard.pathways:
        if not pathway.criteria:
            continue
        admitted = [pathway.admits(type_id) for type_id in type_ids]
        total_weight = pathway.total_weight
        exact = [zero] * len(ids)
        for criterion in pathway.criteria:
            column, weight, target, cap = (
                population.values[criterion.spec],
                criterion.weight,
                criterion.target,
                criterion.cap,
            )
            for index, partner_id in enumerate(ids):
                if admitted[index]:
                    # As engine.criterion_contribution: weight · min(value / target, cap) / Σ weight · 100, in order.
                    exact[index] += weight * min(column.get(partner_id, zero) / target, cap) / total_weight * HUNDRED
        for index, value in enumerate(exact):
            if admitted[index]:
                score = value.quantize(CENT, ROUND_HALF_UP)
                if best[index] is None or score > best[index]:
                    best[index] = score
    scored = Scored([zero if score is None else score for score in best])
    population.scored[key] = scored
    while len(population.scored) > SCORED_KEPT:
        population.scored.pop(next(iter(population.scored)))
    return scored


def simulate_scorecard(*, scorecard: Scorecard, population: Population) -> SimulationResult:
    """Score the population with `scorecard` in memory and compare with the tiers held now (by rank).

    Scores come from `population_scores` (computed once per set of criteria); tiers are the highest whose minimum
    score is met and whose gates are all met (`engine.qualified_tier`), read from the gates' columns.
    """
    scored = population_scores(scorecard=scorecard, population=population)
    result = SimulationResult(
        model=scorecard.model,
        evaluated_on=population.evaluated_on,
        tier_names=[tier.name for tier in scorecard.tiers],
        ranks=[tier.rank for tier in scorecard.tiers],
        current_names=dict(population.current_names),
    )
    zero = Decimal(0)
    cost = Decimal(0)
    ladder = [
        (tier, [(population.values[gate.spec], gate.minimum) for gate in tier.gates])
        for tier in reversed(scorecard.tiers)
    ]
    result.scores = scored.scores
    for index, partner_id in enumerate(population.ids):
        score = scored.scores[index]
        tier = next(
            (
                candidate
                for candidate, gates in ladder
                if score >= candidate.minimum_score
                and all(column.get(partner_id, zero) >= minimum for column, minimum in gates)
            ),
            None,
        )
        current_rank = population.current_rank[index]
        if partner_id in population.pinned:
            # As the evaluation decides (`tier_decide`): a pin holds the rank, under this model or a new one.
            held = held_tier(scorecard=scorecard, rank=current_rank)
            if held is not None and held.rank != (tier.rank if tier else NO_RANK):
                result.held_by_pin += 1
                tier = held
        simulated_rank = tier.rank if tier else NO_RANK
        result.simulated_ranks.append(simulated_rank)
        result.current_distribution[current_rank] += 1
        result.simulated_distribution[simulated_rank] += 1
        result.matrix.setdefault(current_rank, Counter())[simulated_rank] += 1
        if current_rank != simulated_rank:
            result.movers.append(
                Mover(
                    partner_id,
                    population.names[index],
                    result.current_name(current_rank),
                    tier.name if tier else NO_TIER,
                    score,
                    "up" if simulated_rank > current_rank else "down",
                    current_rank,
                    simulated_rank,
                )
            )
        old = population.current_multiplier[index]
        new = tier.point_multiplier if tier else Decimal(1)
        earned = population.earned[index]
        if new == old or not earned:
            continue
        if old == 0:  # it earned nothing multiplied: no base to re-price (counted, never divided by)
            result.unpriced_partners += 1
            continue
        # Points earned at the current multiplier, re-priced at the simulated one.
        cost += earned / old * (new - old)
    result.partners = len(population)
    result.multiplier_cost_points = int(cost)
    result.multiplier_cost_value = (result.multiplier_cost_points * current_tenant().point_value).quantize(
        Decimal("0.01")
    )
    result.percentile_thresholds, result.natural_break_thresholds = scored.suggested(len(scorecard.tiers))
    result.movers.sort(key=lambda mover: (mover.direction, -mover.score, mover.partner_name))
    return result


def simulate(*, model: TierModel, evaluated_on: date) -> SimulationResult:
    """Score every active partner with `model` without writing anything, and compare with their tiers now."""
    scorecard = scorecard_load(model=model)
    population = population_load(model=model, evaluated_on=evaluated_on, specs=scorecard.specs())
    return simulate_scorecard(scorecard=scorecard, population=population)
