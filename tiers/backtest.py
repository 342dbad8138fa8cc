"""The forecasts' back-test: forecasts made as of an earlier day, from the history up to that day only, against
what the same engine says on a later day (read-only; docs/forecasts.md reports the demo's figures)."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from statistics import median

from django.utils import timezone

from loyalty.tenancy.context import current_tenant
from partners.models import Partner
from tiers.engine import ZERO, LoadedTier, evaluate_partners, qualify, scorecard_load
from tiers.forecasts import forecast_histories, forecast_one, forecast_plan, projected_values
from tiers.metrics import qualification_window
from tiers.services import CHUNK_SIZE, tier_model_for


@dataclass(frozen=True)
class Flagging:
    """A yes/no forecast against what happened: counts of true and false positives and negatives."""

    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int

    @property
    def precision(self) -> float | None:
        flagged = self.true_positive + self.false_positive
        return self.true_positive / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        happened = self.true_positive + self.false_negative
        return self.true_positive / happened if happened else None


@dataclass(frozen=True)
class BacktestFigures:
    as_of: date
    until: date
    partners: int
    score_mae: Decimal  # projected with pace vs actual
    score_median_error: Decimal
    score_bias: Decimal  # mean of projected − actual
    naive_score_mae: Decimal  # "nothing changes": the score as of the earlier day vs actual
    still_score_mae: Decimal  # without new activity (roll-off only) vs actual
    tier_hits: int  # projected tier == actual tier
    naive_tier_hits: int
    upgrades: Flagging  # forecast "reaches the next tier by `until`" vs qualified higher on `until`
    drops: Flagging  # forecast "falls below its tier by `until` at its pace" vs qualified lower on `until`
    # For partners forecast to move up by `until` who did: forecast date − the first weekly check that had them up
    # (a week's resolution), in days; negative when the forecast was early.
    reach_day_errors: list[int]


def _rank(tier: LoadedTier | None) -> int:
    return tier.rank if tier else 0


def _flagging(pairs: list[tuple[bool, bool]]) -> Flagging:
    return Flagging(
        sum(1 for said, was in pairs if said and was),
        sum(1 for said, was in pairs if said and not was),
        sum(1 for said, was in pairs if not said and was),
        sum(1 for said, was in pairs if not said and not was),
    )


def forecasts_backtest(*, as_of: date, until: date | None = None) -> BacktestFigures | None:
    """Forecast every active partner as of `as_of` (activities after it unseen) and score it on `until` (default
    today) with the model in force on `as_of`. None when no model was in force then."""
    until = until or timezone.localdate()
    model = tier_model_for(evaluated_on=as_of)
    if model is None:
        return None
    scorecard = scorecard_load(model=model)
    zone = current_tenant().time_zone
    before = qualification_window(model=model, evaluated_on=as_of, time_zone=zone)
    after = qualification_window(model=model, evaluated_on=until, time_zone=zone)
    plan = forecast_plan(model=model, window=before)
    weeks = [as_of + timedelta(days=7 * week) for week in range(1, (until - as_of).days // 7 + 1)]
    checks = [qualification_window(model=model, evaluated_on=day, time_zone=zone) for day in [*weeks, until]]
    partners = list(
        Partner.objects.filter(status=Partner.Status.ACTIVE).order_by("pk").values_list("pk", "partner_type_id")
    )
    rows = []
    for start in range(0, len(partners), CHUNK_SIZE):
        chunk = partners[start : start + CHUNK_SIZE]
        then = evaluate_partners(scorecard=scorecard, partners=chunk, window=before)
        now = evaluate_partners(scorecard=scorecard, partners=chunk, window=after)
        histories = forecast_histories(scorecard=scorecard, partner_ids=[pk for pk, _type in chunk], plan=plan)
        weekly = [evaluate_partners(scorecard=scorecard, partners=chunk, window=window) for window in checks]
        for partner_id, partner_type_id in chunk:
            evaluation, history = then[partner_id], histories[partner_id]
            # The tier held then is taken as the tier qualified then (the back-test replays the engine, not pins).
            forecast = forecast_one(
                scorecard=scorecard,
                plan=plan,
                evaluation=evaluation,
                partner_type_id=partner_type_id,
                history=history,
                held=evaluation.qualified_tier,
            )
            projected = {
                with_pace: qualify(
                    scorecard=scorecard,
                    partner_type_id=partner_type_id,
                    values=projected_values(
                        values=evaluation.values, history=history, plan=plan, day=until, with_pace=with_pace
                    ),
                )
                for with_pace in (True, False)
            }
            went_up_on = next(
                (
                    window.evaluated_on
                    for window, evaluations in zip(checks, weekly, strict=True)
                    if _rank(evaluations[partner_id].qualified_tier) > _rank(evaluation.qualified_tier)
                ),
                None,
            )
            rows.append((evaluation, now[partner_id], forecast, projected, went_up_on))
    if not rows:
        return None
    count = Decimal(len(rows))

    errors = [projected[True][0] - actual.score for _then, actual, _forecast, projected, _up in rows]
    absolute = [abs(error) for error in errors]
    upgrades, drops, reach_days = [], [], []
    for then, actual, forecast, _projected, went_up_on in rows:
        said_up = bool(forecast["reaches_on"]) and date.fromisoformat(forecast["reaches_on"]) <= until
        went_up = _rank(actual.qualified_tier) > _rank(then.qualified_tier)
        upgrades.append((said_up, went_up))
        if said_up and went_up_on is not None:
            reach_days.append((date.fromisoformat(forecast["reaches_on"]) - went_up_on).days)
        drops.append((_falls_by(forecast, until), _rank(actual.qualified_tier) < _rank(then.qualified_tier)))
    return BacktestFigures(
        as_of=as_of,
        until=until,
        partners=len(rows),
        score_mae=sum(absolute, ZERO) / count,
        score_median_error=Decimal(median(absolute)),
        score_bias=sum(errors, ZERO) / count,
        naive_score_mae=sum((abs(then.score - actual.score) for then, actual, _f, _p, _u in rows), ZERO) / count,
        still_score_mae=sum((abs(projected[False][0] - actual.score) for _t, actual, _f, projected, _u in rows), ZERO)
        / count,
        tier_hits=sum(
            1 for _t, actual, _f, projected, _u in rows if _rank(projected[True][2]) == _rank(actual.qualified_tier)
        ),
        naive_tier_hits=sum(
            1 for then, actual, _f, _p, _u in rows if _rank(then.qualified_tier) == _rank(actual.qualified_tier)
        ),
        upgrades=_flagging(upgrades),
        drops=_flagging(drops),
        reach_day_errors=reach_days,
    )


def _falls_by(forecast: dict, until: date) -> bool:
    """Whether the forecast, at the partner's pace, had it below its tier by `until` (stored as a flag for 90 days;
    recomputed here from the pace projection's tier on `until`)."""
    return bool(forecast.get("falls_at_pace_on")) and date.fromisoformat(forecast["falls_at_pace_on"]) <= until
