"""Tier decisions on the database: first assignment, upgrades, the downgrade policies, instant re-scores, pins,
idempotent re-runs, publishing, the model in force, and the tier's point multiplier in earning."""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from earning.services import activity_approve
from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, Partner
from partners.services import activity_record
from tests.conftest import World
from tests.partners.helpers import sales_rule
from tests.tiers.factories import Program, at_noon, revenue_program, revenue_set, sale, today
from tiers.engine import scorecard_load
from tiers.metrics import qualification_window
from tiers.models import Criterion, PartnerScore, PartnerTier, Pathway, Tier, TierChange, TierGate, TierModel
from tiers.selectors import partner_point_multiplier
from tiers.services import (
    ChunkResult,
    partner_tier_pin,
    partners_evaluate,
    tier_decide,
    tier_model_for,
    tier_model_publish,
)

NIGHTLY, INSTANT = PartnerScore.Source.NIGHTLY, PartnerScore.Source.INSTANT
SOLD_ON = date(2025, 2, 15)  # inside the rolling window of every evaluation below (until 2026-02-15)
D0 = date(2025, 3, 1)


@pytest.fixture
def make_program(acme: World) -> Callable[..., Program]:
    """A published revenue-only program of acme (score = revenue / 1,000): 0 / 40 / 65 / 85."""

    def make(**options) -> Program:
        with tenant_context(acme.tenant):
            program = revenue_program(**options)
            program.model = tier_model_publish(model=program.model, actor=acme.manager)
            program.tiers = {tier.name: tier for tier in program.model.tiers.select_related("model")}
        return program

    return make


@pytest.fixture
def program(make_program: Callable[..., Program]) -> Program:
    return make_program()


def evaluate(
    world: World, program: Program, on: date, *, source: str = NIGHTLY, partners: list[Partner] | None = None
) -> ChunkResult:
    with tenant_context(world.tenant):
        return partners_evaluate(
            scorecard=scorecard_load(model=program.model),
            partner_ids=[partner.pk for partner in partners or [world.partner]],
            evaluated_on=on,
            source=source,
        )


def revenue(world: World, amount: str, on: date = SOLD_ON) -> None:
    with tenant_context(world.tenant):
        revenue_set(world.partner, on, amount)


def state_of(world: World, partner: Partner | None = None) -> tuple[str, date, date | None]:
    with tenant_context(world.tenant):
        state = PartnerTier.objects.select_related("tier").get(partner=partner or world.partner)
        return state.tier.name, state.since, state.below_since


def moves(world: World) -> list[tuple[str | None, str, str, date]]:
    with tenant_context(world.tenant):
        changes = TierChange.objects.filter(partner=world.partner).select_related("from_tier", "to_tier")
        return [
            (change.from_tier and change.from_tier.name, change.to_tier.name, change.cause, change.evaluated_on)
            for change in changes.order_by("pk")
        ]


def score_of(world: World, on: date, source: str = NIGHTLY) -> PartnerScore:
    with tenant_context(world.tenant):
        return PartnerScore.objects.select_related("tier", "qualified_tier").get(
            partner=world.partner, evaluated_on=on, source=source
        )


# --- First evaluation and upgrades ----------------------------------------------------------------------------


def test_first_evaluation_assigns_the_qualified_tier(acme: World, program: Program) -> None:
    revenue(acme, "70000")  # 70.00: Gold
    result = evaluate(acme, program, D0, partners=[acme.partner, acme.unmanaged_partner])
    assert result == ChunkResult(evaluated=2, upgrades=0, downgrades=0)  # a first tier is neither up nor down
    assert state_of(acme) == ("Gold", D0, None)
    assert state_of(acme, acme.unmanaged_partner) == ("Registered", D0, None)  # no activity: 0 → entry tier
    score = score_of(acme, D0)
    assert (score.score, score.qualified_tier.name, score.tier.name) == (Decimal("70.00"), "Gold", "Gold")
    assert (score.tier_model_id, score.pathway_id, score.run_id) == (program.model.pk, program.pathway.pk, None)
    assert [(row["value"], row["contribution"]) for row in score.breakdown] == [("70000.00", "70.00")]
    assert score.gaps["next_tier"]["name"] == "Platinum"
    assert score.gaps["score_needed"] == "15.00"
    assert moves(acme) == [(None, "Gold", TierChange.Cause.EVALUATION, D0)]
    with tenant_context(acme.tenant):
        assert TierChange.objects.get(partner=acme.partner).score_id == score.pk


def test_upgrade_applies_at_once_even_past_a_tier(acme: World, program: Program) -> None:
    revenue(acme, "45000")
    evaluate(acme, program, D0)
    assert state_of(acme) == ("Silver", D0, None)
    with tenant_context(acme.tenant):
        sale(acme.partner, SOLD_ON, "50000")  # 95,000: Platinum, two tiers up
    result = evaluate(acme, program, D0 + timedelta(days=1))
    assert result == ChunkResult(evaluated=1, upgrades=1, downgrades=0)
    assert state_of(acme) == ("Platinum", D0 + timedelta(days=1), None)
    assert moves(acme) == [
        (None, "Silver", "evaluation", D0),
        ("Silver", "Platinum", "evaluation", D0 + timedelta(days=1)),
    ]


def test_inactive_partners_are_not_evaluated(acme: World, program: Program) -> None:
    Partner.all_tenants.filter(pk=acme.unmanaged_partner.pk).update(status=Partner.Status.SUSPENDED)
    result = evaluate(acme, program, D0, partners=[acme.partner, acme.unmanaged_partner])
    assert result.evaluated == 1
    with tenant_context(acme.tenant):
        assert list(PartnerScore.objects.values_list("partner_id", flat=True)) == [acme.partner.pk]


# --- Downgrades -----------------------------------------------------------------------------------------------


def test_downgrade_waits_for_the_grace_period_then_drops_one_tier_per_evaluation(
    acme: World, make_program: Callable[..., Program]
) -> None:
    program = make_program(downgrade=TierModel.Downgrade.ONE_STEP, grace_days=30)
    revenue(acme, "90000")
    evaluate(acme, program, D0)
    assert state_of(acme) == ("Platinum", D0, None)
    revenue(acme, "10000")  # 10.00: qualifies for Registered from now on
    first_below = date(2025, 3, 2)
    assert evaluate(acme, program, first_below) == ChunkResult(evaluated=1, upgrades=0, downgrades=0)
    assert state_of(acme) == ("Platinum", D0, first_below)  # kept; the grace period starts
    score = score_of(acme, first_below)
    assert (score.qualified_tier.name, score.tier.name) == ("Registered", "Platinum")
    evaluate(acme, program, date(2025, 3, 31))  # 29 days below
    assert state_of(acme) == ("Platinum", D0, first_below)
    assert evaluate(acme, program, date(2025, 4, 1)) == ChunkResult(evaluated=1, upgrades=0, downgrades=1)  # 30 days
    assert state_of(acme) == ("Gold", date(2025, 4, 1), first_below)  # one tier; still above the qualified one
    evaluate(acme, program, date(2025, 4, 2))
    assert state_of(acme) == ("Silver", date(2025, 4, 2), first_below)
    evaluate(acme, program, date(2025, 4, 3))
    assert state_of(acme) == ("Registered", date(2025, 4, 3), None)  # arrived: nothing pending
    assert evaluate(acme, program, date(2025, 4, 4)) == ChunkResult(evaluated=1, upgrades=0, downgrades=0)
    assert moves(acme) == [
        (None, "Platinum", "evaluation", D0),
        ("Platinum", "Gold", "evaluation", date(2025, 4, 1)),
        ("Gold", "Silver", "evaluation", date(2025, 4, 2)),
        ("Silver", "Registered", "evaluation", date(2025, 4, 3)),
    ]


def test_to_qualified_drops_straight_to_the_qualified_tier_after_the_grace_period(
    acme: World, make_program: Callable[..., Program]
) -> None:
    program = make_program(downgrade=TierModel.Downgrade.TO_QUALIFIED, grace_days=30)
    revenue(acme, "90000")
    evaluate(acme, program, D0)
    revenue(acme, "45000")  # qualifies for Silver
    evaluate(acme, program, date(2025, 3, 2))
    evaluate(acme, program, date(2025, 3, 31))
    assert state_of(acme) == ("Platinum", D0, date(2025, 3, 2))
    assert evaluate(acme, program, date(2025, 4, 1)) == ChunkResult(evaluated=1, upgrades=0, downgrades=1)
    assert state_of(acme) == ("Silver", date(2025, 4, 1), None)
    assert moves(acme)[1:] == [("Platinum", "Silver", "evaluation", date(2025, 4, 1))]


def test_window_end_downgrades_only_on_the_last_day_of_the_window(
    acme: World, make_program: Callable[..., Program]
) -> None:
    program = make_program(
        window=TierModel.Window.CALENDAR_YEAR, downgrade=TierModel.Downgrade.WINDOW_END, grace_days=30
    )
    revenue(acme, "90000", on=date(2025, 1, 15))
    evaluate(acme, program, D0)
    revenue(acme, "45000", on=date(2025, 1, 16))  # Silver for the rest of 2025
    evaluate(acme, program, date(2025, 3, 2))
    for day in (date(2025, 6, 1), date(2025, 12, 30)):  # grace long over, but the year is not
        evaluate(acme, program, day)
        assert state_of(acme) == ("Platinum", D0, date(2025, 3, 2))
    assert evaluate(acme, program, date(2025, 12, 31)) == ChunkResult(evaluated=1, upgrades=0, downgrades=1)
    assert state_of(acme) == ("Silver", date(2025, 12, 31), None)  # straight to the qualified tier
    assert moves(acme)[1:] == [("Platinum", "Silver", "evaluation", date(2025, 12, 31))]


def test_window_end_still_waits_for_the_grace_period(acme: World, make_program: Callable[..., Program]) -> None:
    program = make_program(
        window=TierModel.Window.CALENDAR_YEAR, downgrade=TierModel.Downgrade.WINDOW_END, grace_days=30
    )
    revenue(acme, "90000", on=date(2025, 1, 15))
    evaluate(acme, program, date(2025, 12, 1))
    revenue(acme, "45000", on=date(2025, 1, 16))
    evaluate(acme, program, date(2025, 12, 20))
    evaluate(acme, program, date(2025, 12, 31))  # the window ends, but only 11 days below
    assert state_of(acme) == ("Platinum", date(2025, 12, 1), date(2025, 12, 20))


def test_tier_decide_window_end_on_a_rolling_window_is_every_day(acme: World) -> None:
    with tenant_context(acme.tenant):
        program = revenue_program(downgrade=TierModel.Downgrade.WINDOW_END, grace_days=0)
        scorecard = scorecard_load(model=program.model)
        gold, silver = scorecard.tiers[2], scorecard.tiers[1]
        state = PartnerTier(partner=acme.partner, tier_id=gold.id, since=D0)
        window = qualification_window(model=program.model, evaluated_on=D0, time_zone="UTC")
        decision = tier_decide(scorecard=scorecard, state=state, qualified=silver, window=window, instant=False)
    assert window.last_day == D0
    assert (decision.tier, decision.below_since, decision.cause) == (silver, None, TierChange.Cause.EVALUATION)


def test_qualifying_again_during_the_grace_period_cancels_the_pending_downgrade(acme: World, program: Program) -> None:
    revenue(acme, "70000")
    evaluate(acme, program, D0)
    revenue(acme, "30000")
    evaluate(acme, program, date(2025, 3, 2))
    assert state_of(acme) == ("Gold", D0, date(2025, 3, 2))
    revenue(acme, "70000")
    assert evaluate(acme, program, date(2025, 3, 10)) == ChunkResult(evaluated=1, upgrades=0, downgrades=0)
    assert state_of(acme) == ("Gold", D0, None)
    revenue(acme, "30000")
    evaluate(acme, program, date(2025, 3, 11))
    assert state_of(acme) == ("Gold", D0, date(2025, 3, 11))  # a new grace period, from the new day
    assert moves(acme) == [(None, "Gold", "evaluation", D0)]


# --- Instant re-scores ----------------------------------------------------------------------------------------


def test_instant_rescore_upgrades_at_once_with_cause_instant(acme: World, program: Program) -> None:
    revenue(acme, "45000")
    evaluate(acme, program, D0)
    with tenant_context(acme.tenant):
        sale(acme.partner, SOLD_ON, "30000")  # 75,000: Gold
    assert evaluate(acme, program, D0, source=INSTANT) == ChunkResult(evaluated=1, upgrades=1, downgrades=0)
    assert state_of(acme) == ("Gold", D0, None)
    assert moves(acme) == [(None, "Silver", "evaluation", D0), ("Silver", "Gold", "instant", D0)]
    assert (score_of(acme, D0, INSTANT).score, score_of(acme, D0, NIGHTLY).score) == (
        Decimal("75.00"),
        Decimal("45.00"),
    )
    # Another instant re-score the same day replaces the day's instant score and moves nothing.
    with tenant_context(acme.tenant):
        sale(acme.partner, SOLD_ON, "1000")
    assert evaluate(acme, program, D0, source=INSTANT) == ChunkResult(evaluated=1, upgrades=0, downgrades=0)
    with tenant_context(acme.tenant):
        assert list(PartnerScore.objects.filter(source=INSTANT).values_list("score", flat=True)) == [Decimal("76.00")]
    assert len(moves(acme)) == 2


def test_instant_rescore_never_downgrades_nor_starts_the_grace_period(acme: World, program: Program) -> None:
    revenue(acme, "70000")
    evaluate(acme, program, D0)
    revenue(acme, "10000")
    assert evaluate(acme, program, D0 + timedelta(days=1), source=INSTANT) == ChunkResult(1, 0, 0)
    assert state_of(acme) == ("Gold", D0, None)
    score = score_of(acme, D0 + timedelta(days=1), INSTANT)
    assert (score.qualified_tier.name, score.tier.name) == ("Registered", "Gold")
    assert moves(acme) == [(None, "Gold", "evaluation", D0)]


# --- Pins -----------------------------------------------------------------------------------------------------


def test_pin_holds_the_tier_until_its_end_date_then_evaluations_resume(acme: World, program: Program) -> None:
    now = today()
    revenue(acme, "45000", on=now - timedelta(days=5))
    evaluate(acme, program, now)
    with tenant_context(acme.tenant):
        partner_tier_pin(
            partner=acme.partner,
            tier=program.tiers["Gold"],
            until=now + timedelta(days=10),
            reason="Launch partner",
            actor=acme.manager,
        )
        pin = TierChange.objects.get(cause=TierChange.Cause.PIN)
    assert (pin.actor, pin.note) == (acme.manager, "Launch partner")
    assert state_of(acme) == ("Gold", now, None)
    evaluate(acme, program, now + timedelta(days=1))  # qualifies Silver: held, no grace period
    assert state_of(acme) == ("Gold", now, None)
    with tenant_context(acme.tenant):
        sale(acme.partner, now - timedelta(days=5), "50000")  # 95,000: Platinum
    evaluate(acme, program, now + timedelta(days=2))  # held upwards too
    evaluate(acme, program, now + timedelta(days=10))  # the pin's last day
    assert state_of(acme) == ("Gold", now, None)
    assert evaluate(acme, program, now + timedelta(days=11)) == ChunkResult(evaluated=1, upgrades=1, downgrades=0)
    assert state_of(acme) == ("Platinum", now + timedelta(days=11), None)
    assert moves(acme) == [
        (None, "Silver", "evaluation", now),
        ("Silver", "Gold", "pin", now),
        ("Gold", "Platinum", "evaluation", now + timedelta(days=11)),
    ]


def test_after_a_pin_ends_a_lower_score_starts_the_grace_period(acme: World, program: Program) -> None:
    now = today()
    revenue(acme, "45000", on=now - timedelta(days=5))
    with tenant_context(acme.tenant):
        partner_tier_pin(
            partner=acme.partner, tier=program.tiers["Gold"], until=now, reason="Trade show", actor=acme.manager
        )
    evaluate(acme, program, now)
    assert state_of(acme) == ("Gold", now, None)
    evaluate(acme, program, now + timedelta(days=1))
    assert state_of(acme) == ("Gold", now, now + timedelta(days=1))


@pytest.mark.parametrize(
    ("reason", "days", "errors"),
    [
        ("   ", 10, {"reason": ["Say why the tier is pinned."]}),
        ("", 10, {"reason": ["Say why the tier is pinned."]}),
        ("Launch partner", -1, {"until": ["A pin ends today or later."]}),
    ],
)
def test_pin_needs_a_reason_and_an_end_that_is_not_past(
    acme: World, program: Program, reason: str, days: int, errors: dict
) -> None:
    with tenant_context(acme.tenant), pytest.raises(ValidationError) as error:
        partner_tier_pin(
            partner=acme.partner,
            tier=program.tiers["Gold"],
            until=today() + timedelta(days=days),
            reason=reason,
            actor=acme.manager,
        )
    assert error.value.message_dict == errors
    with tenant_context(acme.tenant):
        assert not PartnerTier.objects.exists()
        assert not TierChange.objects.exists()


def test_pin_refuses_a_tier_of_a_draft_model(acme: World) -> None:
    with tenant_context(acme.tenant):
        draft = revenue_program()
        with pytest.raises(ValidationError) as error:
            partner_tier_pin(
                partner=acme.partner,
                tier=draft.tiers["Gold"],
                until=today() + timedelta(days=3),
                reason="Launch partner",
                actor=acme.manager,
            )
        assert error.value.message_dict == {"tier": ["Pin to a tier of the active model."]}
        assert not PartnerTier.objects.exists()


# --- Idempotence ----------------------------------------------------------------------------------------------


def test_rerunning_the_same_day_adds_no_score_and_no_tier_change(acme: World, program: Program) -> None:
    revenue(acme, "70000")
    both = [acme.partner, acme.unmanaged_partner]
    assert evaluate(acme, program, D0, partners=[acme.partner]) == ChunkResult(1, 0, 0)
    assert evaluate(acme, program, D0, partners=both) == ChunkResult(1, 0, 0)  # completes only what is missing
    revenue(acme, "95000")  # even new activity does not make a re-run score the day again
    assert evaluate(acme, program, D0, partners=both) == ChunkResult(0, 0, 0)
    with tenant_context(acme.tenant):
        assert PartnerScore.objects.count() == 2
        assert TierChange.objects.count() == 2
        assert PartnerScore.objects.get(partner=acme.partner).score == Decimal("70.00")
    assert state_of(acme) == ("Gold", D0, None)


# --- Publishing and the model in force ------------------------------------------------------------------------


def test_publishing_a_draft_makes_it_active_and_retires_the_previous_one(acme: World, program: Program) -> None:
    with tenant_context(acme.tenant):
        draft = revenue_program(version=2).model
        published = tier_model_publish(model=draft, actor=acme.manager)
        statuses = dict(TierModel.objects.values_list("version", "status"))
        draft.refresh_from_db()
    assert statuses == {1: TierModel.Status.RETIRED, 2: TierModel.Status.ACTIVE}
    assert (published.pk, draft.status, draft.published_by) == (draft.pk, TierModel.Status.ACTIVE, acme.manager)
    assert draft.published_at is not None
    with tenant_context(acme.tenant):
        assert Tier.objects.filter(model=program.model).count() == 4  # the retired model stays for audit


@pytest.mark.parametrize("status", [TierModel.Status.ACTIVE, TierModel.Status.RETIRED])
def test_publishing_refuses_a_model_that_is_not_a_draft(acme: World, program: Program, status: str) -> None:
    with tenant_context(acme.tenant):
        TierModel.objects.filter(pk=program.model.pk).update(status=status)
        with pytest.raises(ValidationError) as error:
            tier_model_publish(model=program.model, actor=acme.manager)
        assert error.value.messages == ["Only a draft can be published."]
        assert TierModel.objects.get(pk=program.model.pk).status == status


def _no_pathway(program: Program) -> None:
    program.pathway.delete()


def _unordered_minimums(program: Program) -> None:
    Tier.objects.filter(pk=program.tiers["Gold"].pk).update(minimum_score=Decimal(30))  # below Silver's 40


def _equal_minimums(program: Program) -> None:
    Tier.objects.filter(pk=program.tiers["Gold"].pk).update(minimum_score=Decimal(40))


def _empty_pathway(program: Program) -> None:
    Pathway.objects.create(model=program.model, name="Installers")


def _single_tier(program: Program) -> None:
    Tier.objects.filter(model=program.model).exclude(pk=program.tiers["Registered"].pk).delete()


@pytest.mark.parametrize(
    ("spoil", "messages"),
    [
        (_no_pathway, ["A model needs at least one pathway."]),
        (_unordered_minimums, ["Gold needs a higher minimum score than Silver (40)."]),
        (_equal_minimums, ["Gold needs a higher minimum score than Silver (40)."]),
        (_empty_pathway, ["Pathway Installers has no criteria."]),
        (_single_tier, ["A model has between 2 and 6 tiers."]),
    ],
)
def test_publishing_refuses_an_invalid_draft_and_keeps_the_active_model(
    acme: World, program: Program, spoil: Callable[[Program], None], messages: list[str]
) -> None:
    with tenant_context(acme.tenant):
        draft = revenue_program(version=2)
        spoil(draft)
        with pytest.raises(ValidationError) as error:
            tier_model_publish(model=draft.model, actor=acme.manager)
        assert error.value.messages == messages
        assert dict(TierModel.objects.values_list("version", "status")) == {
            1: TierModel.Status.ACTIVE,
            2: TierModel.Status.DRAFT,
        }


@pytest.mark.parametrize(
    ("field", "constraint"),
    [
        ("target", "criterion_target_positive"),
        ("weight", "criterion_weight_positive"),
        ("cap", "criterion_cap_positive"),
    ],
)
def test_database_refuses_a_criterion_with_a_zero_target_weight_or_cap(
    acme: World, field: str, constraint: str
) -> None:
    with tenant_context(acme.tenant):
        pathway = revenue_program().pathway
        fields = {"target": Decimal(1000), "weight": Decimal(1), "cap": Decimal(1)} | {field: Decimal(0)}
        criterion = Criterion(pathway=pathway, label="Broken", metric="revenue", **fields)
        with pytest.raises(ValidationError) as error:
            criterion.full_clean()  # the admin's form refuses it first…
        assert list(error.value.message_dict) == [field]
        with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
            criterion.save()  # …and the database refuses it whatever the path
        assert Criterion.objects.filter(label="Broken").count() == 0


def test_database_refuses_a_gate_with_a_zero_minimum(acme: World) -> None:
    with tenant_context(acme.tenant):
        tier = revenue_program().tiers["Gold"]
        with pytest.raises(IntegrityError, match="tier_gate_minimum_positive"), transaction.atomic():
            TierGate.objects.create(tier=tier, label="Nothing", metric="valid_certifications", minimum=Decimal(0))


def test_tier_model_for_picks_the_active_model_only_from_its_effective_date(
    acme: World, make_program: Callable[..., Program]
) -> None:
    first = make_program(version=1, effective_from=date(2025, 1, 1)).model
    second = make_program(version=2, effective_from=date(2025, 7, 1)).model  # published now, in force from July
    with tenant_context(acme.tenant):
        revenue_program(version=3, effective_from=date(2025, 1, 1))  # a draft is never in force
        in_force = {
            day: tier_model_for(evaluated_on=day)
            for day in (date(2024, 12, 31), date(2025, 1, 1), date(2025, 6, 30), date(2025, 7, 1), date(2026, 1, 1))
        }
    assert in_force == {
        date(2024, 12, 31): None,
        date(2025, 1, 1): first,
        date(2025, 6, 30): first,  # retired, but its successor is not in force yet
        date(2025, 7, 1): second,
        date(2026, 1, 1): second,
    }


def test_first_evaluation_under_a_new_model_records_a_model_change(
    acme: World, make_program: Callable[..., Program]
) -> None:
    first = make_program(version=1)
    revenue(acme, "70000")
    evaluate(acme, first, D0)
    second = make_program(version=2)
    assert evaluate(acme, second, D0 + timedelta(days=1)) == ChunkResult(evaluated=1, upgrades=0, downgrades=0)
    with tenant_context(acme.tenant):
        state = PartnerTier.objects.get(partner=acme.partner)
    assert state.tier_id == second.tiers["Gold"].pk
    assert moves(acme) == [
        (None, "Gold", "evaluation", D0),
        ("Gold", "Gold", "model_change", D0 + timedelta(days=1)),
    ]


# --- The tier's point multiplier ------------------------------------------------------------------------------


def test_point_multiplier_is_the_current_tiers_and_one_without_a_tier(acme: World, program: Program) -> None:
    with tenant_context(acme.tenant):
        assert partner_point_multiplier(partner=acme.partner) == Decimal(1)
    revenue(acme, "90000")
    evaluate(acme, program, D0)
    with tenant_context(acme.tenant):
        assert partner_point_multiplier(partner=acme.partner) == Decimal("1.50")
        assert partner_point_multiplier(partner=acme.unmanaged_partner) == Decimal(1)


def test_sale_approved_after_reaching_a_higher_tier_earns_the_tier_multiplier(acme: World, program: Program) -> None:
    multiplied = sales_rule(acme, name="Sales")  # 1 point per USD, applies the tier multiplier
    flat = sales_rule(acme, name="Flat bonus", applies_tier_multiplier=False)
    with tenant_context(acme.tenant):
        sale(acme.partner, at_noon(today() - timedelta(days=10)), "90000")  # a row: no points posted for it
    evaluate(acme, program, today())
    assert state_of(acme)[0] == "Platinum"  # ×1.50

    def approve(partner: Partner, external_id: str) -> list[tuple[int, int]]:
        with tenant_context(acme.tenant):
            recorded = activity_record(
                partner=partner,
                kind="sale",
                occurred_at=timezone.now() - timedelta(hours=1),
                source=Activity.Source.API,
                external_id=external_id,
                amount=Decimal(1000),
                currency="USD",
            ).activity
            activity_approve(activity=recorded, actor=acme.manager)
            return list(
                LedgerEntry.objects.filter(activity=recorded).order_by("pk").values_list("earning_rule_id", "points")
            )

    # 1,000 USD: 1,000 × 1.50 with the multiplying rule, 1,000 with the flat one; 1,000 each without a tier.
    assert approve(acme.partner, "INV-1") == [(multiplied.pk, 1500), (flat.pk, 1000)]
    assert approve(acme.unmanaged_partner, "INV-2") == [(multiplied.pk, 1000), (flat.pk, 1000)]
