"""The pure scoring engine: the score formula, caps, ties, gates, pathways and the gap to the next tier."""

from decimal import Decimal

import pytest

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
from tiers.engine import LoadedGate, evaluate_one, pathway_score


def score_and_breakdown(**kwargs) -> tuple[Decimal, list[dict]]:
    track = pathway_score(**kwargs)
    return track.score, track.breakdown


# Partner types: distributors take the resellers' track, installers theirs, hybrids both, agents neither.
DISTRIBUTOR, INSTALLER, HYBRID, AGENT = 8, 9, 7, 99

RESELLERS = loaded_pathway(
    1,
    "Resellers",
    (
        loaded_criterion(101, "Revenue", REVENUE, weight="50", target="100000", cap="1.2"),
        loaded_criterion(102, "Deal registrations", DEALS, weight="30", target="8"),
        loaded_criterion(103, "Valid certifications", CERTIFICATIONS, weight="20", target="3"),
    ),
    partner_type_ids=frozenset({DISTRIBUTOR, HYBRID}),
)
INSTALLERS = loaded_pathway(
    2,
    "Installers",
    (
        loaded_criterion(201, "Trainings", TRAININGS, weight="60", target="6"),
        loaded_criterion(202, "Valid certifications", CERTIFICATIONS, weight="40", target="3"),
    ),
    partner_type_ids=frozenset({INSTALLER, HYBRID}),
)
TIERS = (
    loaded_tier(10, "Registered", 1, "0"),
    loaded_tier(11, "Silver", 2, "40"),
    loaded_tier(12, "Gold", 3, "65", gates=(LoadedGate("2 valid certifications", CERTIFICATIONS, Decimal(2)),)),
    loaded_tier(13, "Platinum", 4, "85", gates=(LoadedGate("3 valid certifications", CERTIFICATIONS, Decimal(3)),)),
)
CARD = scorecard(tiers=TIERS, pathways=(RESELLERS, INSTALLERS))


def values(*, revenue: str = "0", deals: str = "0", certifications: str = "0", trainings: str = "0") -> dict:
    return {
        REVENUE: Decimal(revenue),
        DEALS: Decimal(deals),
        CERTIFICATIONS: Decimal(certifications),
        TRAININGS: Decimal(trainings),
    }


def evaluate(partner_values: dict, partner_type: int = DISTRIBUTOR, card=CARD):  # noqa: ANN001, ANN201
    return evaluate_one(scorecard=card, partner_id=1, partner_type_id=partner_type, values=partner_values)


def test_score_is_the_weighted_capped_ratios_over_the_total_weight_times_100() -> None:
    score, breakdown = score_and_breakdown(
        pathway=RESELLERS, values=values(revenue="60000", deals="4", certifications="1")
    )
    # 50·0.6 + 30·(4/8) + 20·(1/3) = 30 + 15 + 6.6667 = 51.6667 over Σw = 100, ×100 → 51.67
    assert score == Decimal("51.67")
    assert breakdown == [
        {
            "criterion": 101,
            "label": "Revenue",
            "metric": "revenue",
            "value": "60000.00",
            "target": "100000",
            "weight": "50",
            "cap": "1.2",
            "contribution": "30.00",
        },
        {
            "criterion": 102,
            "label": "Deal registrations",
            "metric": "deal_registrations",
            "value": "4.00",
            "target": "8",
            "weight": "30",
            "cap": "1",
            "contribution": "15.00",
        },
        {
            "criterion": 103,
            "label": "Valid certifications",
            "metric": "valid_certifications",
            "value": "1.00",
            "target": "3",
            "weight": "20",
            "cap": "1",
            "contribution": "6.67",
        },
    ]


@pytest.mark.parametrize(
    ("revenue", "expected"),
    [
        ("123.45", "12.35"),  # 123.45 / 1000 · 100 = 12.345 → half up → 12.35 (banker's rounding would give 12.34)
        ("123.44", "12.34"),  # 12.344 → 12.34
        ("0.05", "0.01"),  # 0.005 → 0.01
        ("0.04", "0.00"),  # 0.004 → 0.00
    ],
)
def test_score_is_rounded_half_up_to_two_decimals(revenue: str, expected: str) -> None:
    pathway = loaded_pathway(1, "Only revenue", (loaded_criterion(1, "Revenue", REVENUE, weight="1", target="1000"),))
    score, _breakdown = score_and_breakdown(pathway=pathway, values={REVENUE: Decimal(revenue)})
    assert score == Decimal(expected)
    assert str(score) == expected


def test_score_rounds_the_exact_sum_not_the_rounded_contributions() -> None:
    pathway = loaded_pathway(
        1,
        "Three thirds",
        tuple(
            loaded_criterion(index, f"Count {index}", (f"m{index}", "", ""), weight="1", target="3")
            for index in range(3)
        ),
    )
    # Each contributes (1/3)/3·100 = 11.111…, shown "11.11"; the score is 33.333… → 33.33, and 2/3 each → 66.67
    score, breakdown = score_and_breakdown(
        pathway=pathway, values={(f"m{index}", "", ""): Decimal(1) for index in range(3)}
    )
    assert score == Decimal("33.33")
    assert [row["contribution"] for row in breakdown] == ["11.11", "11.11", "11.11"]
    score, breakdown = score_and_breakdown(
        pathway=pathway, values={(f"m{index}", "", ""): Decimal(2) for index in range(3)}
    )
    assert score == Decimal("66.67")  # not 3 × 22.22 = 66.66
    assert [row["contribution"] for row in breakdown] == ["22.22", "22.22", "22.22"]


@pytest.mark.parametrize(
    ("revenue", "contribution"),
    [
        ("110000", "55.00"),  # 1.1 × target, under the 1.2 cap: the overachievement counts, 50·1.1
        ("120000", "60.00"),  # exactly the cap: 50·1.2
        ("500000", "60.00"),  # 5 × target, capped at 1.2: still 60
    ],
)
def test_overachievement_earns_credit_up_to_the_cap(revenue: str, contribution: str) -> None:
    score, breakdown = score_and_breakdown(pathway=RESELLERS, values=values(revenue=revenue))
    assert score == Decimal(contribution)
    assert breakdown[0]["contribution"] == contribution


def test_criterion_with_cap_one_gives_no_credit_above_its_target() -> None:
    score, breakdown = score_and_breakdown(pathway=RESELLERS, values=values(deals="16"))
    assert score == Decimal("30.00")  # 16 deals of a target of 8: min(2, 1) · 30
    assert breakdown[1]["value"] == "16.00"


def test_caps_above_one_let_the_score_pass_100() -> None:
    # 50·1.2 + 30·1 + 20·1 = 110: the formula rewards overachievement past the targets (see engine comment).
    evaluation = evaluate(values(revenue="120000", deals="8", certifications="3"))
    assert evaluation.score == Decimal("110.00")
    assert evaluation.qualified_tier == TIERS[3]


def test_partner_with_no_activity_scores_zero_and_gets_the_entry_tier() -> None:
    evaluation = evaluate({})
    assert evaluation.score == Decimal("0.00")
    assert evaluation.pathway_id == 1
    assert evaluation.qualified_tier == TIERS[0]
    assert [(row["value"], row["contribution"]) for row in evaluation.breakdown] == [("0.00", "0.00")] * 3
    assert evaluation.gaps["next_tier"] == {"id": 11, "name": "Silver", "minimum_score": "40"}
    assert evaluation.gaps["score_needed"] == "40.00"


def test_partner_with_no_activity_has_no_tier_when_the_entry_tier_needs_a_score() -> None:
    card = scorecard(
        tiers=(loaded_tier(10, "Registered", 1, "10"), loaded_tier(11, "Silver", 2, "40")), pathways=(RESELLERS,)
    )
    evaluation = evaluate({}, card=card)
    assert evaluation.score == Decimal("0.00")
    assert evaluation.qualified_tier is None
    # The next tier of a partner with none is the entry tier: 10 points away.
    assert evaluation.gaps["next_tier"] == {"id": 10, "name": "Registered", "minimum_score": "10"}
    assert evaluation.gaps["score_needed"] == "10.00"


@pytest.mark.parametrize(
    ("revenue", "score", "tier_name"),
    [
        ("80000", "40.00", "Silver"),  # exactly Silver's minimum: a tie qualifies
        ("79990", "40.00", "Silver"),  # 39.995 rounds half up to 40.00, which qualifies
        ("79989.99", "39.99", "Registered"),  # 39.994995 → 39.99: one cent short
        ("130000", "60.00", "Silver"),  # revenue alone tops out at 60 (cap 1.2): never Gold
    ],
)
def test_score_equal_to_a_tier_minimum_qualifies_for_it(revenue: str, score: str, tier_name: str) -> None:
    evaluation = evaluate(values(revenue=revenue))
    assert evaluation.score == Decimal(score)
    assert evaluation.qualified_tier.name == tier_name


@pytest.mark.parametrize(
    ("certifications", "score", "tier_name"),
    [
        # 50 + 30 + 20·(c/3): Platinum's score each time, but Gold needs 2 certifications and Platinum 3.
        ("0", "80.00", "Silver"),
        ("1", "86.67", "Silver"),
        ("2", "93.33", "Gold"),
        ("3", "100.00", "Platinum"),
    ],
)
def test_gates_hold_a_partner_below_a_tier_its_score_alone_would_reach(
    certifications: str, score: str, tier_name: str
) -> None:
    evaluation = evaluate(values(revenue="100000", deals="8", certifications=certifications))
    assert evaluation.score == Decimal(score)
    assert evaluation.qualified_tier.name == tier_name


def test_partner_on_two_tracks_is_scored_on_both_and_the_best_counts() -> None:
    partner_values = values(revenue="20000", trainings="6")
    evaluation = evaluate(partner_values, partner_type=HYBRID)
    # Resellers: 50·0.2 = 10.00. Installers: 60·1 = 60.00 → the installers' track counts: Silver.
    assert evaluation.pathway_id == 2
    assert evaluation.score == Decimal("60.00")
    assert evaluation.qualified_tier.name == "Silver"
    assert [row["criterion"] for row in evaluation.breakdown] == [201, 202]
    assert evaluation.gaps["tracks"] == [
        {"pathway": 1, "name": "Resellers", "score": "10.00"},
        {"pathway": 2, "name": "Installers", "score": "60.00"},
    ]
    # The same values for a distributor: only the resellers' track.
    distributor = evaluate(partner_values, partner_type=DISTRIBUTOR)
    assert distributor.pathway_id == 1
    assert distributor.score == Decimal("10.00")
    assert distributor.gaps["tracks"] == [{"pathway": 1, "name": "Resellers", "score": "10.00"}]


def test_tracks_with_equal_scores_resolve_to_the_first_pathway() -> None:
    # Resellers: 50·0.4 + 20·(3/3) = 40.00; installers: 60·0 + 40·(3/3) = 40.00. A tie: the first pathway counts.
    evaluation = evaluate(values(revenue="40000", certifications="3"), partner_type=HYBRID)
    assert [track["score"] for track in evaluation.gaps["tracks"]] == ["40.00", "40.00"]
    assert evaluation.pathway_id == 1


def test_pathway_without_partner_types_admits_every_type() -> None:
    everyone = loaded_pathway(3, "Everyone", (loaded_criterion(301, "Revenue", REVENUE, weight="1", target="100000"),))
    card = scorecard(tiers=TIERS, pathways=(everyone,))
    evaluation = evaluate(values(revenue="50000"), partner_type=AGENT, card=card)
    assert evaluation.pathway_id == 3
    assert evaluation.score == Decimal("50.00")


def test_partner_type_admitted_by_no_track_scores_zero() -> None:
    evaluation = evaluate(values(revenue="120000", deals="8", certifications="3", trainings="6"), partner_type=AGENT)
    assert evaluation.pathway_id is None
    assert evaluation.score == Decimal(0)
    assert evaluation.breakdown == []
    assert evaluation.qualified_tier == TIERS[0]  # Registered needs 0 points
    assert evaluation.gaps == {"tracks": []}


# --- The gap to the next tier ---------------------------------------------------------------------------------


def reaches(partner_values: dict, spec: tuple[str, str, str], increase: Decimal, minimum_score: Decimal) -> bool:
    """Does raising this one metric by `increase` (and nothing else) get the score to `minimum_score`?"""
    raised = partner_values | {spec: partner_values.get(spec, Decimal(0)) + increase}
    return evaluate(raised).score >= minimum_score


GAP_SCENARIOS = {
    # id: (values, criterion spec, step); the criteria that can reach the next tier alone. A score reaches a
    # minimum m when its exact value is ≥ m − 0.005 (rounded half up). Smallest increases, by hand:
    # 15 + 7.5 + 13.3333 = 35.8333 (Registered → Silver 40): revenue 8,323.34, deals 2, certifications 1
    "registered-revenue": (values(revenue="30000", deals="2", certifications="2"), REVENUE, Decimal("0.01")),
    "registered-deals": (values(revenue="30000", deals="2", certifications="2"), DEALS, Decimal(1)),
    "registered-certifications": (
        values(revenue="30000", deals="2", certifications="2"),
        CERTIFICATIONS,
        Decimal(1),
    ),
    # 15 + 7.5 = 22.50, no rounding (Registered → Silver 40): revenue 17.495/50 · 100,000 = 34,990.00;
    # deals 17.495/30 · 8 = 4.67 → 5 (7 deals: 41.25; 6: 37.50)
    "exact-score-revenue": (values(revenue="30000", deals="2"), REVENUE, Decimal("0.01")),
    "exact-score-deals": (values(revenue="30000", deals="2"), DEALS, Decimal(1)),
    # 20 + 30 + 6.6667 = 56.6667 (Silver → Gold 65): revenue (64.995 − 36.6667)/50 · 100,000 = 56,656.67 − 40,000
    # = 16,656.67; certifications 1.25 → 2
    "silver-revenue": (values(revenue="40000", deals="8", certifications="1"), REVENUE, Decimal("0.01")),
    "silver-certifications": (values(revenue="40000", deals="8", certifications="1"), CERTIFICATIONS, Decimal(1)),
}


@pytest.mark.parametrize(("partner_values", "spec", "step"), GAP_SCENARIOS.values(), ids=GAP_SCENARIOS.keys())
def test_gap_of_each_criterion_is_the_smallest_increase_alone_that_reaches_the_next_tier(
    partner_values: dict, spec: tuple[str, str, str], step: Decimal
) -> None:
    evaluation = evaluate(partner_values)
    next_minimum = Decimal(evaluation.gaps["next_tier"]["minimum_score"])
    gap = next(gap for gap in evaluation.gaps["criteria"] if gap["metric"] == spec[0])
    assert gap["alone"] is True
    increase = Decimal(gap["increase"])
    assert increase % step == 0
    assert reaches(partner_values, spec, increase, next_minimum), "the increase must reach the next tier"
    assert not reaches(partner_values, spec, increase - step, next_minimum), "one step less must not"


def test_gap_lists_every_criterion_of_the_best_track_with_the_score_needed() -> None:
    evaluation = evaluate(values(revenue="30000", deals="2", certifications="2"))
    # 15 + 7.5 + 13.3333 = 35.8333 → 35.83: Registered, 4.17 short of Silver.
    assert evaluation.qualified_tier.name == "Registered"
    assert evaluation.gaps == {
        "tracks": [{"pathway": 1, "name": "Resellers", "score": "35.83"}],
        "next_tier": {"id": 11, "name": "Silver", "minimum_score": "40"},
        "score_needed": "4.17",
        "criteria": [
            # Revenue must add 39.995 − 35.8333 = 4.1617 points (39.995 rounds half up to 40.00):
            # 4.1617 / 50 · 100,000 = 8,323.33… → 8,323.34 (8,323.33 gives 39.99499… → 39.99).
            {"criterion": 101, "label": "Revenue", "metric": "revenue", "alone": True, "increase": "8323.34"},
            # Deals: 2 more (4 in all) → 15 + 15 + 13.33 = 43.33; 1 more → 39.58.
            {"criterion": 102, "label": "Deal registrations", "metric": "deal_registrations", "alone": True,
             "increase": "2"},
            # Certifications: 1 more (3 in all) → 15 + 7.5 + 20 = 42.50.
            {"criterion": 103, "label": "Valid certifications", "metric": "valid_certifications", "alone": True,
             "increase": "1"},
        ],
        "gates": [],
    }  # fmt: skip


def test_gap_says_not_alone_when_the_cap_makes_the_next_tier_unreachable_with_that_criterion() -> None:
    evaluation = evaluate(values(deals="8", certifications="3"))
    # 0 + 30 + 20 = 50.00: Silver, 15 short of Gold. Deals and certifications are at their cap of 1 already.
    assert evaluation.qualified_tier.name == "Silver"
    assert evaluation.gaps["score_needed"] == "15.00"
    revenue, deals, certifications = evaluation.gaps["criteria"]
    assert revenue["alone"] is True
    assert deals == {"criterion": 102, "label": "Deal registrations", "metric": "deal_registrations", "alone": False}
    assert certifications == {
        "criterion": 103,
        "label": "Valid certifications",
        "metric": "valid_certifications",
        "alone": False,
    }


def test_gap_says_not_alone_for_a_criterion_already_past_its_cap() -> None:
    evaluation = evaluate(values(revenue="200000"))
    # 50 · min(2, 1.2) = 60.00: Silver. More revenue adds nothing; deals (30) can add 5.00 alone.
    assert evaluation.score == Decimal("60.00")
    assert evaluation.gaps["criteria"][0] == {"criterion": 101, "label": "Revenue", "metric": "revenue", "alone": False}
    # Deals: 5 points of 30 → 5/30 · 8 = 1.33 → 2 deals (1 deal: 63.75).
    assert evaluation.gaps["criteria"][1]["increase"] == "2"
    assert evaluate(values(revenue="200000", deals="1")).score == Decimal("63.75")


def test_gap_of_a_count_metric_is_a_whole_number() -> None:
    evaluation = evaluate(values(revenue="79000"))
    # 39.50: 0.50 short of Silver. Deals: 0.5/30 · 8 = 0.13 → 1 deal; certifications: 0.5/20 · 3 = 0.075 → 1.
    assert evaluation.gaps["score_needed"] == "0.50"
    assert [gap["increase"] for gap in evaluation.gaps["criteria"][1:]] == ["1", "1"]


def test_gap_lists_the_unmet_gates_of_the_next_tier_with_their_shortfall() -> None:
    evaluation = evaluate(values(revenue="40000", deals="8", certifications="1"))
    # 20 + 30 + 6.67 = 56.67: Silver, 8.33 short of Gold, whose gate wants one more certification.
    assert evaluation.qualified_tier.name == "Silver"
    assert evaluation.gaps["score_needed"] == "8.33"
    assert evaluation.gaps["gates"] == [
        {
            "label": "2 valid certifications",
            "metric": "valid_certifications",
            "kind": "",
            "value": "1.00",
            "minimum": "2",
            "shortfall": "1.00",
        }
    ]
    # Certifications: 8.33/20 · 3 = 1.25 → 2 (3 certifications: 20 + 30 + 20 = 70; 2: 63.33). Deals are capped.
    assert [(gap["alone"], gap.get("increase")) for gap in evaluation.gaps["criteria"][1:]] == [
        (False, None),
        (True, "2"),
    ]


def test_gap_of_a_partner_held_back_only_by_a_gate_needs_no_score() -> None:
    evaluation = evaluate(values(revenue="100000", deals="8", certifications="1"))
    # 86.67 is past Gold's 65, but Gold's gate (2 certifications) is unmet: Silver, and only the gate is missing.
    assert evaluation.qualified_tier.name == "Silver"
    assert evaluation.gaps["next_tier"] == {"id": 12, "name": "Gold", "minimum_score": "65"}
    assert evaluation.gaps["score_needed"] == "0"
    assert evaluation.gaps["criteria"] == []
    # Platinum's gate (3) is not listed: only the next tier's.
    assert [gate["label"] for gate in evaluation.gaps["gates"]] == ["2 valid certifications"]


def test_top_tier_has_no_next_tier() -> None:
    evaluation = evaluate(values(revenue="100000", deals="8", certifications="3"))
    assert evaluation.qualified_tier.name == "Platinum"
    assert evaluation.gaps == {"tracks": [{"pathway": 1, "name": "Resellers", "score": "100.00"}]}
