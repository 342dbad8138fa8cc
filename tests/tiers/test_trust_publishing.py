"""Issue 17, items 2–5: scheduled models, simulation by rank, the shared validation rules, publishing that shows its
consequences and asks first. Each test failed before its fix.

The population (scores = revenue / 1,000 on the standard ladder 0 / 40 / 65 / 85, ×1 / 1.1 / 1.25 / 1.5):

    partner          revenue   v1 tier      points earned (at v1's multiplier)
    One (world)       90,000   Platinum     0
    Two (world)       70,000   Gold         1,250  (base 1,000 × 1.25)
    Three             45,000   Silver       1,100  (base 1,000 × 1.10)
    Four              50,000   Silver       0
    Five              10,000   Registered   500
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from loyalty.ledger.models import EntryKind
from loyalty.ledger.services import points_account_for, points_post
from loyalty.tenancy.context import tenant_context
from partners.models import Partner
from tests.conftest import World
from tests.factories import PartnerFactory
from tests.tiers.factories import revenue_program, sale, today
from tiers.engine import scorecard_load
from tiers.models import PartnerTier, Tier, TierModel
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_for, tier_model_publish
from tiers.simulation import NO_RANK, population_load, simulate, simulate_scorecard
from tiers.validation import model_problems

V2_TIERS = (("Registered", "0", "1.00"), ("Argent", "40", "1.20"), ("Gold", "75", "1.25"), ("Platinum", "85", "1.50"))


def run_nightly(on) -> None:  # noqa: ANN001
    tenant_evaluate(evaluated_on=on, dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk))


def earn(partner: Partner, points: int) -> None:
    points_post(
        account=points_account_for(partner=partner),
        kind=EntryKind.EARN,
        points=points,
        idempotency_key=f"test-earn-{partner.pk}-{points}",
        effective_at=timezone.now() - timedelta(days=5),
    )


@pytest.fixture
def population(acme: World) -> dict[str, Partner]:
    """Five partners with the table's revenue and earnings, evaluated tonight under the published v1."""
    with tenant_context(acme.tenant):
        partners = {"One": acme.partner, "Two": acme.unmanaged_partner}
        for name in ("Three", "Four", "Five"):
            partners[name] = PartnerFactory(tenant=acme.tenant, name=name, partner_type=acme.partner_type)
        for name, revenue in (("One", 90000), ("Two", 70000), ("Three", 45000), ("Four", 50000), ("Five", 10000)):
            sale(partners[name], today() - timedelta(days=10), str(revenue))
        for name, points in (("Two", 1250), ("Three", 1100), ("Five", 500)):
            earn(partners[name], points)
        tier_model_publish(model=revenue_program(version=1).model, actor=acme.manager)
        run_nightly(today())
    return partners


def held(world: World) -> dict[str, str]:
    with tenant_context(world.tenant):
        return dict(PartnerTier.objects.values_list("partner__name", "tier__name"))


# --- Item 2: a future-dated model is Scheduled ------------------------------------------------------------------


def test_item_2_future_dated_model_is_scheduled_and_the_one_in_force_stays_active(
    acme: World, population: dict[str, Partner], client_for
) -> None:
    """Issue 17 item 2: publishing a model effective next month schedules it; the model in force stays active
    (and its simulation unchanged) until the nightly run of that date switches them."""
    start = today() + timedelta(days=30)
    with tenant_context(acme.tenant):
        v1 = TierModel.objects.get(version=1)
        v2 = tier_model_publish(model=revenue_program(version=2, effective_from=start).model, actor=acme.manager)
        v1.refresh_from_db()
        assert (v1.status, v2.status) == (TierModel.Status.ACTIVE, TierModel.Status.SCHEDULED)
        assert tier_model_for(evaluated_on=today()) == v1
        assert tier_model_for(evaluated_on=start) == v2
        # The model in force, simulated after the publication, still sees every partner's current tier.
        result = simulate(model=v1, evaluated_on=today())
        assert NO_RANK not in result.current_distribution
        assert (result.movers, result.multiplier_cost_points) == ([], 0)
    listing = client_for(acme, acme.manager).get("/admin/tiers/tiermodel/").content.decode()
    assert "Scheduled" in listing
    assert "Active" in listing
    with tenant_context(acme.tenant):
        run_nightly(start - timedelta(days=1))
        assert TierModel.objects.get(pk=v2.pk).status == TierModel.Status.SCHEDULED
        run_nightly(start)
        run_nightly(start)  # a second run switches nothing more
        statuses = dict(TierModel.objects.values_list("version", "status"))
    assert statuses == {1: TierModel.Status.RETIRED, 2: TierModel.Status.ACTIVE}


def test_item_2_a_second_publication_sends_the_scheduled_model_back_to_draft(
    acme: World, population: dict[str, Partner]
) -> None:
    """Issue 17 item 2: one model waits at a time; publishing another supersedes the scheduled one."""
    with tenant_context(acme.tenant):
        v2 = tier_model_publish(
            model=revenue_program(version=2, effective_from=today() + timedelta(days=30)).model, actor=acme.manager
        )
        tier_model_publish(model=revenue_program(version=3, effective_from=today()).model, actor=acme.manager)
        statuses = dict(TierModel.objects.values_list("version", "status"))
        v2.refresh_from_db()
    assert statuses == {1: "retired", 2: "draft", 3: "active"}
    assert v2.published_at is None


# --- Item 3: simulation by rank, on a hand-computed example ---------------------------------------------------


def test_item_3_simulation_matches_tiers_by_rank_and_is_right_on_a_hand_computed_example(
    acme: World, population: dict[str, Partner]
) -> None:
    """Issue 17 item 3: renaming Silver to Argent drops no one from the matrix; movers and cost by hand.

    v2: Silver renamed Argent at ×1.20, Gold raised to 75. Two (70) goes Gold → Argent; nobody else moves.
    Cost: Two's 1,250 points are 1,000 at ×1.25 → (1.20 − 1.25) × 1,000 = −50; Three's 1,100 are 1,000 at ×1.10
    → (1.20 − 1.10) × 1,000 = +100; Five stays ×1. Total +50 points, at 0.01 a point 0.50.
    """
    assert held(acme) == {
        "Acme Partner One": "Platinum",
        "Acme Partner Two": "Gold",
        "Three": "Silver",
        "Four": "Silver",
        "Five": "Registered",
    }
    with tenant_context(acme.tenant):
        draft = revenue_program(version=2, tiers=V2_TIERS).model
        result = simulate(model=draft, evaluated_on=today())
    assert result.partners == 5
    assert sum(sum(row.values()) for row in result.matrix.values()) == 5
    assert {rank: dict(row) for rank, row in result.matrix.items()} == {4: {4: 1}, 3: {2: 1}, 2: {2: 2}, 1: {1: 1}}
    assert [(mover.partner_name, mover.current, mover.simulated, mover.direction) for mover in result.movers] == [
        ("Acme Partner Two", "Gold", "Argent", "down")
    ]
    assert (result.multiplier_cost_points, result.multiplier_cost_value) == (50, Decimal("0.50"))
    assert result.distribution_rows() == [
        ("Platinum", "Platinum", 1, 1),
        ("Gold", "Gold", 1, 0),
        ("Silver", "Argent", 2, 3),
        ("Registered", "Registered", 1, 1),
    ]
    assert result.matrix_rows()[2] == ("Silver", [0, 0, 2, 0], 2)


def test_item_3_matrix_sums_to_the_partner_count_whatever_the_ladder(
    acme: World, population: dict[str, Partner]
) -> None:
    """Issue 17 item 3: fewer tiers, partners without a tier, renamed tiers: every partner is in one cell."""
    with tenant_context(acme.tenant):
        PartnerTier.objects.filter(partner=population["Four"]).delete()  # no tier yet
        two_tiers = revenue_program(version=2, tiers=(("Base", "10", "1"), ("Top", "60", "2"))).model
        population_now = population_load(model=two_tiers, evaluated_on=today())
        result = simulate_scorecard(scorecard=scorecard_load(model=two_tiers), population=population_now)
    assert sum(sum(row.values()) for row in result.matrix.values()) == result.partners == 5
    assert sum(total for _name, _counts, total in result.matrix_rows()) == 5
    assert result.current_distribution[NO_RANK] == 1


# --- Item 4: nonsense models are refused, on save and on publish; multiplier 0 never crashes -----------------


def test_item_4_a_tier_with_multiplier_zero_does_not_crash_the_simulation(
    acme: World, population: dict[str, Partner]
) -> None:
    """Issue 17 item 4: the simulation divided by the current multiplier; a tier at ×0 raised DivisionByZero."""
    with tenant_context(acme.tenant):
        Tier.objects.filter(model__version=1, rank=1).update(point_multiplier=Decimal(0))  # Five holds it
        result = simulate(model=revenue_program(version=2).model, evaluated_on=today())
    assert result.unpriced_partners == 1  # Five's 500 points have no base at ×0: said, not divided by 0
    assert result.multiplier_cost_points == 0


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        (
            (("Registered", "0", "1"), ("Silver", "90", "1.1"), ("Gold", "60", "1.25")),
            "Gold needs a higher minimum score than Silver (90).",
        ),
        (
            (("Registered", "0", "1"), ("Silver", "40", "1.5"), ("Gold", "60", "1.25")),
            "Gold's point multiplier is below Silver's (1.5).",
        ),
    ],
)
def test_item_4_nonsense_ladders_are_refused_on_publish(acme: World, tiers: tuple, message: str) -> None:
    """Issue 17 item 4: minimum scores strictly increase with rank, multipliers never decrease (publish)."""
    with tenant_context(acme.tenant):
        draft = revenue_program(tiers=tiers).model
        with pytest.raises(ValidationError) as error:
            tier_model_publish(model=draft, actor=acme.manager)
        assert message in error.value.messages
        assert TierModel.objects.get(pk=draft.pk).status == TierModel.Status.DRAFT


def test_item_4_nonsense_ladder_is_refused_on_save_in_the_admin(acme: World, client_for) -> None:
    """Issue 17 item 4: Silver 90 above Gold 60 was saved from the admin's inline rows."""
    with tenant_context(acme.tenant):
        program = revenue_program()
        draft = program.model
    client = client_for(acme, acme.manager)
    page = client.get(f"/admin/tiers/tiermodel/{draft.pk}/change/")
    data = _form_data(page)
    data["tiers-1-minimum_score"] = "90"  # Silver above Gold (65)
    response = client.post(f"/admin/tiers/tiermodel/{draft.pk}/change/", data)
    assert response.status_code == 200
    assert "Gold needs a higher minimum score than Silver (90)." in response.content.decode()
    with tenant_context(acme.tenant):
        assert Tier.objects.get(pk=program.tiers["Silver"].pk).minimum_score == 40


def test_item_4_gates_metrics_and_left_out_partner_types_are_checked(acme: World) -> None:
    """Issue 17 item 4: a gate on a metric that does not exist is refused; a partner type no pathway admits is
    named (a warning: those partners stay on the entry tier)."""
    with tenant_context(acme.tenant):
        program = revenue_program()
        program.tiers["Gold"].gates.create(label="Magic", metric="magic", minimum=Decimal(1))
        program.pathway.partner_types.set([acme.partner_type])
        PartnerFactory(tenant=acme.tenant, partner_type__code="installer", partner_type__name="Installer")
        problems = model_problems(model=program.model)
    assert [(problem.message, problem.blocking) for problem in problems] == [
        ("Gate Magic of Gold measures magic, which is not a metric.", True),
        ("No pathway admits partners of type Installer: they score 0 and stay on the entry tier.", False),
    ]


# --- Item 5: publish shows its consequences, asks, and never discards the form ------------------------------


def _form_data(page) -> dict[str, str]:  # noqa: ANN001
    """The change form's fields as the browser would post them."""
    form = page.context["adminform"].form
    data = {name: "" if value is None else str(value) for name, value in form.initial.items() if name in form.fields}
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        data |= {f"{management.prefix}-{name}": str(value) for name, value in management.initial.items()}
        for inline_form in formset.formset.forms:
            for name, field in inline_form.fields.items():
                value = inline_form.initial.get(name, field.initial)
                if value is None or name == "partner_types":
                    continue
                data[inline_form.add_prefix(name)] = str(value.pk if hasattr(value, "pk") else value)
    data["effective_from"] = str(form.initial["effective_from"])
    return data


def test_item_5_publish_saves_the_form_shows_who_moves_and_asks_to_confirm(
    acme: World, population: dict[str, Partner], client_for
) -> None:
    """Issue 17 item 5: typed Silver = 36 and clicked Publish; v2 went live at once with 35. Now the typed value is
    saved, the page says who moves and when, and nothing is published until confirmed."""
    with tenant_context(acme.tenant):
        draft = revenue_program(version=2, effective_from=today() + timedelta(days=30)).model
    client = client_for(acme, acme.manager)
    data = _form_data(client.get(f"/admin/tiers/tiermodel/{draft.pk}/change/"))
    data["tiers-1-minimum_score"] = "46"  # Silver at 46: Three (45) drops to Registered
    data["_publish"] = "Save and publish…"
    response = client.post(f"/admin/tiers/tiermodel/{draft.pk}/change/", data)
    assert response.status_code == 302
    assert response.url.endswith(f"/{draft.pk}/publish/")
    with tenant_context(acme.tenant):
        assert Tier.objects.get(model=draft, rank=2).minimum_score == 46  # saved, not discarded
        assert TierModel.objects.get(pk=draft.pk).status == TierModel.Status.DRAFT  # not published yet
    page = client.get(response.url).content.decode()
    assert "Scheduled" in page
    assert "1 partner would move" in page
    assert "Three" in page
    assert "Confirm: schedule this model" in page
    assert client.post(f"/admin/tiers/tiermodel/{draft.pk}/publish/").status_code == 200  # no confirmation: asks
    with tenant_context(acme.tenant):
        assert TierModel.objects.get(pk=draft.pk).status == TierModel.Status.DRAFT
    confirmed = client.post(f"/admin/tiers/tiermodel/{draft.pk}/publish/", {"confirm": "2"}, follow=True)
    assert "is scheduled" in str(list(confirmed.context["messages"])[0])
    again = client.post(f"/admin/tiers/tiermodel/{draft.pk}/publish/", {"confirm": "2"}, follow=True)
    assert "already published" in str(list(again.context["messages"])[0])  # a repeat is harmless
    with tenant_context(acme.tenant):
        assert TierModel.objects.get(pk=draft.pk).status == TierModel.Status.SCHEDULED
