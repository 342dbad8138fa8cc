"""The designer's fast path: population scores computed column by column agree with the engine partner by partner,
and the draft scorecard, problems and movers' reasons built from typed rows (no database)."""

import random
from datetime import UTC, date, datetime
from decimal import Decimal

from tests.tiers.factories import (
    CERTIFICATIONS,
    DEALS,
    REVENUE,
    TRAININGS,
    loaded_criterion,
    loaded_pathway,
    loaded_tier,
    scorecard,
)
from tiers.designer import MoverExplainer, draft_scorecard, weight_shares
from tiers.engine import LoadedGate, evaluate_one, qualify
from tiers.metrics import Window
from tiers.simulation import Mover, Population, population_scores
from tiers.validation import CriterionDraft, TierDraft, draft_problems

WINDOW = Window(
    start=datetime(2026, 1, 1, tzinfo=UTC),
    end=datetime(2027, 1, 1, tzinfo=UTC),
    previous_start=datetime(2025, 1, 1, tzinfo=UTC),
    evaluated_on=date(2026, 12, 6),
    last_day=date(2026, 12, 31),
)
RESELLER, INSTALLER, AGENT = 1, 2, 3


def two_track_card():
    gold_gate = LoadedGate("2 certifications", CERTIFICATIONS, Decimal(2))
    return scorecard(
        tiers=(
            loaded_tier(11, "Registered", 1, "0"),
            loaded_tier(12, "Silver", 2, "40"),
            loaded_tier(13, "Gold", 3, "65", gates=(gold_gate,)),
        ),
        pathways=(
            loaded_pathway(
                21,
                "Resellers",
                (
                    loaded_criterion(31, "Revenue", REVENUE, weight="3", target="100000", cap="1.2"),
                    loaded_criterion(32, "Deals", DEALS, weight="1", target="7"),
                ),
                partner_type_ids=frozenset({RESELLER}),
            ),
            loaded_pathway(
                22,
                "Installers",
                (
                    loaded_criterion(33, "Trainings", TRAININGS, weight="2", target="6"),
                    loaded_criterion(34, "Certifications", CERTIFICATIONS, weight="1", target="3"),
                ),
                partner_type_ids=frozenset({INSTALLER, RESELLER}),
            ),
        ),
    )


def random_population(size: int) -> Population:
    generator = random.Random(18)  # noqa: S311 - a reproducible population, not a secret
    population = Population(evaluated_on=WINDOW.evaluated_on, window=WINDOW)
    specs = [REVENUE, DEALS, TRAININGS, CERTIFICATIONS]
    population.values = {spec: {} for spec in specs}
    for partner_id in range(1, size + 1):
        population.ids.append(partner_id)
        population.names.append(f"Partner {partner_id}")
        population.type_ids.append(generator.choice([RESELLER, INSTALLER, AGENT]))
        population.regions.append("EMEA")
        population.current_rank.append(generator.choice([0, 1, 2, 3]))
        population.current_multiplier.append(Decimal(1))
        population.earned.append(Decimal(0))
        for spec, high in zip(specs, (150_000, 12, 9, 4), strict=True):
            if generator.random() < 0.8:  # some partners have no row for a metric: 0
                value = Decimal(generator.randint(0, high * 100)) / 100
                population.values[spec][partner_id] = value if spec == REVENUE else value.to_integral_value()
    return population


def test_population_scores_agree_with_the_engine_partner_by_partner() -> None:
    card = two_track_card()
    population = random_population(600)
    scored = population_scores(scorecard=card, population=population)
    for index, partner_id in enumerate(population.ids):
        values = {spec: column.get(partner_id, Decimal(0)) for spec, column in population.values.items()}
        score, _pathway, _tier = qualify(scorecard=card, partner_type_id=population.type_ids[index], values=values)
        explained = evaluate_one(
            scorecard=card, partner_id=partner_id, partner_type_id=population.type_ids[index], values=values
        )
        assert scored.scores[index] == score == explained.score, partner_id
    # Agents are admitted by no pathway: 0.
    assert {scored.scores[i] for i, type_id in enumerate(population.type_ids) if type_id == AGENT} == {Decimal(0)}


def test_scores_are_kept_per_set_of_criteria() -> None:
    card = two_track_card()
    population = random_population(50)
    first = population_scores(scorecard=card, population=population)
    rows = [TierDraft(tier.id, tier.name, tier.minimum_score + 1, Decimal(1), "#000000") for tier in card.tiers]
    thresholds_moved = draft_scorecard(scorecard=card, tiers=rows, criteria=[])
    assert population_scores(scorecard=thresholds_moved, population=population) is first
    target_moved = draft_scorecard(
        scorecard=card, tiers=rows, criteria=[CriterionDraft(31, Decimal(3), Decimal(90_000), Decimal("1.2"))]
    )
    assert population_scores(scorecard=target_moved, population=population) is not first
    # Back to the first criteria: the kept scores again.
    assert population_scores(scorecard=card, population=population) is first


def test_draft_scorecard_takes_ranks_from_positions_and_keeps_gates() -> None:
    card = two_track_card()
    rows = [
        TierDraft(11, "Registered", Decimal(0), Decimal(1), "#111111"),
        TierDraft(13, "Gold", Decimal(50), Decimal("1.2"), "#222222"),  # Gold moved below Silver
        TierDraft(12, "Silver", Decimal(70), Decimal("1.3"), "#333333"),
    ]
    typed = draft_scorecard(
        scorecard=card, tiers=rows, criteria=[CriterionDraft(32, Decimal(1), Decimal(14), Decimal(1))]
    )
    assert [(tier.id, tier.rank, tier.minimum_score) for tier in typed.tiers] == [(11, 1, 0), (13, 2, 50), (12, 3, 70)]
    assert typed.tiers[1].gates[0].label == "2 certifications"
    assert typed.pathways[0].criteria[1].target == Decimal(14)
    assert weight_shares(scorecard=typed) == {
        31: Decimal("75.0"),
        32: Decimal("25.0"),
        33: Decimal("66.7"),
        34: Decimal("33.3"),
    }


def test_draft_problems_locate_each_rule() -> None:
    card = two_track_card()
    rows = [
        TierDraft(11, "Registered", Decimal(0), Decimal(1), "#111111"),
        TierDraft(12, "Silver", Decimal(50), Decimal("1.2"), "#222222"),
        TierDraft(13, " ", Decimal(45), Decimal("1.1"), "#333333"),
    ]
    problems = draft_problems(
        scorecard=card, tiers=rows, criteria=[CriterionDraft(31, Decimal(0), Decimal(1), Decimal(1))]
    )
    assert {(problem.where, problem.field) for problem in problems} == {
        ("tier:3", "minimum_score"),
        ("tier:3", "point_multiplier"),
        ("tier:3", "name"),
        ("criterion:31", "weight"),
    }


def test_movers_say_why() -> None:
    card = two_track_card()
    population = random_population(1)
    population.values[CERTIFICATIONS][1] = Decimal(1)
    explainer = MoverExplainer(card, population)
    gate = Mover(1, "Partner 1", "Gold", "Silver", Decimal("80.00"), "down", 3, 2)
    assert explainer.why(gate) == "Score 80.00 is enough for Gold, but its gate is not met: 2 certifications (1 / 2)."
    score = Mover(1, "Partner 1", "Gold", "Silver", Decimal("50.00"), "down", 3, 2)
    assert explainer.why(score) == "Score 50.00 is below Gold's minimum of 65."
    up = Mover(1, "Partner 1", "Registered", "Silver", Decimal("41.50"), "up", 1, 2)
    assert explainer.why(up) == "Score 41.50 reaches Silver's minimum of 40."
