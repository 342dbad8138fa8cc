"""The nightly forecasts (`PreparedProjection`, `forecasts_for_chunk`) against the reference (`forecast_one` with
`Projection`: `projected_values` through the engine's `qualify`) on random scorecards and histories: the same
stored dict, field for field.

Random scorecards (tiers with gates, tracks for some partner types or all, weights, targets, caps, every window
type, downgrade policy and grace) and random partners (today's values, the last 90 days, the twelve month slices
leaving the window — negative ones too, as reversed points can be, and slices that only leave, only come back or
are nothing, where the prepared searches bisect or stop early —, the tier held). Round numbers are mixed in so
that projections land exactly on minimums, gates and roll-off days, where rounding decides. Then whole chunks in
the database: `forecasts_for_chunk` (its own plan and histories query) against the reference per partner.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.tenancy.context import tenant_context
from partners.models import PartnerType
from tests.conftest import World
from tests.tiers.test_sql_scoring_property import (
    SPECS,
    TYPES,
    build_population,
    build_scorecard,
    populations,
    scorecards,
)
from tiers.engine import (
    ZERO,
    LoadedCriterion,
    LoadedGate,
    LoadedPathway,
    LoadedTier,
    Scorecard,
    evaluate_one,
    evaluate_partners,
    scorecard_load,
)
from tiers.forecasts import (
    ADDITIVE_METRICS,
    ForecastPlan,
    PartnerHistory,
    PreparedProjection,
    Projection,
    additive_specs,
    checkpoint_of,
    first_day,
    forecast_histories,
    forecast_one,
    forecast_plan,
    forecasts_for_chunk,
)
from tiers.metrics import Window, metric_values_by_window, qualification_window
from tiers.models import Metric, TierModel

ADDITIVE = [spec for spec in SPECS if spec[0] in ADDITIVE_METRICS]


def amounts(low: str, high: str) -> st.SearchStrategy[Decimal]:
    # Round numbers put projections exactly on minimums, gates and targets, where rounding decides.
    return st.one_of(
        st.sampled_from([Decimal(a) for a in ("0", "1", "2", "3", "8", "90", "900", "1000", "64995", "300000")]),
        st.decimals(Decimal(low), Decimal(high), places=2),
    )


policies = st.fixed_dictionaries(
    {"downgrade": st.sampled_from(TierModel.Downgrade.values), "grace_days": st.sampled_from([0, 30, 400])}
)
partners = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.integers(0, TYPES - 1),
            "values": st.fixed_dictionaries(
                {
                    spec: st.decimals(Decimal("-100"), Decimal("300"), places=4)
                    if spec[0] == Metric.REVENUE_GROWTH
                    else amounts("0", "400000")
                    for spec in SPECS
                }
            ),
            # A negative pace too (points reversed lately).
            "recent": st.fixed_dictionaries(
                {
                    spec: st.one_of(amounts("0", "200000"), st.decimals(Decimal("-500"), Decimal("0"), places=2))
                    for spec in ADDITIVE
                }
            ),
            # Negative slices too: reversed points can leave more than they brought. And the shapes where what has
            # left only grows, only shrinks or stays (the searches then bisect the checkpoints or stop at the first).
            "leaving": st.fixed_dictionaries(
                {
                    spec: st.one_of(
                        st.lists(st.one_of(amounts("0", "50000"), amounts("-500", "0")), min_size=12, max_size=12),
                        # The first slice leaves before the first checkpoint: any sign, whatever the others'.
                        st.builds(
                            lambda first, rest: [first, *rest],
                            st.one_of(amounts("0", "50000"), amounts("-500", "0")),
                            st.lists(amounts("0", "50000"), min_size=11, max_size=11),
                        ),
                        st.builds(
                            lambda first, rest: [first, *rest],
                            st.one_of(amounts("0", "50000"), amounts("-500", "0")),
                            st.lists(
                                st.one_of(
                                    st.just(Decimal(0)), st.decimals(Decimal("-500"), Decimal("-0.01"), places=2)
                                ),
                                min_size=11,
                                max_size=11,
                            ),
                        ),
                        st.just([Decimal(0)] * 12),
                    )
                    for spec in ADDITIVE
                }
            ),
            "held": st.none() | st.integers(0, 3),
        }
    ),
    min_size=1,
    max_size=5,
)


def loaded_card(card: dict, policy: dict) -> Scorecard:
    model = TierModel(window=card["window"], fiscal_year_start_month=card["fiscal_start"], **policy)
    tiers = tuple(
        LoadedTier(
            rank,
            f"Tier {rank}",
            rank,
            minimum,
            Decimal(1),
            "#000000",
            tuple(LoadedGate(f"Gate {number}", row["spec"], row["minimum"]) for number, row in enumerate(gates)),
        )
        for rank, (minimum, gates) in enumerate(zip(card["minimums"], card["gates"], strict=False), start=1)
    )
    pathways = tuple(
        LoadedPathway(
            number,
            f"Track {number}",
            frozenset(row["types"]),
            tuple(
                LoadedCriterion(
                    number * 10 + position,
                    f"Criterion {position}",
                    item["spec"],
                    item["weight"],
                    item["target"],
                    item["cap"],
                )
                for position, item in enumerate(row["criteria"])
            ),
        )
        for number, row in enumerate(card["pathways"], start=1)
    )
    return Scorecard(model=model, tiers=tiers, pathways=pathways)


def window_of(card: dict, scorecard: Scorecard) -> Window:
    return qualification_window(model=scorecard.model, evaluated_on=card["evaluated_on"], time_zone="UTC")


def projection_arguments(scorecard: Scorecard, plan: ForecastPlan, person: dict) -> dict:
    """A drawn partner's projection, but for `with_pace`."""
    specs = additive_specs(scorecard)
    return {
        "scorecard": scorecard,
        "partner_type_id": person["type"],
        "values": {spec: person["values"][spec] for spec in dict.fromkeys(scorecard.specs())},
        "history": PartnerHistory(
            recent={spec: person["recent"][spec] for spec in specs},
            leaving={spec: person["leaving"][spec][: len(plan.slices)] for spec in specs},
        ),
        "plan": plan,
    }


@settings(max_examples=300, deadline=None)
@given(card=scorecards, policy=policies, people=partners)
def test_prepared_projections_forecast_what_the_reference_does(card: dict, policy: dict, people: list[dict]) -> None:
    scorecard = loaded_card(card, policy)
    window = window_of(card, scorecard)
    specs = additive_specs(scorecard)
    for number, person in enumerate(people):
        values = {spec: person["values"][spec] for spec in dict.fromkeys(scorecard.specs())}
        evaluation = evaluate_one(scorecard=scorecard, partner_id=number, partner_type_id=person["type"], values=values)
        evaluation.values = values
        held = (
            scorecard.tiers[person["held"]]
            if person["held"] is not None and person["held"] < len(card["minimums"])
            else None
        )
        forecasts = []
        for projection in (None, PreparedProjection):
            # Each its own plan and history: nothing one computes is left for the other to find.
            plan = forecast_plan(model=scorecard.model, window=window)
            history = PartnerHistory(
                recent={spec: person["recent"][spec] for spec in specs},
                leaving={spec: person["leaving"][spec][: len(plan.slices)] for spec in specs},
            )
            arguments = {"projection": projection} if projection else {}
            forecasts.append(
                forecast_one(
                    scorecard=scorecard,
                    plan=plan,
                    evaluation=evaluation,
                    partner_type_id=person["type"],
                    history=history,
                    held=held,
                    **arguments,
                )
            )
        reference, prepared = forecasts
        assert prepared.keys() == reference.keys()
        for key, expected in reference.items():
            assert prepared[key] == expected, key


@settings(max_examples=300, deadline=None)
@given(card=scorecards, policy=policies, people=partners, with_pace=st.booleans())
def test_what_a_prepared_projection_knows_of_the_checkpoints_holds_for_the_reference(
    card: dict, policy: dict, people: list[dict], with_pace: bool
) -> None:
    # The claims the searches act on (`trend`, `spec_trend`, the bounds), checked against the reference's own
    # scores, ranks and values at every checkpoint.
    scorecard = loaded_card(card, policy)
    plan = forecast_plan(model=scorecard.model, window=window_of(card, scorecard))
    specs = additive_specs(scorecard)
    for person in people:
        arguments = projection_arguments(scorecard, plan, person) | {"with_pace": with_pace}
        reference, prepared = Projection(**arguments), PreparedProjection(**arguments)
        days = [reference.on(checkpoint) for checkpoint in plan.checkpoints]
        scores = [score for score, _tier, _values in days]
        ranks = [tier.rank if tier else 0 for _score, tier, _values in days]
        trend = prepared.trend()
        if trend is not None:
            pairs = list(zip(scores, scores[1:], strict=False)) + list(zip(ranks, ranks[1:], strict=False))
            assert all((after - before) * trend >= 0 if trend else after == before for before, after in pairs)
        for spec in specs:
            moving = [day_values[spec] for _score, _tier, day_values in days]
            direction = prepared.spec_trend(spec)
            if direction is not None:
                steps = zip(moving, moving[1:], strict=False)
                assert all(
                    (after - before) * direction >= 0 if direction else after == before for before, after in steps
                )
            if moving:
                assert prepared.spec_bound(spec, highest=True) == max(moving)
                assert prepared.spec_bound(spec, highest=False) == min(moving)
        for highest in (True, False):
            bound = prepared.checkpoints_bound(highest=highest)
            if bound is not None:
                score, tier = bound
                rank = tier.rank if tier else 0
                if highest:
                    assert all(score >= each for each in scores)
                    assert all(rank >= each for each in ranks)
                else:
                    assert all(score <= each for each in scores)
                    assert all(rank <= each for each in ranks)


@settings(max_examples=200, deadline=None)
@given(card=scorecards, offset=st.integers(-5, 800), rises=st.booleans())
def test_first_day_bisecting_or_stopping_at_the_first_finds_what_the_scan_does(
    card: dict, offset: int, rises: bool
) -> None:
    # A predicate that turns once, on any day before, within or after the horizon: told which way it turns, the
    # search finds the day the scan of every checkpoint finds.
    scorecard = loaded_card(card, {"downgrade": TierModel.Downgrade.ONE_STEP, "grace_days": 0})
    plan = forecast_plan(model=scorecard.model, window=window_of(card, scorecard))
    turn = plan.today + timedelta(days=offset)

    def predicate(day: date) -> bool:
        return (day >= turn) == rises

    scanned = first_day(predicate, plan)
    assert first_day(predicate, plan, rises=rises) == scanned


@settings(max_examples=200, deadline=None)
@given(card=scorecards, offset=st.integers(-5, 800), rises=st.none() | st.booleans(), data=st.data())
def test_first_day_from_a_checkpoint_before_which_it_fails_finds_what_the_scan_does(
    card: dict, offset: int, rises: bool | None, data: st.DataObject
) -> None:
    # The at-pace fall search starts at the roll-off's checkpoint (`checkpoint_of`): any start up to the first
    # checkpoint where the predicate holds finds the scan's day, whichever way the search is told it turns.
    scorecard = loaded_card(card, {"downgrade": TierModel.Downgrade.ONE_STEP, "grace_days": 0})
    plan = forecast_plan(model=scorecard.model, window=window_of(card, scorecard))
    turn = plan.today + timedelta(days=offset)
    turns_up = True if rises is None else rises

    def predicate(day: date) -> bool:
        return (day >= turn) == turns_up

    scanned = first_day(predicate, plan)
    first_holding = next(
        (number for number, checkpoint in enumerate(plan.checkpoints) if predicate(checkpoint)), len(plan.checkpoints)
    )
    assert checkpoint_of(scanned, plan) == first_holding
    start = data.draw(st.integers(0, first_holding))
    assert first_day(predicate, plan, rises=rises, start=start) == scanned


@settings(max_examples=300, deadline=None)
@given(card=scorecards, policy=policies, people=partners)
def test_a_paced_projection_said_above_the_still_one_ranks_at_least_as_high_every_day(
    card: dict, policy: dict, people: list[dict]
) -> None:
    # The claim the at-pace fall search acts on (`above_still`), checked against the reference's ranks with and
    # without pace on every checkpoint and on the days just before each.
    scorecard = loaded_card(card, policy)
    plan = forecast_plan(model=scorecard.model, window=window_of(card, scorecard))
    specs = additive_specs(scorecard)
    days = [day for checkpoint in plan.checkpoints for day in (checkpoint - timedelta(days=1), checkpoint)]
    for person in people:
        arguments = projection_arguments(scorecard, plan, person)
        assert not Projection(**arguments, with_pace=True).above_still()
        prepared = PreparedProjection(**arguments, with_pace=True)
        paced, still = Projection(**arguments, with_pace=True), Projection(**arguments, with_pace=False)
        if prepared.above_still():
            assert all(paced.rank_on(day) >= still.rank_on(day) for day in days)
        else:
            assert not prepared.monotone or any(person["recent"][spec] < 0 for spec in specs)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="as the nightly run: scored in SQL on PostgreSQL")
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(card=scorecards, people=populations, held=st.lists(st.none() | st.integers(0, 3), min_size=6, max_size=6))
def test_a_chunks_forecasts_are_the_reference_forecasts_of_its_partners(
    acme: World, card: dict, people: list[dict], held: list[int | None]
) -> None:
    with tenant_context(acme.tenant), transaction.atomic():
        types = [PartnerType.objects.create(code=f"random-{index}", name=f"Random {index}") for index in range(TYPES)]
        model = build_scorecard(acme, card, types)
        chunk = [
            (partner.pk, partner.partner_type_id)
            for partner in build_population(acme, people, types, card["evaluated_on"])
        ]
        scorecard = scorecard_load(model=model)
        window = qualification_window(model=model, evaluated_on=card["evaluated_on"], time_zone=acme.tenant.time_zone)
        evaluations = evaluate_partners(scorecard=scorecard, partners=chunk, window=window)
        held_tiers = {
            partner_id: scorecard.tiers[rank] if rank is not None and rank < len(scorecard.tiers) else None
            for (partner_id, _type), rank in zip(chunk, held, strict=False)
        }

        nightly = forecasts_for_chunk(
            scorecard=scorecard, partners=chunk, window=window, evaluations=evaluations, held=held_tiers
        )

        plan = forecast_plan(model=model, window=window)
        histories = forecast_histories(scorecard=scorecard, partner_ids=[pk for pk, _type in chunk], plan=plan)
        # The histories read the rows straight into lists: the values `metric_values_by_window` gives per window,
        # zero where none, the same Decimals (repr: exponents too) in the specs' order.
        specs = additive_specs(scorecard)
        pace, *slices = metric_values_by_window(
            specs=specs, partner_ids=[pk for pk, _type in chunk], windows=[plan.pace_window, *plan.slices]
        )
        for partner_id, _type in chunk:
            recent = {spec: pace[spec].get(partner_id, ZERO) for spec in specs}
            leaving = {spec: [values[spec].get(partner_id, ZERO) for values in slices] for spec in specs}
            assert repr(histories[partner_id].recent) == repr(recent)
            assert repr(histories[partner_id].leaving) == repr(leaving)
        assert sorted(nightly) == sorted(partner_id for partner_id, _type in chunk)
        for partner_id, partner_type_id in chunk:
            reference = forecast_one(
                scorecard=scorecard,
                plan=plan,
                evaluation=evaluations[partner_id],
                partner_type_id=partner_type_id,
                history=histories[partner_id],
                held=held_tiers[partner_id],
            )
            assert nightly[partner_id].keys() == reference.keys()
            for key, expected in reference.items():
                assert nightly[partner_id][key] == expected, (partner_id, key)
        transaction.set_rollback(True)
