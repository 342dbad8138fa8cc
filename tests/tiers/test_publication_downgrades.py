"""A new model that places partners lower: they keep the new model's tier at the rank they held, "below" from the
switch, and the model's publication policy decides when they drop: after its grace period, or not before the end
of its first qualification window (issue 18, "publish with care")."""

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.tiers.factories import STANDARD_TIERS, Program, revenue_program
from tests.tiers.test_decisions import D0, evaluate, moves, revenue, state_of
from tiers.models import TierModel
from tiers.services import protection_end, tier_model_publish

# Gold needs 75 in the new model: a partner at 70 qualifies for Silver only.
HIGHER_GOLD = tuple(
    (name, "75" if name == "Gold" else minimum, multiplier) for name, minimum, multiplier in STANDARD_TIERS
)


@pytest.fixture
def publish(acme: World) -> Callable[..., Program]:
    def make(*, policy: str = TierModel.PublicationDowngrades.GRACE, **options) -> Program:
        with tenant_context(acme.tenant):
            program = revenue_program(**options)
            TierModel.objects.filter(pk=program.model.pk).update(publication_downgrades=policy)
            program.model.refresh_from_db()
            program.model = tier_model_publish(model=program.model, actor=acme.manager)
        return program

    return make


def test_grace_policy_keeps_the_rank_through_the_grace_period(acme: World, publish: Callable[..., Program]) -> None:
    first = publish(version=1)
    revenue(acme, "70000")
    evaluate(acme, first, D0)
    second = publish(version=2, tiers=HIGHER_GOLD, grace_days=30)
    evaluate(acme, second, D0 + timedelta(days=1))
    assert state_of(acme) == ("Gold", D0 + timedelta(days=1), D0 + timedelta(days=1))  # the new model's Gold
    evaluate(acme, second, D0 + timedelta(days=30))
    assert state_of(acme)[0] == "Gold"
    evaluate(acme, second, D0 + timedelta(days=31))
    assert state_of(acme)[0] == "Silver"
    assert [(old, new, cause) for old, new, cause, _day in moves(acme)] == [
        (None, "Gold", "evaluation"),
        ("Gold", "Gold", "model_change"),
        ("Gold", "Silver", "evaluation"),
    ]


def test_protect_policy_keeps_current_tiers_until_the_first_window_ends(
    acme: World, publish: Callable[..., Program]
) -> None:
    first = publish(version=1)
    revenue(acme, "70000")
    evaluate(acme, first, D0)
    second = publish(
        version=2, tiers=HIGHER_GOLD, grace_days=30, effective_from=D0, policy=TierModel.PublicationDowngrades.PROTECT
    )
    end = protection_end(model=second.model)
    assert end == date(2026, 2, 28)  # a rolling window: a year from 1 March 2025
    evaluate(acme, second, D0 + timedelta(days=1))
    evaluate(acme, second, D0 + timedelta(days=60))  # grace long over, still protected
    assert state_of(acme)[0] == "Gold"
    evaluate(acme, second, end + timedelta(days=1))
    assert state_of(acme)[0] == "Silver"


def test_a_new_model_that_places_a_partner_higher_moves_it_at_once(
    acme: World, publish: Callable[..., Program]
) -> None:
    first = publish(version=1, tiers=HIGHER_GOLD)
    revenue(acme, "70000")
    evaluate(acme, first, D0)
    assert state_of(acme)[0] == "Silver"
    second = publish(version=2, policy=TierModel.PublicationDowngrades.PROTECT)
    evaluate(acme, second, D0 + timedelta(days=1))
    assert state_of(acme) == ("Gold", D0 + timedelta(days=1), None)


def test_the_runs_counts_include_moves_across_a_model_change(acme: World, publish: Callable[..., Program]) -> None:
    """The preview said "1 up": the first run under the new model counts that move (it read "0 up, 0 down")."""
    first = publish(version=1, tiers=HIGHER_GOLD)
    revenue(acme, "70000")
    evaluate(acme, first, D0)
    second = publish(version=2)
    moved = evaluate(acme, second, D0 + timedelta(days=1))
    assert (moved.upgrades, moved.downgrades) == (1, 0)  # Silver of v1 → Gold of v2
    third = publish(version=3)
    same_rank = evaluate(acme, third, D0 + timedelta(days=2))
    assert (same_rank.upgrades, same_rank.downgrades) == (0, 0)  # Gold of v2 → Gold of v3: no move
    assert [(old, new, cause) for old, new, cause, _day in moves(acme)][1:] == [
        ("Silver", "Gold", "model_change"),
        ("Gold", "Gold", "model_change"),
    ]
