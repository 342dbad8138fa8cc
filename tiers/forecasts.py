"""Forecasts: when a partner reaches the next tier at its recent pace, and what leaving the window does to it.

The method (docs/forecasts.md): each additive metric (sales, counts of activities and registrations, points earned)
grows at its pace of the last 90 days and loses, month by month, what leaves a rolling window (spread evenly over
each month); metrics that are not additive (growth %, valid certifications) stay at today's value. The engine's own
`qualify` scores the projected values (`Projection`, the reference), so a forecast can never disagree with the
scorecard; the nightly run's `PreparedProjection` gives the same results with less work per day. One extra aggregate
query per chunk measures the pace window and the twelve month slices at once (`metric_series_by_window`).
"""

import gc
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from copy import copy
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from itertools import accumulate, pairwise
from typing import Any

from dateutil.relativedelta import relativedelta

from tiers.engine import (
    CENT,
    HUNDRED,
    ZERO,
    Evaluation,
    LoadedCriterion,
    LoadedTier,
    Scorecard,
    criterion_contribution,
    qualify,
)
from tiers.metrics import MetricSpecKey, Window, metric_series_by_window
from tiers.models import Metric, TierModel

PACE_DAYS = 90
FLAG_DAYS = 90  # the worklist's flags look this far ahead
ROLLING_MONTHS = 12
ADDITIVE_METRICS = frozenset({Metric.REVENUE, Metric.ACTIVITY_COUNT, Metric.DEAL_REGISTRATIONS, Metric.POINTS_EARNED})
METHOD = "pace-90d-rolloff-monthly-v1"


@dataclass(frozen=True)
class ForecastPlan:
    """The dates a forecast needs: the pace window; for a rolling window the month slices of today's window and the
    checkpoints by which each slice has left it; for a fixed window, monthly checkpoints up to its last day."""

    today: date
    rolling: bool
    pace_window: Window
    slices: tuple[Window, ...]
    checkpoints: tuple[date, ...]
    # Each day's `position`, the same for every partner of a chunk: worked out once per day asked.
    positions: dict[date, tuple[Decimal, int, Decimal | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    by_checkpoint: tuple[list[Decimal], list[int]] | None = field(default=None, init=False, repr=False, compare=False)

    @cached_property
    def checkpoints_iso(self) -> tuple[str, ...]:
        return tuple(checkpoint.isoformat() for checkpoint in self.checkpoints)

    @property
    def horizon(self) -> date | None:
        return self.checkpoints[-1] if self.checkpoints else None

    def at_checkpoints(self) -> tuple[list[Decimal], list[int]]:
        """Each checkpoint's days after today and checkpoints passed (`position`'s), in order: worked out once."""
        if self.by_checkpoint is None:
            positions = [self.position(checkpoint) for checkpoint in self.checkpoints]
            object.__setattr__(self, "by_checkpoint", ([days for days, *_ in positions], [n for _, n, _ in positions]))
        return self.by_checkpoint

    def position(self, day: date) -> tuple[Decimal, int, Decimal | None]:
        """`day` as a projection reads it: days after today, the checkpoints passed by then (found by bisection,
        the checkpoints ascend), and the share of the next month slice gone by then (None past the last one)."""
        found = self.positions.get(day)
        if found is None:
            passed = bisect_right(self.checkpoints, day)
            share = None
            if passed < len(self.checkpoints):
                previous = self.checkpoints[passed - 1] if passed else self.today
                checkpoint = self.checkpoints[passed]
                share = max(ZERO, Decimal((day - previous).days) / Decimal(max(1, (checkpoint - previous).days)))
            found = self.positions[day] = (Decimal((day - self.today).days), passed, share)
        return found


def _window(start: date, end: date, *, zone, today: date) -> Window:
    begin = datetime.combine(start, time.min, zone)
    return Window(
        start=begin,
        end=datetime.combine(end, time.min, zone),
        previous_start=begin,
        evaluated_on=today,
        last_day=today,
    )


def forecast_plan(*, model: TierModel, window: Window) -> ForecastPlan:
    """The pace window (the last 90 days) and the month slices whose activities leave a rolling window."""
    today = window.evaluated_on
    zone = window.start.tzinfo
    pace = _window(today - timedelta(days=PACE_DAYS - 1), today + timedelta(days=1), zone=zone, today=today)
    if model.window == TierModel.Window.ROLLING_12_MONTHS:
        first = window.start.date()
        slices, checkpoints = [], []
        for month in range(ROLLING_MONTHS):
            start, end = first + relativedelta(months=month), first + relativedelta(months=month + 1)
            end = min(end, today + timedelta(days=1))
            slices.append(_window(start, end, zone=zone, today=today))
            # An activity of day a counts up to a + 1 year - 1 day: the slice has gone on its last day + 1 year.
            checkpoints.append(end - timedelta(days=1) + relativedelta(years=1))
        return ForecastPlan(today, True, pace, tuple(slices), tuple(checkpoints))
    checkpoints = []
    month = 1
    while today < window.last_day:
        checkpoint = min(today + relativedelta(months=month), window.last_day)
        checkpoints.append(checkpoint)
        if checkpoint == window.last_day:
            break
        month += 1
    return ForecastPlan(today, False, pace, (), tuple(checkpoints))


@dataclass
class PartnerHistory:
    """One partner's additive metrics: added in the last 90 days, and leaving the window per month slice."""

    recent: dict[MetricSpecKey, Decimal] = field(default_factory=dict)
    leaving: dict[MetricSpecKey, list[Decimal]] = field(default_factory=dict)
    # What has left by each checkpoint (the running sums of `leaving`, ZERO first), built on first use.
    gone_by: dict[MetricSpecKey, list[Decimal]] = field(default_factory=dict, repr=False)
    # How what has left moves from checkpoint to checkpoint (as `_direction`'s), built with `gone_by`.
    gone_trend: dict[MetricSpecKey, int | None] = field(default_factory=dict, repr=False)


def additive_specs(scorecard: Scorecard) -> list[MetricSpecKey]:
    return [spec for spec in dict.fromkeys(scorecard.specs()) if spec[0] in ADDITIVE_METRICS]


def forecast_histories(
    *, scorecard: Scorecard, partner_ids: list[int], plan: ForecastPlan
) -> dict[int, PartnerHistory]:
    """The chunk's histories: one aggregate query over activities for the pace window and every slice, plus one
    per window for a metric that is not over activities (points) and for each source another app adds."""
    specs = additive_specs(scorecard)
    if not specs or not partner_ids:
        return {partner_id: PartnerHistory() for partner_id in partner_ids}
    series = metric_series_by_window(specs=specs, partner_ids=partner_ids, windows=[plan.pace_window, *plan.slices])
    histories: dict[int, PartnerHistory] = {}
    for partner_id in partner_ids:
        by_spec = series[partner_id]
        histories[partner_id] = PartnerHistory(
            recent={spec: by_spec[spec][0] for spec in specs}, leaving={spec: by_spec[spec][1:] for spec in specs}
        )
    return histories


def _gone_by(history: PartnerHistory, spec: MetricSpecKey, plan: ForecastPlan) -> list[Decimal]:
    """What has left by each checkpoint: a running sum kept per partner, added in the same order as one by one."""
    gone_by = history.gone_by.get(spec)
    if gone_by is None:
        leaving = history.leaving[spec][: len(plan.checkpoints)]
        gone_by = history.gone_by[spec] = list(accumulate(leaving, initial=ZERO))
        # From checkpoint k to k + 1, gone_by[k + 1] grows by leaving[k + 1]: a rounded sum never falls when what
        # is added is not negative, never rises when it is not positive.
        later = leaving[1:]
        rises, falls = bool(later) and max(later) > 0, bool(later) and min(later) < 0
        history.gone_trend[spec] = None if rises and falls else 1 if rises else -1 if falls else 0
    return gone_by


def _gone_at(leaving: list[Decimal], gone_by: list[Decimal], passed: int, share: Decimal | None) -> Decimal:
    """What has left once `passed` slices have gone wholly and `share` of the next one (`ForecastPlan.position`)."""
    if passed >= len(gone_by) - 1:
        return gone_by[-1]
    return gone_by[passed] + leaving[passed] * share


def _gone(history: PartnerHistory, spec: MetricSpecKey, plan: ForecastPlan, day: date) -> Decimal:
    """What has left the window by `day`, each month slice leaving evenly between its checkpoints."""
    leaving = history.leaving.get(spec)
    if not leaving:
        return ZERO
    _days, passed, share = plan.position(day)
    return _gone_at(leaving, _gone_by(history, spec, plan), passed, share)


def pace_per_day(history: PartnerHistory, spec: MetricSpecKey) -> Decimal:
    return history.recent.get(spec, ZERO) / PACE_DAYS


def projected_values(
    *, values: dict[MetricSpecKey, Decimal], history: PartnerHistory, plan: ForecastPlan, day: date, with_pace: bool
) -> dict[MetricSpecKey, Decimal]:
    """The metric values on `day`: today's, less what has left the window, plus the pace (when asked)."""
    days = Decimal((day - plan.today).days)
    projected = dict(values)
    for spec in history.recent:
        added = pace_per_day(history, spec) * days if with_pace else ZERO
        projected[spec] = max(ZERO, values.get(spec, ZERO) - _gone(history, spec, plan, day) + added)
    return projected


def first_day(
    predicate: Callable[[date], bool], plan: ForecastPlan, *, rises: bool | None = None, start: int = 0
) -> date | None:
    """The first day after today, up to the horizon, on which `predicate` holds: the first checkpoint where it
    does, then the day within the month before it by bisection. None: not within the horizon.

    `rises` is what is known of the predicate over the checkpoints (`rises_over_checkpoints`): True, once it holds
    it holds at every later one (the horizon first, then bisection over the checkpoints); False, once it fails it
    fails at every later one (only the first checkpoint can be the first); None, nothing (each in turn). The same
    checkpoint is found either way, and the day within its month by the same bisection. `start`: the predicate is
    known to fail at the checkpoints before that one (`checkpoint_of`), which are then not asked."""
    checkpoints = plan.checkpoints
    if start >= len(checkpoints):
        return None
    if rises is None:
        found = next((number for number in range(start, len(checkpoints)) if predicate(checkpoints[number])), None)
    elif rises:
        found = None
        if checkpoints and predicate(checkpoints[-1]):
            low, found = start, len(checkpoints) - 1
            while low < found:
                middle = (low + found) // 2
                if predicate(checkpoints[middle]):
                    found = middle
                else:
                    low = middle + 1
    else:
        found = 0 if not start and checkpoints and predicate(checkpoints[0]) else None
    if found is None:
        return None
    low, high = checkpoints[found - 1] if found else plan.today, checkpoints[found]
    while (high - low).days > 1:
        middle = low + timedelta(days=(high - low).days // 2)
        if predicate(middle):
            high = middle
        else:
            low = middle
    return high


def checkpoint_of(day: date | None, plan: ForecastPlan) -> int:
    """The number of the checkpoint whose month `day` (a `first_day` answer) falls in: that search's first
    checkpoint where its predicate held. Past the last (`len(checkpoints)`) for None: it held at none."""
    return len(plan.checkpoints) if day is None else bisect_left(plan.checkpoints, day)


def rises_over_checkpoints(trend: int | None, *, with_higher_values: bool) -> bool | None:
    """`first_day`'s `rises` for a predicate monotone in the projected values, given how they move over the
    checkpoints (`Projection.trend`: 1 none falls, -1 none rises, 0 none moves, None unknown or mixed).
    `with_higher_values`: the predicate holding of some values holds of higher ones (a rank or score at least
    something), else of lower ones (a rank below something)."""
    if trend is None:
        return None
    if trend == 0:
        return False  # the same at every checkpoint: the first says it all
    return (trend > 0) == with_higher_values


def _rank(tier: LoadedTier | None) -> int:
    return tier.rank if tier else 0


def _tier_ref(tier: LoadedTier | None) -> dict | None:
    return {"id": tier.id, "name": tier.name} if tier else None


class Projection:
    """Scores a partner's projected values on any day, remembering each day's result: `projected_values` through
    the engine's `qualify`, the reference (`PreparedProjection` gives the same results for less)."""

    def __init__(
        self,
        *,
        scorecard: Scorecard,
        partner_type_id: int,
        values: dict[MetricSpecKey, Decimal],
        history: PartnerHistory,
        plan: ForecastPlan,
        with_pace: bool,
    ) -> None:
        self.scorecard, self.partner_type_id, self.values = scorecard, partner_type_id, values
        self.history, self.plan, self.with_pace = history, plan, with_pace
        self.days: dict[date, tuple[Decimal, LoadedTier | None, dict]] = {}

    def on(self, day: date) -> tuple[Decimal, LoadedTier | None, dict]:
        if day not in self.days:
            values = projected_values(
                values=self.values, history=self.history, plan=self.plan, day=day, with_pace=self.with_pace
            )
            score, _pathway, tier = qualify(
                scorecard=self.scorecard, partner_type_id=self.partner_type_id, values=values
            )
            self.days[day] = (score, tier, values)
        return self.days[day]

    def without_pace(self) -> "Projection":
        """The same partner's projection without new activity."""
        return type(self)(
            scorecard=self.scorecard,
            partner_type_id=self.partner_type_id,
            values=self.values,
            history=self.history,
            plan=self.plan,
            with_pace=False,
        )

    def scored_on(self, day: date) -> tuple[Decimal, LoadedTier | None]:
        """The score and tier on `day`, for a caller that needs neither the values nor a dict of them."""
        score, tier, _values = self.on(day)
        return score, tier

    def rank_on(self, day: date) -> int:
        """The rank of the tier qualified for on `day` (0: none): what the searches ask of most days."""
        return _rank(self.on(day)[1])

    def score_meets(self, day: date, minimum: Decimal) -> bool:
        """Whether the score on `day` is at least `minimum`."""
        return self.on(day)[0] >= minimum

    def trend(self) -> int | None:
        """How the projected values move over the checkpoints, for `rises_over_checkpoints`: the reference knows
        nothing (None), so its searches try each checkpoint in turn."""
        return None

    def spec_trend(self, spec: MetricSpecKey) -> int | None:
        """How one additive metric's projected value moves over the checkpoints (as `trend`)."""
        return None

    def above_still(self) -> bool:
        """Whether, on every day, this projection's rank is at least that of the same partner's without pace
        (`without_pace`): known where no pace is negative and a rank never falls when a value rises. The reference
        does not say (False)."""
        return False

    def checkpoints_bound(self, *, highest: bool) -> tuple[Decimal, LoadedTier | None] | None:
        """The score and tier of every moved metric's highest (or lowest) value over the checkpoints: no
        checkpoint's score or rank is above (below) them. None: not known (the reference)."""
        return None

    def spec_bound(self, spec: MetricSpecKey, *, highest: bool) -> Decimal | None:
        """One additive metric's highest (or lowest) projected value over the checkpoints (None: not known)."""
        return None


def _together(directions: Iterable[int | None]) -> int | None:
    """The direction of a sum of sequences from theirs (1: never falls, -1: never rises, 0: constant, None:
    either): None if any two pull apart."""
    moving = set(directions) - {0}
    if None in moving or len(moving) > 1:
        return None
    return moving.pop() if moving else 0


@dataclass(frozen=True)
class _Shape:
    """What `PreparedProjection` works out from the scorecard, a partner type and the moved metrics alone: the same
    for every partner of that type, so kept on the scorecard (`Scorecard.shapes`).

    `tracks`: per admitted track its total weight, its terms — per criterion the place of its metric among the
    moved ones, weight, target, cap, the contribution at the cap (`engine.criterion_contribution`'s arithmetic,
    in its order) and None; for a metric that does not move, zeros in their place — and `fixed`, those
    criteria's places in the terms. `tiers`: per tier, highest first, its minimum, its gates on moved metrics
    (place, minimum) and the others (metric, minimum). `monotone`: a score and a rank never fall when a value
    rises (positive weights and targets, tiers by rank); a hand-built scorecard that breaks it gets no `trend`."""

    tracks: list[tuple[Decimal, list[tuple], list[tuple[int, LoadedCriterion]]]]
    tiers: list[tuple[LoadedTier, Decimal, list[tuple[int, Decimal]], list[tuple[MetricSpecKey, Decimal]]]]
    monotone: bool


def _shape(scorecard: Scorecard, partner_type_id: int, moved: tuple[MetricSpecKey, ...]) -> _Shape:
    found = scorecard.shapes.get((partner_type_id, moved))
    if found is not None:
        return found
    position = {spec: number for number, spec in enumerate(moved)}
    tracks = []
    for pathway in scorecard.pathways:
        if not pathway.criteria or not pathway.admits(partner_type_id):
            continue
        total_weight, terms, fixed = pathway.total_weight, [], []
        for criterion in pathway.criteria:
            if criterion.spec in position:
                weight, cap = criterion.weight, criterion.cap
                capped = weight * cap / total_weight * HUNDRED if total_weight else None
                terms.append((position[criterion.spec], weight, criterion.target, cap, capped, None))
            else:
                fixed.append((len(terms), criterion))
                terms.append(None)
        tracks.append((total_weight, terms, fixed))
    tiers = [
        (
            tier,
            tier.minimum_score,
            [(position[gate.spec], gate.minimum) for gate in tier.gates if gate.spec in position],
            [(gate.spec, gate.minimum) for gate in tier.gates if gate.spec not in position],
        )
        for tier in reversed(scorecard.tiers)
    ]
    monotone = all(
        total_weight > 0 and all(term[1] > 0 and term[2] > 0 for term in terms if term is not None)
        for total_weight, terms, _fixed in tracks
    ) and all(lower.rank < higher.rank for lower, higher in pairwise(scorecard.tiers))
    found = scorecard.shapes[partner_type_id, moved] = _Shape(tracks, tiers, monotone)
    return found


def _fixed_terms(
    terms: list[tuple],
    fixed: list[tuple[int, LoadedCriterion]],
    values: dict[MetricSpecKey, Decimal],
    total_weight: Decimal,
) -> list[tuple]:
    """A track's terms with the contributions of the criteria on metrics that do not move, from today's values."""
    terms = list(terms)
    for place, criterion in fixed:
        contribution = criterion_contribution(values.get(criterion.spec, ZERO), criterion, total_weight)
        terms[place] = (0, ZERO, ZERO, ZERO, ZERO, contribution)
    return terms


class PreparedProjection(Projection):
    """`Projection`'s results for less: the nightly forecasts' projection.

    Scoring a day is the reference's arithmetic in the same order (`projected_values`, then `engine.qualify`: each
    track's contributions summed from zero, rounded half-up, the best track, the highest tier whose minimum and
    gates are met), with what does not change from day to day worked out once per partner — each additive metric's
    value, pace and running roll-off, the admitted tracks, the contributions of criteria whose metric does not
    move, the gates on such metrics — and where a day falls among the checkpoints once per chunk
    (`ForecastPlan.position`).

    The searches ask of most days only the rank or the score (`rank_on`, `score_meets`): those days' values are
    not made into a dict. And it knows how the values move over the checkpoints (`trend`): when every moved metric
    goes one way, a rank or score does too (weights and targets are positive), so a search bisects the checkpoints
    or stops at the first instead of scoring each (`first_day`'s `rises`).
    tests/tiers/test_forecast_property.py holds it to the reference, field for field.
    """

    def __init__(self, **arguments: Any) -> None:
        super().__init__(**arguments)  # Projection's: scorecard, partner_type_id, values, history, plan, with_pace
        scorecard, values, history, plan = self.scorecard, self.values, self.history, self.plan
        with_pace, partner_type_id = self.with_pace, self.partner_type_id
        self.moved_specs = list(history.recent)
        self.places = {spec: number for number, spec in enumerate(self.moved_specs)}
        # Per moved metric: today's value, its pace (None: without), the slices leaving, their running sums and
        # the last one's place.
        self.moved = []
        for spec in self.moved_specs:
            value, leaving = values.get(spec, ZERO), history.leaving.get(spec)
            pace = pace_per_day(history, spec) if with_pace else None
            gone_by = _gone_by(history, spec, plan) if leaving else None
            self.moved.append((value, pace, leaving, gone_by, len(gone_by) - 1 if gone_by else 0))
        shape = _shape(scorecard, partner_type_id, tuple(self.moved_specs))
        # Per admitted track: its total weight and its terms (`_Shape`'s), with the contribution of each criterion
        # on a metric the projection does not move worked out once.
        self.tracks = [
            (total_weight, _fixed_terms(terms, fixed, values, total_weight) if fixed else terms)
            for total_weight, terms, fixed in shape.tracks
        ]
        # Per tier, highest first: its minimum, its gates on moved metrics, and whether the others are all met.
        self.tier_checks = [
            (tier, minimum, gates, all(values.get(spec, ZERO) >= least for spec, least in others))
            for tier, minimum, gates, others in shape.tiers
        ]
        self.monotone = shape.monotone
        self._reset()

    def _reset(self) -> None:
        self.days, self.scores = {}, {}
        self.values_on: dict[date, list[Decimal]] = {}
        self.directions: list[int | None] | None = None
        self.together: int | None | bool = False  # False: not worked out yet
        self.bounds: tuple[list[Decimal], list[Decimal]] | None = None

    def without_pace(self) -> "PreparedProjection":
        """As `Projection.without_pace`, keeping what does not depend on the pace."""
        still = copy(self)
        still.with_pace = False
        still.moved = [(value, None, *rest) for value, _pace, *rest in self.moved]
        still._reset()
        return still

    def _moved_values(self, day: date) -> list[Decimal]:
        """`projected_values` of the moved metrics, in their order (kept per day)."""
        found = self.values_on.get(day)
        if found is None:
            days, passed, share = self.plan.positions.get(day) or self.plan.position(day)
            # `_gone_at` and `max(ZERO, …)` inline (the value only when above zero, as `max` keeps the first):
            # two calls less per metric and day.
            found = self.values_on[day] = [
                projected
                if (
                    projected := value
                    - (
                        (gone_by[-1] if passed >= last else gone_by[passed] + leaving[passed] * share)
                        if leaving
                        else ZERO
                    )
                    + (pace * days if pace is not None else ZERO)
                )
                > ZERO
                else ZERO
                for value, pace, leaving, gone_by, last in self.moved
            ]
        return found

    def _directions(self) -> list[int | None]:
        """Per moved metric, how its value moves over the checkpoints (as `_together`'s), where its parts settle
        it: at checkpoint k, today's value less what has gone by then (`gone_by[k + 1]`, whose direction is
        `PartnerHistory.gone_trend`) plus k days' pace, each step rounded monotonically. None where the pace and
        the roll-off pull apart (most paced metrics: `_bounds` then)."""
        if self.directions is None:
            self.directions = []
            gone_trend = self.history.gone_trend
            for spec, (_value, pace, _leaving, gone_by, _last) in zip(self.moved_specs, self.moved, strict=True):
                gone = gone_trend[spec] if gone_by else 0
                added = 0 if pace is None or not pace else 1 if pace > 0 else -1
                if gone is None or (gone and added and -gone != added):
                    self.directions.append(None)
                else:
                    self.directions.append(-gone or added)
        return self.directions

    def trend(self) -> int | None:
        """1: no moved metric falls over the checkpoints, -1: none rises, 0: none moves; None: they pull apart (or
        the scorecard is not monotone)."""
        if self.together is False:
            self.together = _together(self._directions()) if self.monotone else None
        return self.together

    def above_still(self) -> bool:
        # Each moved value at pace is the still one's plus pace × days (not negative), each step rounded
        # monotonically; `monotone`: a rank never falls when a value rises.
        return self.monotone and all(pace is None or pace >= ZERO for _value, pace, *_rest in self.moved)

    def spec_trend(self, spec: MetricSpecKey) -> int | None:
        place = self.places.get(spec)
        return None if place is None else self._directions()[place]

    def _bounds(self) -> tuple[list[Decimal], list[Decimal]]:
        """Each moved metric's lowest and highest value over the checkpoints, worked out metric by metric and
        kept as the checkpoints' values (`_moved_values`'s numbers: on a checkpoint no share of a month is leaving,
        so what has gone is `gone_by`'s; a scan that follows scores them without working them out again)."""
        if self.bounds is None:
            plan = self.plan
            days, passed = plan.at_checkpoints()
            columns = []
            # `max(ZERO, …)` inline, as in `_moved_values`.
            for value, pace, leaving, gone_by, last in self.moved:
                if leaving:
                    gone = [gone_by[number if number < last else last] for number in passed]
                    if pace is None:
                        column = [left if (left := value - amount) > ZERO else ZERO for amount in gone]
                    else:
                        column = [
                            left if (left := value - amount + pace * d) > ZERO else ZERO
                            for amount, d in zip(gone, days, strict=True)
                        ]
                elif pace is None:
                    column = [value if value > ZERO else ZERO] * len(days)
                else:
                    column = [left if (left := value + pace * d) > ZERO else ZERO for d in days]
                columns.append(column)
            values_on = self.values_on
            for checkpoint, values in zip(plan.checkpoints, zip(*columns, strict=True), strict=False):
                values_on.setdefault(checkpoint, list(values))
            self.bounds = ([min(column) for column in columns], [max(column) for column in columns])
        return self.bounds

    def checkpoints_bound(self, *, highest: bool) -> tuple[Decimal, LoadedTier | None] | None:
        if not self.monotone or not self.plan.checkpoints:
            return None
        lows, highs = self._bounds()
        return self._score_of(highs if highest else lows)

    def spec_bound(self, spec: MetricSpecKey, *, highest: bool) -> Decimal | None:
        if spec not in self.places or not self.plan.checkpoints:
            return None
        lows, highs = self._bounds()
        return (highs if highest else lows)[self.places[spec]]

    def _scored(self, day: date) -> tuple[Decimal, LoadedTier | None]:
        """`engine.qualify`'s score and tier of the day's values."""
        found = self.scores.get(day)
        if found is None:
            found = self.scores[day] = self._score_of(self._moved_values(day))
        return found

    def _score_of(self, moved: list[Decimal]) -> tuple[Decimal, LoadedTier | None]:
        """`engine.qualify`'s score and tier of the moved metrics' values (with the others' as today)."""
        best = None
        for total_weight, terms in self.tracks:
            exact = ZERO
            for index, weight, target, cap, capped, constant in terms:
                if constant is None:
                    # engine.criterion_contribution's arithmetic, in its order (the min of two inline: as `min`,
                    # the cap only when below the ratio, and then its contribution is the track's constant).
                    ratio = moved[index] / target
                    constant = capped if cap < ratio else weight * ratio / total_weight * HUNDRED
                exact += constant
            score = exact.quantize(CENT, ROUND_HALF_UP)
            if best is None or score > best:
                best = score
        best = ZERO if best is None else best
        for tier, minimum, gates, others_met in self.tier_checks:
            if others_met and best >= minimum and (not gates or all(moved[index] >= gate for index, gate in gates)):
                return (best, tier)
        return (best, None)

    def on(self, day: date) -> tuple[Decimal, LoadedTier | None, dict]:
        result = self.days.get(day)
        if result is None:
            score, tier = self._scored(day)
            values = dict(self.values)
            values.update(zip(self.moved_specs, self._moved_values(day), strict=True))
            result = self.days[day] = (score, tier, values)
        return result

    def scored_on(self, day: date) -> tuple[Decimal, LoadedTier | None]:
        return self._scored(day)

    def rank_on(self, day: date) -> int:
        # `_scored` inline: the searches ask this of most days (one call less per day).
        found = self.scores.get(day)
        if found is None:
            found = self.scores[day] = self._score_of(self._moved_values(day))
        return found[1].rank if found[1] else 0

    def score_meets(self, day: date, minimum: Decimal) -> bool:
        found = self.scores.get(day)
        if found is None:
            found = self.scores[day] = self._score_of(self._moved_values(day))
        return found[0] >= minimum


def _tier_after_grace(scorecard: Scorecard, held: LoadedTier, qualified: LoadedTier | None) -> LoadedTier | None:
    """The downgrade policy's target (as `tiers.services.tier_decide` applies it once grace is over)."""
    if scorecard.model.downgrade != TierModel.Downgrade.ONE_STEP:
        return qualified
    lower = [tier for tier in scorecard.tiers if tier.rank < held.rank]
    target = lower[-1] if lower else None
    if qualified is not None and target is not None and qualified.rank > target.rank:
        return qualified
    return target


def _criteria(
    *, evaluation: Evaluation, scorecard: Scorecard, history: PartnerHistory, plan: ForecastPlan, paced: Projection
) -> list[dict]:
    """Per criterion of the best track: pace, the next slice leaving the window, and when its pace alone covers its
    gap to the next tier (`paced`: how the metric moves, for the search)."""
    pathway = next((pathway for pathway in scorecard.pathways if pathway.id == evaluation.pathway_id), None)
    if pathway is None:
        return []
    increases = {
        gap["criterion"]: Decimal(gap["increase"]) for gap in evaluation.gaps.get("criteria", []) if gap.get("alone")
    }
    rows = []
    recent_of, leaving_of, iso_of = history.recent, history.leaving, plan.checkpoints_iso
    for criterion in pathway.criteria:
        spec = criterion.spec
        recent = recent_of.get(spec)
        if recent is None:
            rows.append(
                {
                    "criterion": criterion.id,
                    "label": criterion.label,
                    "metric": spec[0],
                    "kind": spec[1],
                    "additive": False,
                }
            )
            continue
        next_rolloff = None
        for amount, on in zip(leaving_of.get(spec, ()), iso_of, strict=False):
            if amount > 0:
                next_rolloff = {"on": on, "amount": str(amount.quantize(CENT))}
                break
        pace = pace_per_day(history, spec)
        alone_on = None
        if criterion.id in increases:
            value = evaluation.values.get(spec, ZERO)
            target = value + increases[criterion.id]
            leaving = leaving_of.get(spec)
            gone_by = _gone_by(history, spec, plan) if leaving else None

            def covered(
                day: date,
                value: Decimal = value,
                pace: Decimal = pace,
                target: Decimal = target,
                leaving: list[Decimal] | None = leaving,
                gone_by: list[Decimal] | None = gone_by,
            ) -> bool:
                # `_gone` inline (its `_gone_at`'s arithmetic), the slices and their running sums found once.
                days, passed, share = plan.positions.get(day) or plan.position(day)
                if not leaving:
                    return value - ZERO + pace * days >= target
                gone = gone_by[-1] if passed >= len(gone_by) - 1 else gone_by[passed] + leaving[passed] * share
                return value - gone + pace * days >= target

            # `covered` is the paced projection's value before `max(0, …)`: the same answer for a positive target.
            rises = rises_over_checkpoints(paced.spec_trend(spec), with_higher_values=True) if target > 0 else None
            top = paced.spec_bound(spec, highest=True) if target > 0 and rises is None else None
            found = None if top is not None and top < target else first_day(covered, plan, rises=rises)
            alone_on = found.isoformat() if found else None
        rows.append(
            {
                "criterion": criterion.id,
                "label": criterion.label,
                "metric": spec[0],
                "kind": spec[1],
                "additive": True,
                "recent": str(recent.quantize(CENT)),
                "pace_per_30_days": str((pace * 30).quantize(CENT, ROUND_HALF_UP)),
                "next_rolloff": next_rolloff,
                "alone_on": alone_on,
            }
        )
    return rows


def forecast_one(
    *,
    scorecard: Scorecard,
    plan: ForecastPlan,
    evaluation: Evaluation,
    partner_type_id: int,
    history: PartnerHistory,
    held: LoadedTier | None,
    projection: type[Projection] = Projection,
) -> dict:
    """One partner's forecast, as stored with its score (JSON: dates ISO, numbers as strings). `projection` scores
    the projected days: the reference by default, `PreparedProjection` (the same results, faster) nightly."""
    values = evaluation.values
    paced = projection(
        scorecard=scorecard, partner_type_id=partner_type_id, values=values, history=history, plan=plan, with_pace=True
    )
    still = paced.without_pace()
    qualified = evaluation.qualified_tier
    next_tier = scorecard.tier_above(qualified)
    forecast: dict = {
        "method": METHOD,
        "evaluated_on": plan.today.isoformat(),
        "rolling": plan.rolling,
        "horizon": plan.horizon.isoformat() if plan.horizon else None,
        "next_tier": _tier_ref(next_tier),
        "reaches_on": None,
        "score_reaches_on": None,
        "gates_blocking": [],
        "criteria": _criteria(evaluation=evaluation, scorecard=scorecard, history=history, plan=plan, paced=paced),
        "rolloff": None,
        "falls_at_pace_on": None,  # at its pace, the first day it qualifies below the tier it holds
        "on_pace_for_upgrade": False,
        "at_risk_by_rolloff": False,
    }
    flag_day = plan.today + timedelta(days=FLAG_DAYS)
    if next_tier is not None:
        upward = rises_over_checkpoints(paced.trend(), with_higher_values=True)
        # Without an order over the checkpoints, the highest values can still show that none gets there.
        top = paced.checkpoints_bound(highest=True) if upward is None else None
        reaches = (
            None
            if top is not None and _rank(top[1]) < next_tier.rank
            else first_day(lambda day: paced.rank_on(day) >= next_tier.rank, plan, rises=upward)
        )
        if evaluation.score >= next_tier.minimum_score:
            score_reaches = plan.today
        elif top is not None and top[0] < next_tier.minimum_score:
            score_reaches = None
        else:
            score_reaches = first_day(lambda day: paced.score_meets(day, next_tier.minimum_score), plan, rises=upward)
        forecast["reaches_on"] = reaches.isoformat() if reaches else None
        forecast["score_reaches_on"] = score_reaches.isoformat() if score_reaches else None
        if reaches is None and score_reaches is not None:
            # The score gets there but a gate does not: name the gates still unmet on that day.
            gate_values = paced.on(score_reaches)[2] if score_reaches != plan.today else values
            forecast["gates_blocking"] = [
                {
                    "label": gate.label,
                    "metric": gate.spec[0],
                    "kind": gate.spec[1],
                    "minimum": str(gate.minimum),
                    "value": str(gate_values.get(gate.spec, ZERO).quantize(CENT)),
                }
                for gate in next_tier.gates
                if gate_values.get(gate.spec, ZERO) < gate.minimum
            ]
        forecast["on_pace_for_upgrade"] = reaches is not None and reaches <= flag_day
    if held is not None and plan.rolling and _rank(qualified) >= held.rank:
        rolloff, below_on = _rolloff(scorecard=scorecard, plan=plan, still=still, held=held, evaluation=evaluation)
        forecast["rolloff"] = rolloff
        # At pace the rank is never below the still one's: it cannot fall before the checkpoint where that one did
        # (`first_day` found the first where its predicate held, in whatever order it asked them).
        start = checkpoint_of(below_on, plan) if paced.above_still() else 0
        downward = rises_over_checkpoints(paced.trend(), with_higher_values=False)
        bottom = paced.checkpoints_bound(highest=False) if downward is None and start < len(plan.checkpoints) else None
        below_at_pace = (
            None
            if bottom is not None and _rank(bottom[1]) >= held.rank
            else first_day(lambda day: paced.rank_on(day) < held.rank, plan, rises=downward, start=start)
        )
        forecast["falls_at_pace_on"] = below_at_pace.isoformat() if below_at_pace else None
        forecast["at_risk_by_rolloff"] = below_at_pace is not None and below_at_pace <= flag_day
    return forecast


def _rolloff(
    *, scorecard: Scorecard, plan: ForecastPlan, still: Projection, held: LoadedTier, evaluation: Evaluation
) -> tuple[dict, date | None]:
    """Without new activity: when the score falls below the held tier, to what, what left, and the tier after grace;
    and the day it falls (None: not within the horizon)."""
    downward = rises_over_checkpoints(still.trend(), with_higher_values=False)
    below_on = first_day(lambda day: still.rank_on(day) < held.rank, plan, rises=downward)
    horizon_score = still.scored_on(plan.horizon)[0] if plan.horizon else evaluation.score
    rolloff: dict = {"held_tier": _tier_ref(held), "below_on": None, "score_at_horizon": str(horizon_score)}
    if below_on is None:
        return rolloff, None
    score, _tier = still.scored_on(below_on)
    drop_on = below_on + timedelta(days=scorecard.model.grace_days)
    _score, qualified_then = still.scored_on(min(drop_on, plan.horizon))
    # Activities leave on their own days, which a month slice does not know: the sentence names whole slices — the
    # month that is leaving when the score falls below, and those before it — and the score once they have gone.
    by = next((checkpoint for checkpoint in plan.checkpoints if checkpoint >= below_on), plan.horizon)
    score_after, _tier, projected = still.on(by)
    pathway = next((pathway for pathway in scorecard.pathways if pathway.id == evaluation.pathway_id), None)
    leaving = None
    if pathway is not None:
        # The criterion whose departures cost the most score by then: what the sentence names.
        losses = [
            (
                min(evaluation.values.get(criterion.spec, ZERO) / criterion.target, criterion.cap)
                - min(projected.get(criterion.spec, ZERO) / criterion.target, criterion.cap),
                criterion,
            )
            for criterion in pathway.criteria
        ]
        loss, criterion = max(losses, key=lambda item: item[0] * item[1].weight)
        if loss > 0:
            amount = evaluation.values.get(criterion.spec, ZERO) - projected.get(criterion.spec, ZERO)
            leaving = {
                "criterion": criterion.id,
                "label": criterion.label,
                "metric": criterion.spec[0],
                "kind": criterion.spec[1],
                "amount": str(amount.quantize(CENT)),
                "by": by.isoformat(),
            }
    target = _tier_after_grace(scorecard, held, qualified_then)
    return rolloff | {
        "below_on": below_on.isoformat(),
        "score": str(score),
        "score_after": str(score_after),
        "leaving": leaving,
        "drop_on": drop_on.isoformat(),
        "tier_after_grace": _tier_ref(target),
    }, below_on


def forecasts_for_chunk(
    *,
    scorecard: Scorecard,
    partners: list[tuple[int, int]],
    window: Window,
    evaluations: dict[int, Evaluation],
    held: dict[int, LoadedTier | None],
) -> dict[int, dict]:
    """Every partner's forecast for a chunk the engine has just evaluated: one more aggregate query (see above)."""
    plan = forecast_plan(model=scorecard.model, window=window)
    with _collection_paused():
        histories = forecast_histories(scorecard=scorecard, partner_ids=[pk for pk, _type in partners], plan=plan)
        return {
            partner_id: forecast_one(
                scorecard=scorecard,
                plan=plan,
                evaluation=evaluations[partner_id],
                partner_type_id=partner_type_id,
                # Each history dropped once used: none is left for the collector to walk when it resumes.
                history=histories.pop(partner_id),
                held=held.get(partner_id),
                projection=PreparedProjection,
            )
            for partner_id, partner_type_id in partners
        }


_pause_lock = threading.Lock()
_pause_depth = 0  # the streams inside `_collection_paused` now
_pause_found_enabled = False  # whether the first of them found the collector on


@contextmanager
def _collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a chunk's forecasts run: they make millions of objects (the
    histories' rows and lists, then each day's Decimals, lists and dicts) and no cycles, yet every few hundred
    allocations set off a collection that walks the process's live objects (~18 % of the forecasts' CPU,
    bench/README.md). The switch is process-wide and the evaluation's streams are threads, so the pauses are
    counted: the first stream in turns it off, the last one out turns it back on, and only if it was on when the
    first came in (a process that runs with it off keeps it off)."""
    global _pause_depth, _pause_found_enabled  # one count per process, as the switch is
    with _pause_lock:
        if _pause_depth == 0:
            _pause_found_enabled = gc.isenabled()
            gc.disable()
        _pause_depth += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pause_depth -= 1
            if _pause_depth == 0 and _pause_found_enabled:
                gc.enable()
