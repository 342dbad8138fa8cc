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
from tiers.models import PartnerTier, Tier, TierModel
from tiers.services import partner_tier_pin, protection_end, tier_model_publish, tier_models_activate_due
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


def test_a_pin_right_after_a_publish_keeps_the_since_date_of_the_rank_held(
    acme: World, publish: Callable[..., Program]
) -> None:
    """Pinned at the new model's Gold while the state still named the old model's Gold (no run since the publish),
    the partner read "Gold since" the pin's day and a "pin" move Gold -> Gold was written: the pin compares ranks,
    as the runs do, and the next run records the model change at the rank held."""
    first = publish(version=1)
    revenue(acme, "70000")
    evaluate(acme, first, D0)
    assert state_of(acme) == ("Gold", D0, None)
    second = publish(version=2, tiers=HIGHER_GOLD)
    with tenant_context(acme.tenant):
        new_gold = Tier.objects.get(model=second.model, name="Gold")
        pinned = partner_tier_pin(
            partner=acme.partner,
            tier=new_gold,
            until=timezone.localdate() + timedelta(days=400),
            reason="Launch",
            actor=acme.manager,
        )
        assert pinned.pinned_tier == new_gold
    assert state_of(acme) == ("Gold", D0, None)
    assert moves(acme) == [(None, "Gold", "evaluation", D0)]  # nothing moved: the rank is the same
    run = evaluate(acme, second, D0 + timedelta(days=1))
    assert (run.upgrades, run.downgrades) == (0, 0)
    assert state_of(acme) == ("Gold", D0, None)
    with tenant_context(acme.tenant):
        assert PartnerTier.objects.get(partner=acme.partner).tier == new_gold
    assert moves(acme)[1:] == [("Gold", "Gold", "model_change", D0 + timedelta(days=1))]


@pytest.mark.parametrize("switch", ["publish", "scheduled"])
def test_a_running_pin_names_the_tier_in_force_of_its_rank_once_a_model_changes(
    acme: World, publish: Callable[..., Program], switch: str
) -> None:
    """A pin kept naming the old model's tier: the partner admin read the retired tier's name and the pin's form,
    whose choices are the active model's tiers, showed no tier. A running pin follows its rank to the model in
    force (when it comes into force); an ended pin keeps the tier it held."""
    first = publish(version=1)
    today = timezone.localdate()
    renamed = tuple(
        ("Gold Plus" if name == "Gold" else name, minimum, multiplier) for name, minimum, multiplier in STANDARD_TIERS
    )
    with tenant_context(acme.tenant):
        old_gold, old_silver = (Tier.objects.get(model=first.model, name=name) for name in ("Gold", "Silver"))
        until = today + timedelta(days=60)
        partner_tier_pin(partner=acme.partner, tier=old_gold, until=until, reason="Launch", actor=acme.manager)
        partner_tier_pin(
            partner=acme.unmanaged_partner, tier=old_silver, until=today, reason="Audit", actor=acme.manager
        )
        PartnerTier.objects.filter(partner=acme.unmanaged_partner).update(pinned_until=today - timedelta(days=1))
    if switch == "publish":
        second = publish(version=2, tiers=renamed)
    else:
        second = publish(version=2, tiers=renamed, effective_from=today + timedelta(days=1))
        with tenant_context(acme.tenant):
            assert PartnerTier.objects.get(partner=acme.partner).pinned_tier == old_gold  # not in force yet
            tier_models_activate_due(on=today + timedelta(days=1))
    with tenant_context(acme.tenant):
        gold_plus = Tier.objects.get(model=second.model, name="Gold Plus")
        state = PartnerTier.objects.get(partner=acme.partner)
        assert (state.pinned_tier, state.pinned_until, state.tier) == (gold_plus, until, old_gold)
        assert PartnerTier.objects.get(partner=acme.unmanaged_partner).pinned_tier == old_silver
