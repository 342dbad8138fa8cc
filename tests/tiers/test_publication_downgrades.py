"""A new model that places partners lower: they keep the new model's tier at the rank they held, "below" from the
switch, and the model's publication policy decides when they drop: after its grace period, or not before the end
of its first qualification window (issue 18, "publish with care")."""

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.tiers.factories import STANDARD_TIERS, Program, revenue_program
from tests.tiers.test_decisions import D0, evaluate, moves, revenue, state_of
from tiers.models import Tier, TierModel
from tiers.services import partner_tier_pin, protection_end, tier_model_publish
from tiers.simulation import simulate

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
    assert state_of(acme) == ("Gold", D0, D0 + timedelta(days=1))  # the new model's Gold, Gold since D0
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


def test_a_partner_at_the_same_rank_under_a_new_model_keeps_its_since_date(
    acme: World, publish: Callable[..., Program]
) -> None:
    """The dashboard read "Gold since" the day of the new model's first run although the partner had been Gold for
    weeks: the since date moves only when the rank does (the run's ups and downs compare ranks too)."""
    first = publish(version=1, tiers=HIGHER_GOLD)
    revenue(acme, "70000")
    evaluate(acme, first, D0)
    assert state_of(acme) == ("Silver", D0, None)
    second = publish(version=2)
    evaluate(acme, second, D0 + timedelta(days=10))
    assert state_of(acme) == ("Gold", D0 + timedelta(days=10), None)  # up a rank: since that day
    third = publish(version=3)
    evaluate(acme, third, D0 + timedelta(days=40))
    assert state_of(acme) == ("Gold", D0 + timedelta(days=10), None)  # the same rank: still since then


@pytest.mark.parametrize(
    ("first_tiers", "draft_tiers", "held"),
    [
        (HIGHER_GOLD, STANDARD_TIERS, "Silver"),  # the draft would move it up a rank
        (STANDARD_TIERS, HIGHER_GOLD, "Gold"),  # the draft would move it down a rank
    ],
)
def test_a_pinned_partner_is_held_by_the_preview_and_by_the_new_models_first_run(
    acme: World, publish: Callable[..., Program], first_tiers: tuple, draft_tiers: tuple, held: str
) -> None:
    """The draft's preview counted a pinned partner as moving, and the new model's first run moved it up (a pin
    held only within a model): the pin holds the rank across the change, and the preview says what the run does."""
    first = publish(version=1, tiers=first_tiers)
    revenue(acme, "70000")
    evaluate(acme, first, D0)
    with tenant_context(acme.tenant):
        pinned = partner_tier_pin(
            partner=acme.partner,
            tier=Tier.objects.get(pk=first.tiers[held].pk),  # read again: the factory's still says "draft"
            until=timezone.localdate() + timedelta(days=400),
            reason="Launch partner",
            actor=acme.manager,
        )
        draft = revenue_program(version=2, tiers=draft_tiers)
        preview = simulate(model=draft.model, evaluated_on=D0 + timedelta(days=1))
        tier_model_publish(model=draft.model, actor=acme.manager)
    assert [mover.partner_name for mover in preview.movers if mover.partner_id == acme.partner.pk] == []
    assert preview.held_by_pin == 1
    run = evaluate(acme, draft, D0 + timedelta(days=1))
    assert (run.upgrades, run.downgrades) == (0, 0)
    assert state_of(acme) == (held, pinned.since, None)  # the new model's tier at the pinned rank, nothing pending
