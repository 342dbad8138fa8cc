"""Forecast arithmetic on hand-built histories: steady pace, no pace, a roll-off that drops a tier, a gate unmet."""

import gc
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.tiers.factories import CERTIFICATIONS, REVENUE, loaded_criterion, loaded_pathway, loaded_tier, scorecard
from tiers.engine import LoadedGate, evaluate_one
from tiers.forecasts import PartnerHistory, PreparedProjection, _collection_paused, forecast_one, forecast_plan
from tiers.metrics import qualification_window

TODAY = date(2026, 1, 15)
ZERO = Decimal(0)


def revenue_card(*, gold_gate: bool = False):
    """Score = revenue / 1,000: Registered 0, Silver 40, Gold 65 (optionally gated on 2 valid certifications)."""
    gates = (LoadedGate("2 valid certifications", CERTIFICATIONS, Decimal(2)),) if gold_gate else ()
    return scorecard(
        tiers=(
            loaded_tier(1, "Registered", 1, "0"),
            loaded_tier(2, "Silver", 2, "40"),
            loaded_tier(3, "Gold", 3, "65", gates=gates),
        ),
        pathways=(
            loaded_pathway(1, "Everyone", (loaded_criterion(1, "Revenue", REVENUE, weight="1", target="100000"),)),
        ),
    )


def forecast(card, *, revenue: str, recent: str, leaving: dict[int, str], held: int | None, certifications: str = "0"):
    plan = forecast_plan(
        model=card.model, window=qualification_window(model=card.model, evaluated_on=TODAY, time_zone="UTC")
    )
    values = {REVENUE: Decimal(revenue), CERTIFICATIONS: Decimal(certifications)}
    evaluation = evaluate_one(scorecard=card, partner_id=1, partner_type_id=1, values=values)
    evaluation.values = values
    history = PartnerHistory(
        recent={REVENUE: Decimal(recent)},
        leaving={REVENUE: [Decimal(leaving.get(month, "0")) for month in range(12)]},
    )
    held_tier = card.tier_by_id(held) if held else None
    return plan, forecast_one(
        scorecard=card, plan=plan, evaluation=evaluation, partner_type_id=1, history=history, held=held_tier
    )


def test_the_plan_slices_a_rolling_window_into_months_that_leave_a_year_after_they_end() -> None:
    card = revenue_card()
    plan = forecast_plan(
        model=card.model, window=qualification_window(model=card.model, evaluated_on=TODAY, time_zone="UTC")
    )
    assert plan.pace_window.start.date() == date(2025, 10, 18)  # 90 days, today included
    assert plan.slices[0].start.date() == date(2025, 1, 16)  # the window's first day
    assert plan.slices[-1].end.date() == date(2026, 1, 16)
    # January 16 – February 15, 2025 counts until February 15, 2026 and has gone on February 15.
    assert plan.checkpoints[0] == date(2026, 2, 15)
    assert plan.checkpoints[-1] == date(2027, 1, 15)


def test_a_steady_pace_reaches_gold_on_the_day_the_sales_add_up() -> None:
    # 50,000 in the window, all of it in the last 90 days (nothing leaves within ten months): 555.56 a day.
    # Gold needs a score of 65.00, i.e. 64,995 of sales (64.995 rounds half up): 14,995 more, on day 27.
    _plan, result = forecast(
        revenue_card(), revenue="50000", recent="50000", leaving={9: "10000", 10: "20000", 11: "20000"}, held=2
    )
    assert result["next_tier"] == {"id": 3, "name": "Gold"}
    assert result["reaches_on"] == (TODAY + timedelta(days=27)).isoformat()
    assert result["score_reaches_on"] == result["reaches_on"]
    assert result["on_pace_for_upgrade"] is True
    assert result["gates_blocking"] == []
    (revenue,) = result["criteria"]
    assert revenue["pace_per_30_days"] == "16666.67"
    assert revenue["alone_on"] == result["reaches_on"]  # the only criterion: alone or together, the same day
    assert revenue["next_rolloff"] == {"on": "2026-11-15", "amount": "10000.00"}
    # Without new sales: 10,000 has gone by November 15 (score 40.00, still Silver); the next day, below 40.
    assert result["rolloff"]["below_on"] == "2026-11-16"
    assert result["at_risk_by_rolloff"] is False


def test_a_pace_that_only_replaces_what_leaves_never_reaches_the_next_tier() -> None:
    # 50,000 spread evenly over the year and 12,500 in the last 90 days: what comes in replaces what leaves.
    even = {month: str(Decimal(50000) / 12) for month in range(12)}
    _plan, result = forecast(revenue_card(), revenue="50000", recent="12500", leaving=even, held=2)
    assert result["reaches_on"] is None
    assert result["on_pace_for_upgrade"] is False


def test_no_pace_reaches_nothing_and_the_window_empties_without_new_activity() -> None:
    _plan, result = forecast(revenue_card(), revenue="50000", recent="0", leaving={0: "50000"}, held=2)
    assert (result["reaches_on"], result["score_reaches_on"]) == (None, None)
    assert result["on_pace_for_upgrade"] is False
    assert result["criteria"][0]["pace_per_30_days"] == "0.00"
    assert result["criteria"][0]["alone_on"] is None
    # All 50,000 leaves in the first month: below Silver's 40 once 10,005 has gone (day 7 of 31), then Registered.
    rolloff = result["rolloff"]
    assert rolloff["below_on"] == (TODAY + timedelta(days=7)).isoformat()
    assert rolloff["tier_after_grace"] == {"id": 1, "name": "Registered"}
    assert rolloff["score_at_horizon"] == "0.00"
    assert result["at_risk_by_rolloff"] is True


def test_a_roll_off_drops_gold_to_silver_after_the_grace_period() -> None:
    # Gold at 70: 40,000 of it was sold in the window's third month (it leaves between March 15 and April 15,
    # 2026), 30,000 in the last. Without new sales the score falls below 65 once 5,005 has gone: day 4 of 31.
    plan, result = forecast(revenue_card(), revenue="70000", recent="0", leaving={2: "40000", 11: "30000"}, held=3)
    assert plan.checkpoints[1:3] == (date(2026, 3, 15), date(2026, 4, 15))
    rolloff = result["rolloff"]
    assert rolloff["held_tier"] == {"id": 3, "name": "Gold"}
    assert rolloff["below_on"] == "2026-03-19"
    assert rolloff["score"] == "64.84"  # 70,000 − 40,000 · 4/31
    # The sentence names the whole month leaving (40,000 by April 15) and the score once it has gone (30.00).
    assert rolloff["leaving"] == {
        "criterion": 1,
        "label": "Revenue",
        "metric": "revenue",
        "kind": "",
        "amount": "40000.00",
        "by": "2026-04-15",
    }
    assert rolloff["score_after"] == "30.00"
    # The model drops one tier at a time after 30 days of grace: Silver, although 30,000 alone is Registered.
    assert rolloff["drop_on"] == "2026-04-18"
    assert rolloff["tier_after_grace"] == {"id": 2, "name": "Silver"}
    assert result["criteria"][0]["next_rolloff"] == {"on": "2026-04-15", "amount": "40000.00"}
    assert result["at_risk_by_rolloff"] is True  # 63 days away, within the worklist's 90
    assert result["next_tier"] is None  # Gold is the top of this ladder


def test_a_pace_that_outruns_the_roll_off_keeps_the_partner_off_the_at_risk_list() -> None:
    _plan, result = forecast(revenue_card(), revenue="70000", recent="45000", leaving={2: "40000", 11: "30000"}, held=3)
    assert result["rolloff"]["below_on"] == "2026-03-19"  # without new sales, still
    assert result["at_risk_by_rolloff"] is False  # but at 500 a day it never falls below 65 within 90 days


def test_a_gate_still_unmet_stops_the_forecast_even_when_the_score_gets_there() -> None:
    _plan, result = forecast(
        revenue_card(gold_gate=True),
        revenue="50000",
        recent="50000",
        leaving={11: "50000"},
        held=2,
        certifications="1",
    )
    assert result["score_reaches_on"] == (TODAY + timedelta(days=27)).isoformat()
    assert result["reaches_on"] is None  # certifications do not grow with the pace
    assert result["on_pace_for_upgrade"] is False
    assert result["gates_blocking"] == [
        {
            "label": "2 valid certifications",
            "metric": "valid_certifications",
            "kind": "",
            "minimum": "2",
            "value": "1.00",
        }
    ]


def test_partners_of_one_type_share_what_the_scorecard_alone_decides() -> None:
    card = revenue_card(gold_gate=True)
    plan, _forecast = forecast(card, revenue="50000", recent="0", leaving={}, held=None)
    history = PartnerHistory(recent={REVENUE: ZERO}, leaving={REVENUE: [ZERO] * 12})
    projections = [
        PreparedProjection(
            scorecard=card,
            partner_type_id=1,
            values={REVENUE: Decimal(revenue), CERTIFICATIONS: Decimal(certifications)},
            history=history,
            plan=plan,
            with_pace=False,
        )
        for revenue, certifications in (("70000", "2"), ("70000", "1"))
    ]
    assert len(card.shapes) == 1
    assert projections[0].tracks[0][1] is projections[1].tracks[0][1]  # the same terms, worked out once
    # The gate on a metric that does not move is each partner's own: Gold for the first only.
    assert [projection.rank_on(plan.checkpoints[0]) for projection in projections] == [3, 2]


def test_the_collector_is_paused_only_while_a_chunk_s_forecasts_run() -> None:
    assert gc.isenabled()
    with _collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with _collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # left off, as it was
    finally:
        gc.enable()


class Stream:
    """A thread inside `_collection_paused` from `enter()` until `leave()`, as one evaluation stream's chunk."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        with _collection_paused():
            self.entered.set()
            self.release.wait(timeout=10)

    def enter(self) -> None:
        self.thread.start()
        assert self.entered.wait(timeout=10)

    def leave(self) -> None:
        self.release.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.mark.parametrize("last_to_leave", ["first", "second"])
def test_the_collector_stays_paused_until_the_last_stream_leaves(last_to_leave: str) -> None:
    first, second = Stream(), Stream()
    try:
        assert gc.isenabled()
        first.enter()
        assert not gc.isenabled()
        second.enter()
        assert not gc.isenabled()
        leaving, staying = (second, first) if last_to_leave == "first" else (first, second)
        leaving.leave()
        assert not gc.isenabled()  # the other stream still runs its forecasts
        staying.leave()
        assert gc.isenabled()
        # A later chunk pauses it again and turns it back on.
        third = Stream()
        third.enter()
        assert not gc.isenabled()
        third.leave()
        assert gc.isenabled()
    finally:
        first.release.set()
        second.release.set()
        gc.enable()


def test_the_collector_stays_off_in_a_process_that_had_it_off_whatever_the_streams_order() -> None:
    gc.disable()
    first, second = Stream(), Stream()
    try:
        first.enter()
        second.enter()
        first.leave()
        assert not gc.isenabled()
        second.leave()
        assert not gc.isenabled()  # left off, as the process had it
    finally:
        first.release.set()
        second.release.set()
        gc.enable()
