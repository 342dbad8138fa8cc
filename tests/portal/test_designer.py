"""The program designer: a draft copied from the model in force, edited as typed rows, checked by tiers.validation
and re-simulated at each change; roles, tenants, queries and Spanish.

The population is the program dashboard's (tests/portal/test_program.py): the revenue program (score = revenue
of the last 12 months / 1,000; Silver 40, Gold 65, Platinum 85) and, as held today,

    Alpha 60.00 Silver · Bravo 70.00 Gold · Charlie 0.00 Gold (in grace) · Delta 70.00 Gold · Echo 0.00 Registered
"""

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.formats import date_format

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry, Role
from partners.models import Partner, PartnerType
from tests.conftest import World
from tests.portal.test_program import Fixture, add_partners, build_program
from tiers.designer import designer_populations_forget
from tiers.models import Criterion, Tier, TierBenefit, TierModel
from tiers.services import partner_tier_pin

HOME = "/program/designer/"
START = "/program/designer/start/"


@pytest.fixture
def program(acme: World) -> Fixture:
    return build_program(acme)


@pytest.fixture(autouse=True)
def _fresh_populations() -> Iterator[None]:
    """The designer keeps populations in the process between requests: each test starts without one."""
    designer_populations_forget()
    yield
    designer_populations_forget()


def draft_url(model: TierModel) -> str:
    return f"/program/designer/{model.pk}/"


def start(client_for, fixture: Fixture) -> TierModel:
    response = client_for(fixture.world, fixture.world.manager).post(START)
    assert response.status_code == 302
    with tenant_context(fixture.world.tenant):
        draft = TierModel.objects.get(status=TierModel.Status.DRAFT)
    assert response["Location"] == draft_url(draft)
    return draft


def form_data(draft: TierModel, **changes: str) -> dict[str, str]:
    """The form as the page posts it for the saved draft (tiers lowest first, each with its benefits and gates;
    criteria with their metric; each pathway's partner types), with `changes` by field name."""
    with tenant_context(draft.tenant):
        tiers = list(draft.tiers.order_by("rank").prefetch_related("benefits", "gates"))
        criteria = list(Criterion.objects.filter(pathway__model=draft).order_by("pathway_id", "pk"))
        pathways = {
            pathway.pk: [str(pk) for pk in pathway.partner_types.values_list("pk", flat=True)]
            for pathway in draft.pathways.all()
        }
        revision = TierModel.objects.values_list("revision", flat=True).get(pk=draft.pk)
    data = {"tiers": str(len(tiers)), "criteria": str(len(criteria)), "action": "preview", "revision": str(revision)}
    for index, tier in enumerate(tiers):
        prefix = f"tier-{index}"
        data |= {
            f"{prefix}-tier_id": str(tier.pk),
            f"{prefix}-name": tier.name,
            f"{prefix}-minimum_score": str(tier.minimum_score),
            f"{prefix}-point_multiplier": str(tier.point_multiplier),
            f"{prefix}-colour": tier.colour,
            f"{prefix}-benefits": str(len(tier.benefits.all())),
            f"{prefix}-gates": str(len(tier.gates.all())),
        }
        for position, benefit in enumerate(tier.benefits.all()):
            data |= {
                f"{prefix}-benefit-{position}-kind": benefit.kind,
                f"{prefix}-benefit-{position}-value": "" if benefit.value is None else str(benefit.value),
                f"{prefix}-benefit-{position}-currency": benefit.currency,
                f"{prefix}-benefit-{position}-text": benefit.text,
            }
        for position, gate in enumerate(sorted(tier.gates.all(), key=lambda gate: gate.pk)):
            data |= {
                f"{prefix}-gate-{position}-label": gate.label,
                f"{prefix}-gate-{position}-metric": gate.metric,
                f"{prefix}-gate-{position}-activity_kind": gate.activity_kind,
                f"{prefix}-gate-{position}-code": gate.code,
                f"{prefix}-gate-{position}-minimum": str(gate.minimum),
            }
    for index, criterion in enumerate(criteria):
        data |= {
            f"criterion-{index}-criterion_id": str(criterion.pk),
            f"criterion-{index}-pathway_id": str(criterion.pathway_id),
            f"criterion-{index}-label": criterion.label,
            f"criterion-{index}-metric": criterion.metric,
            f"criterion-{index}-activity_kind": criterion.activity_kind,
            f"criterion-{index}-code": criterion.code,
            f"criterion-{index}-weight": str(criterion.weight),
            f"criterion-{index}-target": str(criterion.target),
            f"criterion-{index}-cap": str(criterion.cap),
        }
    for pk, type_ids in pathways.items():
        data[f"pathway-{pk}-shown"] = "1"
        if type_ids:
            data[f"pathway-{pk}-partner_types"] = type_ids[0] if len(type_ids) == 1 else type_ids
    return data | changes


# Tiers lowest first: tier-0 Registered, tier-1 Silver, tier-2 Gold, tier-3 Platinum.
GOLD = "tier-2"


def test_start_copies_the_model_in_force_once(program: Fixture, client_for) -> None:
    with tenant_context(program.world.tenant):
        source = program.program.model
        source.refresh_from_db()
        gold = Tier.objects.get(model=source, name="Gold")
        TierBenefit.objects.create(tier=gold, kind="rebate_rate", value=Decimal(3))
    draft = start(client_for, program)
    # A second start (a double click, a reload) reopens the same draft.
    assert start(client_for, program) == draft
    with tenant_context(program.world.tenant):
        assert TierModel.objects.count() == 2
        assert draft.copied_from_id == source.pk
        assert draft.version == source.version + 1
        assert [(tier.name, tier.rank, tier.minimum_score) for tier in draft.tiers.order_by("rank")] == [
            (tier.name, tier.rank, tier.minimum_score) for tier in source.tiers.order_by("rank")
        ]
        copied_gold = draft.tiers.get(name="Gold")
        assert [(benefit.kind, benefit.value) for benefit in copied_gold.benefits.all()] == [
            ("rebate_rate", Decimal("3.00"))
        ]
        assert list(Criterion.objects.filter(pathway__model=draft).values_list("label", "weight", "target")) == [
            ("Revenue", Decimal("1.00"), Decimal("100000.00"))
        ]
        source.refresh_from_db()
        assert source.status == TierModel.Status.ACTIVE


def test_home_offers_to_continue_the_draft(program: Fixture, client_for) -> None:
    client = client_for(program.world, program.world.manager)
    assert "Start a draft from the model in force" in client.get(HOME).content.decode()
    draft = start(client_for, program)
    page = client.get(HOME).content.decode()
    assert f"Continue draft v{draft.version}" in page
    assert draft_url(draft) in page


def test_the_copy_moves_only_the_partner_whose_score_fell(program: Fixture, client_for) -> None:
    """Same thresholds as in force: only Charlie (held in grace at Gold with a score of 0) would move."""
    draft = start(client_for, program)
    response = client_for(program.world, program.world.manager).get(draft_url(draft))
    assert response.status_code == 200
    result = response.context["workspace"].result
    assert result.partners == 5
    assert [(mover.partner_name, mover.current, mover.simulated) for mover in result.movers] == [
        ("Charlie", "Gold", "Registered")
    ]
    assert [row.why for row in response.context["workspace"].movers] == ["Score 0.00 is below Gold's minimum of 65."]


def pin_charlie(program: Fixture, tier_name: str) -> None:
    with tenant_context(program.world.tenant):
        charlie = Partner.objects.get(name="Charlie")
        tier = Tier.objects.get(model=program.program.model, name=tier_name)
        until = timezone.localdate() + timedelta(days=30)
        partner_tier_pin(partner=charlie, tier=tier, until=until, reason="Audit", actor=program.world.manager)


def test_a_tier_moved_since_the_page_was_read_is_compared_afresh(program: Fixture, client_for) -> None:
    """The population is kept between requests, but not past a move of a tier held: after Charlie drops to
    Registered (here a pin; a nightly run or a new model's first run alike), the draft moves no one, as the
    publish page says (it read "1 partner would move" on one worker and "0" on the other)."""
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    assert len(client.get(draft_url(draft)).context["workspace"].result.movers) == 1
    pin_charlie(program, "Registered")
    assert client.get(draft_url(draft)).context["workspace"].result.movers == []
    assert "0 partners would move" in client.get(f"{draft_url(draft)}publish/").content.decode()


def test_a_pinned_partner_is_held_in_the_preview_and_said_so(program: Fixture, client_for) -> None:
    """Charlie, pinned at the Gold it holds, does not move when the model changes (`tier_decide`): the preview and
    the publish page counted it as moving. A pin at the tier held writes no TierChange, so the kept population
    reads the pins afresh."""
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    assert len(client.get(draft_url(draft)).context["workspace"].result.movers) == 1
    pin_charlie(program, "Gold")
    response = client.get(draft_url(draft))
    assert response.context["workspace"].result.movers == []
    assert "0 up, 0 down. 1 partner held by a pin." in " ".join(response.content.decode().split())
    publish_page = client.get(f"{draft_url(draft)}publish/").content.decode()
    assert "0 partners would move" in publish_page
    assert "1 partner held by a pin." in publish_page
    program.world.manager.language = "es"
    program.world.manager.save(update_fields=["language"])
    assert "1 socio retenido por una fijación." in client.get(draft_url(draft)).content.decode()


def test_moving_gold_up_re_simulates_without_saving(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    partial = client.post(
        draft_url(draft), form_data(draft, **{f"{GOLD}-minimum_score": "75"}), HTTP_HX_REQUEST="true"
    ).content.decode()
    # htmx gets the what-if panel first, then the problems and shares out of band.
    assert partial.lstrip().startswith('<section id="what-if"')
    assert "Score 70.00 is below Gold&#x27;s minimum of 75." in partial
    response = client.post(draft_url(draft), form_data(draft, **{f"{GOLD}-minimum_score": "75"}))
    assert response.status_code == 200
    result = response.context["workspace"].result
    assert sorted((mover.partner_name, mover.simulated) for mover in result.movers) == [
        ("Bravo", "Silver"),
        ("Charlie", "Registered"),
        ("Delta", "Silver"),
    ]
    # Ranks, highest first: Platinum, Gold, Silver, Registered.
    assert [(row.name, row.now, row.draft) for row in response.context["distribution"]] == [
        ("Platinum", 0, 0),
        ("Gold", 3, 0),
        ("Silver", 1, 3),
        ("Registered", 1, 2),
    ]
    assert sum(sum(counts) for _name, counts, _total in result.matrix_rows()) == 5
    with tenant_context(program.world.tenant):
        assert draft.tiers.get(name="Gold").minimum_score == Decimal("65.00")


def test_a_broken_ladder_is_said_beside_the_tier_and_not_saved(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    data = form_data(draft, **{f"{GOLD}-minimum_score": "30"})
    preview = client.post(draft_url(draft), data, HTTP_HX_REQUEST="true").content.decode()
    # The problem comes back out of band into Gold's row (tier-2 is rank 3).
    assert '<div id="tier-2-problems" class="problems" aria-live="polite" hx-swap-oob="true">' in preview
    assert "Gold needs a higher minimum score than Silver (40)." in preview
    response = client.post(draft_url(draft), data | {"action": "save"})
    assert response.status_code == 400
    assert "The draft was not saved: fix the marked fields first." in response.content.decode()
    with tenant_context(program.world.tenant):
        assert draft.tiers.get(name="Gold").minimum_score == Decimal("65.00")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (f"{GOLD}-minimum_score", "abc", "Enter a number."),
        (f"{GOLD}-minimum_score", "101", "Ensure this value is less than or equal to 100."),
        (f"{GOLD}-colour", "gold", "A colour is # and six hexadecimal digits."),
        ("criterion-0-weight", "0", "Ensure this value is greater than or equal to 0.01."),
        ("tiers", "many", ""),
        (f"{GOLD}-minimum_score", "1e400", "Ensure this value is less than or equal to 100."),
        (f"{GOLD}-point_multiplier", "99999999999999999999", "Ensure that there are no more than 4 digits in total."),
        (f"{GOLD}-name", "Gold\x00", "Null characters are not allowed."),
        (f"{GOLD}-name", "x" * 101, "Ensure this value has at most 100 characters"),
        ("criterion-0-target", "1" * 30, "Ensure that there are no more than 16 digits in total."),
        ("criterion-0-metric", "bogus", "Select a valid choice."),
        ("criterion-0-label", "", "This field is required."),
    ],
)
def test_bad_input_is_a_field_error_never_a_500(program: Fixture, client_for, field, value, message) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    response = client.post(draft_url(draft), form_data(draft, **{field: value}) | {"action": "save"})
    assert response.status_code == 400
    assert message in response.content.decode()
    with tenant_context(program.world.tenant):
        assert draft.tiers.get(name="Gold").minimum_score == Decimal("65.00")


def test_save_writes_the_typed_draft_and_leaves_the_model_in_force(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    data = form_data(
        draft,
        **{
            f"{GOLD}-minimum_score": "75",
            f"{GOLD}-point_multiplier": "1.3",
            f"{GOLD}-colour": "#d4af37",
            f"{GOLD}-name": "Gold Plus",
            "criterion-0-target": "120000",
            f"{GOLD}-benefits": "1",
            f"{GOLD}-benefit-0-kind": "support_level",
            f"{GOLD}-benefit-0-value": "",
            f"{GOLD}-benefit-0-currency": "",
            f"{GOLD}-benefit-0-text": "Priority support",
        },
    )
    response = client.post(draft_url(draft), data | {"action": "save"})
    assert response.status_code == 302
    with tenant_context(program.world.tenant):
        gold = draft.tiers.get(rank=3)
        assert (gold.name, gold.minimum_score, gold.point_multiplier, gold.colour) == (
            "Gold Plus",
            Decimal("75.00"),
            Decimal("1.30"),
            "#d4af37",
        )
        assert [(benefit.kind, benefit.text) for benefit in gold.benefits.all()] == [
            ("support_level", "Priority support")
        ]
        assert Criterion.objects.get(pathway__model=draft).target == Decimal("120000.00")
        in_force = program.program.model
        assert in_force.tiers.get(rank=3).minimum_score == Decimal("65.00")
        assert not TierBenefit.objects.filter(tier__model=in_force).exists()


def test_a_second_tab_does_not_save_over_the_first(program: Fixture, client_for) -> None:
    """Two tabs (or two managers) open the same draft; the first saves. The second's save is refused, says why,
    keeps what it typed on screen and writes nothing; after a reload it saves."""
    draft = start(client_for, program)
    first, second = (client_for(program.world, program.world.manager) for _tab in range(2))
    first_page = form_data(draft, **{f"{GOLD}-minimum_score": "70"})
    second_page = form_data(draft, **{f"{GOLD}-minimum_score": "80"})
    assert first.post(draft_url(draft), first_page | {"action": "save"}).status_code == 302
    for action in ("save", "publish"):
        refused = second.post(draft_url(draft), second_page | {"action": action})
        assert refused.status_code == 409
        page = refused.content.decode()
        assert "Your changes were not saved: this draft was saved elsewhere" in page
        assert f'href="{draft_url(draft)}">Open the saved version</a>' in page
        assert 'value="80"' in page or 'value="80.00"' in page  # what this tab typed is still there
    with tenant_context(program.world.tenant):
        assert draft.tiers.get(rank=3).minimum_score == Decimal("70.00")
        assert TierModel.objects.get(pk=draft.pk).status == TierModel.Status.DRAFT  # not published either
    reloaded = form_data(draft, **{f"{GOLD}-minimum_score": "80"})  # the page as a reload shows it
    assert reloaded["revision"] == "1"
    assert second.post(draft_url(draft), reloaded | {"action": "save"}).status_code == 302
    with tenant_context(program.world.tenant):
        assert draft.tiers.get(rank=3).minimum_score == Decimal("80.00")


def test_the_same_save_sent_twice_saves_once_and_is_no_clash(program: Fixture, client_for) -> None:
    """A double click, or back and resubmit: the second request carries the same revision and content."""
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    data = form_data(draft, **{f"{GOLD}-minimum_score": "72"}) | {"action": "save"}
    assert [client.post(draft_url(draft), data).status_code for _click in range(2)] == [302, 302]
    with tenant_context(program.world.tenant):
        saved = TierModel.objects.get(pk=draft.pk)
        assert (saved.revision, draft.tiers.get(rank=3).minimum_score) == (1, Decimal("72.00"))


def test_the_page_shows_the_revision_it_was_opened_at_through_previews(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    assert 'name="revision" value="0"' in client.get(draft_url(draft)).content.decode()
    with tenant_context(program.world.tenant):
        TierModel.objects.filter(pk=draft.pk).update(revision=5)  # saved elsewhere meanwhile
    # A preview re-renders the page with what is typed: it keeps saving onto the revision it was opened at.
    preview = client.post(draft_url(draft), form_data(draft) | {"revision": "0"})
    assert preview.status_code == 200
    assert 'name="revision" value="0"' in preview.content.decode()


@pytest.mark.parametrize("revision", [None, "", "abc", "-1", "1e3", "\x00", "٣", "9" * 40])
def test_a_save_without_a_revision_it_can_trust_writes_nothing(program: Fixture, client_for, revision) -> None:
    draft = start(client_for, program)
    data = form_data(draft, **{f"{GOLD}-minimum_score": "72"}) | {"action": "save"}
    if revision is None:
        del data["revision"]
    else:
        data["revision"] = revision
    response = client_for(program.world, program.world.manager).post(draft_url(draft), data)
    assert response.status_code == 409
    with tenant_context(program.world.tenant):
        assert draft.tiers.get(rank=3).minimum_score == Decimal("65.00")
        assert TierModel.objects.get(pk=draft.pk).revision == 0


def test_a_change_in_the_admin_counts_as_a_save_of_the_draft(acme: World, client_for) -> None:
    """The admin edits drafts too: a designer page opened before its change no longer saves onto the draft."""
    with tenant_context(acme.tenant):
        model = TierModel.objects.create(name="Scorecard", version=2, effective_from=timezone.localdate())
    data = {
        "name": "Scorecard 2027", "version": model.version, "effective_from": model.effective_from.isoformat(),
        "window": model.window, "fiscal_year_start_month": model.fiscal_year_start_month,
        "downgrade": model.downgrade, "grace_days": model.grace_days,
        "tiers-TOTAL_FORMS": 1, "tiers-INITIAL_FORMS": 0, "tiers-0-rank": 1, "tiers-0-name": "Silver",
        "tiers-0-minimum_score": "40", "tiers-0-point_multiplier": "1.10", "tiers-0-colour": "#999999",
        "pathways-TOTAL_FORMS": 0, "pathways-INITIAL_FORMS": 0,
    }  # fmt: skip
    response = client_for(acme, acme.manager).post(f"/admin/tiers/tiermodel/{model.pk}/change/", data)
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        silver = Tier.objects.get(model=model)
        assert TierModel.objects.get(pk=model.pk).revision == 1
    assert (
        client_for(acme, acme.manager).post(f"/admin/tiers/tier/{silver.pk}/delete/", {"post": "yes"}).status_code
        == 302
    )
    with tenant_context(acme.tenant):
        assert TierModel.objects.get(pk=model.pk).revision == 2


def test_arrows_swap_ranks_and_the_ladder_rule_speaks(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    response = client.post(draft_url(draft), form_data(draft) | {"action": "up:1"})  # Silver above Gold
    assert response.status_code == 200
    tiers = response.context["workspace"].tiers
    assert [tier.form["name"].value() for tier in tiers] == ["Registered", "Gold", "Silver", "Platinum"]
    assert "Silver needs a higher minimum score than Gold (65)." in response.content.decode()
    # Moving it back and saving keeps the ranks as they were; a swap that breaks no rule is saved.
    data = form_data(draft, **{"tier-1-minimum_score": "70", "tier-2-minimum_score": "40"}) | {"action": "up:1"}
    client.post(draft_url(draft), data)
    swapped = client.post(draft_url(draft), _swapped(draft) | {"action": "save"})
    assert swapped.status_code == 302
    with tenant_context(program.world.tenant):
        assert list(draft.tiers.order_by("rank").values_list("name", "minimum_score")) == [
            ("Registered", Decimal("0.00")),
            ("Gold", Decimal("40.00")),
            ("Silver", Decimal("70.00")),
            ("Platinum", Decimal("85.00")),
        ]


def _swapped(draft: TierModel) -> dict[str, str]:
    """The form with Gold and Silver swapped (Gold at rank 2 with 40, Silver at rank 3 with 70)."""
    data = form_data(draft)
    silver = {key[len("tier-1-") :]: value for key, value in data.items() if key.startswith("tier-1-")}
    gold = {key[len("tier-2-") :]: value for key, value in data.items() if key.startswith("tier-2-")}
    data |= {f"tier-1-{key}": value for key, value in gold.items()}
    data |= {f"tier-2-{key}": value for key, value in silver.items()}
    data |= {"tier-1-minimum_score": "40", "tier-2-minimum_score": "70", "tier-2-point_multiplier": "1.25"}
    data["tier-1-point_multiplier"] = "1.10"
    return data


def test_benefits_are_added_and_removed_as_rows(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    response = client.post(draft_url(draft), form_data(draft) | {"action": "add-benefit:2"})
    gold = response.context["workspace"].tiers[2]
    assert len(gold.benefits) == 1
    # An empty "other benefit" says what is missing.
    assert "Benefit 1: Say what the benefit is." in response.content.decode()
    data = form_data(
        draft,
        **{
            f"{GOLD}-benefits": "2",
            f"{GOLD}-benefit-0-kind": "text",
            f"{GOLD}-benefit-0-text": "Keep",
            f"{GOLD}-benefit-1-kind": "text",
            f"{GOLD}-benefit-1-text": "Drop",
        },
    )
    response = client.post(draft_url(draft), data | {"action": "remove-benefit:2:1"})
    assert [benefit.form["text"].value() for benefit in response.context["workspace"].tiers[2].benefits] == ["Keep"]


def test_weights_are_shown_as_shares_of_100(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    with tenant_context(program.world.tenant):
        pathway = draft.pathways.get()
        Criterion.objects.create(
            pathway=pathway, label="Deals", metric="deal_registrations", weight=Decimal(3), target=Decimal(10)
        )
    response = client_for(program.world, program.world.manager).post(
        draft_url(draft), form_data(draft), HTTP_HX_REQUEST="true"
    )
    page = response.content.decode()
    assert 'hx-swap-oob="true">25.0 %</output>' in page
    assert 'hx-swap-oob="true">75.0 %</output>' in page


def test_yearly_multiplier_cost_in_points_and_money(program: Fixture, client_for) -> None:
    """Bravo and Delta (Gold, ×1.25) each earned 1,250 points; at Silver's ×1.10 they would earn 1,100."""
    from tests.rewards.factories import give_points

    tenant = program.world.tenant
    tenant.point_value = Decimal("0.01")
    tenant.save(update_fields=["point_value"])
    with tenant_context(tenant):
        give_points(program.bravo, 1250, "bravo", days_ago=10)
        give_points(program.delta, 1250, "delta", days_ago=10)
    draft = start(client_for, program)
    response = client_for(program.world, program.world.manager).post(
        draft_url(draft), form_data(draft, **{f"{GOLD}-minimum_score": "75"})
    )
    result = response.context["workspace"].result
    assert (result.multiplier_cost_points, result.multiplier_cost_value) == (-300, Decimal("-3.00"))
    assert "-300 points (-3.00 USD) a year" in response.content.decode()


def test_anonymous_visitor_is_sent_to_sign_in(program: Fixture, client_for) -> None:
    response = client_for(program.world).get(HOME)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={HOME}"


@pytest.mark.parametrize("role", [Role.PROGRAM_MANAGER, Role.OWNER])
def test_program_managers_and_owners_design(program: Fixture, client_for, role: Role) -> None:
    client = client_for(program.world, program.world.user_for(role))
    assert client.get(HOME).status_code == 200
    draft = start(client_for, program)
    assert client.get(draft_url(draft)).status_code == 200


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER])
def test_other_roles_are_refused_and_nothing_is_written(program: Fixture, client_for, role: Role) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.user_for(role))
    for response in (
        client.get(HOME),
        client.post(START),
        client.get(draft_url(draft)),
        client.post(draft_url(draft), form_data(draft, **{f"{GOLD}-minimum_score": "75"}) | {"action": "save"}),
    ):
        assert response.status_code == 403
        assert b"Charlie" not in response.content
    with tenant_context(program.world.tenant):
        assert TierModel.objects.count() == 2
        assert draft.tiers.get(name="Gold").minimum_score == Decimal("65.00")


def test_outsider_and_another_tenants_staff_are_refused(program: Fixture, globex: World, outsider, client_for) -> None:
    draft = start(client_for, program)
    for user in (outsider, globex.owner, globex.manager):
        client = client_for(program.world, user)
        assert client.get(HOME).status_code == 403
        assert client.get(draft_url(draft)).status_code == 403


def test_another_tenants_draft_is_not_found(program: Fixture, globex: World, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(globex, globex.manager)
    assert client.get(draft_url(draft)).status_code == 404
    response = client.post(draft_url(draft), form_data(draft, **{f"{GOLD}-minimum_score": "75"}) | {"action": "save"})
    assert response.status_code == 404
    with tenant_context(program.world.tenant):
        assert draft.tiers.get(name="Gold").minimum_score == Decimal("65.00")


def test_a_published_model_is_not_edited_here(program: Fixture, client_for) -> None:
    """Back or reload after publishing, or a tab left open: the designer says what became of the model."""
    client = client_for(program.world, program.world.manager)
    response = client.get(draft_url(program.program.model), follow=True)
    assert response.redirect_chain == [(HOME, 302)]
    assert "is now the active model" in response.content.decode()
    typed = client.post(draft_url(program.program.model), {"action": "preview"}, HTTP_HX_REQUEST="true")
    assert (typed.status_code, typed["HX-Redirect"]) == (200, HOME)


def test_query_count_does_not_grow_with_partners(program: Fixture, client_for, django_assert_max_num_queries) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    client.get(draft_url(draft))  # warm the session
    designer_populations_forget()
    # tenant by host, session, user, membership; the draft; scorecard (tiers, gates, pathways, types, criteria);
    # rows (tiers, benefits, criteria); criteria with pathways; model in force (scheduled, active); population
    # (tier states, partners, points earned, metric values); notifications and program count for the header.
    with django_assert_max_num_queries(26) as small:
        client.get(draft_url(draft))
    add_partners(program, 60)
    designer_populations_forget()
    with django_assert_max_num_queries(26) as large:
        response = client.get(draft_url(draft))
    assert response.context["workspace"].result.partners == 65
    assert len(large.captured_queries) == len(small.captured_queries)


def test_a_change_re_scores_in_memory_without_reading_metrics_again(
    program: Fixture, client_for, django_assert_max_num_queries
) -> None:
    """Metrics do not change while thresholds do: after the first load, a change reads no partner, activity or
    ledger row, and a threshold change reuses the scores of the same criteria."""
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    first = client.post(draft_url(draft), form_data(draft))
    population_scored = first.context["workspace"].result.scores
    data = form_data(draft, **{f"{GOLD}-minimum_score": "75"})
    with django_assert_max_num_queries(20) as change:
        response = client.post(draft_url(draft), data)
    # Only the pins are read again (a pin at the tier held moves nothing a TierChange would show).
    read = " ".join(
        query["sql"] for query in change.captured_queries if '"pinned_tier_id" IS NOT NULL' not in query["sql"]
    )
    for table in ('"partners_partner"', '"partners_activity"', '"ledger_ledgerentry"', '"tiers_partnertier"'):
        assert f"FROM {table}" not in read
    assert response.context["workspace"].result.scores is population_scored
    assert len(response.context["workspace"].result.movers) == 3
    # A criterion change re-scores (new scores) from the same metric values.
    response = client.post(draft_url(draft), form_data(draft, **{"criterion-0-target": "50000"}))
    assert response.context["workspace"].result.scores is not population_scored
    # Target 50,000, cap 1: Alpha (60,000), Bravo and Delta (70,000) reach 100; Charlie and Echo sold nothing lately.
    assert sorted(response.context["workspace"].result.scores) == [0, 0, 100, 100, 100]


def test_read_again_picks_up_new_partners(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    assert client.get(draft_url(draft)).context["workspace"].result.partners == 5
    with tenant_context(program.world.tenant):  # not scored yet: no tier held has moved, the page keeps what it read
        for index in range(3):
            Partner.objects.create(
                external_id=f"NEW-{index}", name=f"New {index}", partner_type=program.world.partner_type
            )
    assert client.post(draft_url(draft), form_data(draft)).context["workspace"].result.partners == 5
    response = client.post(draft_url(draft), form_data(draft) | {"action": "reread"})
    assert response.context["workspace"].result.partners == 8


def test_suggested_thresholds_are_marked_on_the_sliders_and_applied(program: Fixture, client_for) -> None:
    """Scores today: 0, 0, 60, 70, 70 (sorted). Percentiles for four tiers: half at or above Silver, a quarter at or
    above Gold, an eighth at or above Platinum: the scores at 1/2, 3/4 and 7/8 of the way: 60, 70, 70."""
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    response = client.get(draft_url(draft))
    result = response.context["workspace"].result
    assert result.percentile_thresholds == [Decimal("60.00"), Decimal("70.00"), Decimal("70.00")]
    page = response.content.decode()
    assert '<datalist id="tier-2-marks">' in page
    assert f'<option value="70.00"></option><option value="{result.natural_break_thresholds[1]}"></option>' in page
    assert 'list="tier-2-marks"' in page
    applied = client.post(draft_url(draft), form_data(draft) | {"action": "apply:percentiles"})
    assert [tier.form["minimum_score"].value() for tier in applied.context["workspace"].tiers] == [
        "0.00",
        "60",
        "70",
        "70",
    ]
    # Two tiers at 70 break the ladder: said beside Platinum, nothing saved.
    assert "Platinum needs a higher minimum score than Gold (70)." in applied.content.decode()
    with tenant_context(program.world.tenant):
        assert draft.tiers.get(name="Silver").minimum_score == Decimal("40.00")


def test_the_designer_speaks_spanish(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    manager = program.world.manager
    manager.language = "es"
    manager.save(update_fields=["language"])
    client = client_for(program.world, manager)
    home = client.get(HOME).content.decode()
    assert "<h1>Diseñador del programa</h1>" in home
    page = client.post(draft_url(draft), form_data(draft, **{f"{GOLD}-minimum_score": "75"}), HTTP_HX_REQUEST="true")
    text = page.content.decode()
    assert "Matriz de migración" in text
    assert "La puntuación 70,00 está por debajo del mínimo de Gold (75)." in text


# --- Slice 3: explain, fairness, publish -------------------------------------------------------------------------


def test_a_mover_is_explained_under_the_draft_and_the_model_in_force(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    data = form_data(draft, **{f"{GOLD}-minimum_score": "75"})
    response = client.post(draft_url(draft), data | {"action": f"explain:{program.bravo.pk}"})
    workspace = response.context["workspace"]
    assert workspace.explained == program.bravo
    (draft_title, under_draft), (in_force_title, in_force) = workspace.explanations
    assert (under_draft.tier, under_draft.score, under_draft.pathway, under_draft.runner_up) == (
        "Silver",
        Decimal("70.00"),
        "Everyone",
        None,
    )
    assert in_force.tier == "Gold"
    assert [(line.label, line.progress, line.contribution) for line in under_draft.criteria] == [
        ("Revenue", "$70,000 / $100,000", "70.00")
    ]
    # The portal's gap sentence: what reaches the next tier under each model (from half a cent below, as the portal).
    assert under_draft.gap == "$4,995 more in sales reaches Gold."
    assert in_force.gap == "$14,995 more in sales reaches Platinum."
    page = response.content.decode()
    assert f'<input type="hidden" name="explained" value="{program.bravo.pk}" form="designer-form">' in page
    # The explanation follows the next change (the hidden field carries it).
    again = client.post(draft_url(draft), data | {"explained": str(program.bravo.pk), f"{GOLD}-minimum_score": "70"})
    assert again.context["workspace"].explanations[0][1].tier == "Gold"


def test_explain_finds_a_partner_by_name_and_says_when_none_matches(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    found = client.post(draft_url(draft), form_data(draft) | {"action": "explain", "explain_query": "delt"})
    assert found.context["workspace"].explained == program.delta
    missing = client.post(draft_url(draft), form_data(draft) | {"action": "explain", "explain_query": "Zulu"})
    assert missing.context["workspace"].explained is None
    assert "No active partner has that name." in missing.content.decode()
    # Another tenant's partner, or a made-up id, is not explained.
    response = client.post(draft_url(draft), form_data(draft) | {"action": "explain:999999"})
    assert response.context["workspace"].explained is None


def test_fairness_by_partner_type_and_region(program: Fixture, client_for) -> None:
    with tenant_context(program.world.tenant):
        Partner.objects.filter(pk__in=[program.alpha.pk, program.bravo.pk]).update(region="EMEA")
        Partner.objects.filter(pk__in=[program.delta.pk]).update(region="APAC")
        Partner.objects.filter(pk__in=[program.charlie.pk, program.echo.pk]).update(region="")
    draft = start(client_for, program)
    response = client_for(program.world, program.world.manager).post(
        draft_url(draft), form_data(draft, **{f"{GOLD}-minimum_score": "75"})
    )
    (type_title, by_type), (region_title, by_region), _by_size = response.context["workspace"].fairness
    assert [(row.group.group, row.group.partners, row.group.up, row.group.down) for row in by_type] == [
        ("Reseller", 5, 0, 3)
    ]
    regions = {row.group.group: (row.group.partners, row.group.up, row.group.down) for row in by_region}
    assert regions == {"APAC": (1, 0, 1), "EMEA": (2, 0, 1), "—": (2, 0, 1)}
    # Columns as the matrix's (Platinum, Gold, Silver, Registered): EMEA has Bravo Gold → Silver, Alpha Silver.
    emea = next(row for row in by_region if row.group.group == "EMEA")
    assert emea.cells == [(0, 0), (1, 0), (1, 2), (0, 0)]


def publish_url(model: TierModel) -> str:
    return f"/program/designer/{model.pk}/publish/"


def test_publish_schedules_for_a_date_with_the_policy_stored_and_audited(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    # "Save and publish…" saves the typed draft and goes to the publishing page.
    response = client.post(
        draft_url(draft), form_data(draft, **{f"{GOLD}-minimum_score": "75"}) | {"action": "publish"}
    )
    assert response.status_code == 302
    assert response["Location"] == publish_url(draft)
    page = client.get(publish_url(draft)).content.decode()
    assert "Gold: minimum score 65 → 75." in page
    assert "3 partners would move" in page
    first_of_next_month = (timezone.localdate().replace(day=1) + timedelta(days=32)).replace(day=1)
    scheduled = client.post(
        publish_url(draft),
        {"action": "schedule", "effective_from": first_of_next_month.isoformat(), "publication_downgrades": "protect"},
    )
    assert scheduled.status_code == 302
    page = client.get(publish_url(draft)).content.decode()
    assert "<strong>Scheduled</strong> for" in page
    last_protected_day = first_of_next_month.replace(year=first_of_next_month.year + 1) - timedelta(days=1)
    assert (
        f"keep their current tier until {date_format(last_protected_day, 'DATE_FORMAT')}, the end of the model's "
        "first qualification window" in page
    )
    confirmed = client.post(
        publish_url(draft),
        {"action": "confirm", "version": str(draft.version), "effective_from": first_of_next_month.isoformat()},
    )
    assert confirmed.status_code == 302
    with tenant_context(program.world.tenant):
        draft.refresh_from_db()
        assert (draft.status, draft.effective_from, draft.publication_downgrades) == (
            TierModel.Status.SCHEDULED,
            first_of_next_month,
            "protect",
        )
        entry = AuditEntry.objects.get(target_type="tiers.tiermodel", target_id=str(draft.pk))
        assert entry.actor == program.world.manager
        assert "placed lower: protect" in entry.summary
        program.program.model.refresh_from_db()
        assert program.program.model.status == TierModel.Status.ACTIVE
    # A repeat (back button, double click) publishes nothing twice and says what happened.
    again = client.post(
        publish_url(draft),
        {"action": "confirm", "version": str(draft.version), "effective_from": first_of_next_month.isoformat()},
    )
    assert again.status_code == 302
    with tenant_context(program.world.tenant):
        assert AuditEntry.objects.filter(target_type="tiers.tiermodel", target_id=str(draft.pk)).count() == 1


def test_publish_refuses_a_past_date_and_a_stale_confirmation(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    yesterday = timezone.localdate() - timedelta(days=1)
    response = client.post(
        publish_url(draft),
        {"action": "schedule", "effective_from": yesterday.isoformat(), "publication_downgrades": "grace"},
    )
    assert response.status_code == 400
    assert "A model takes effect today or later." in response.content.decode()
    bad = client.post(
        publish_url(draft), {"action": "schedule", "effective_from": "soon", "publication_downgrades": "x"}
    )
    assert bad.status_code == 400
    stale = client.post(
        publish_url(draft), {"action": "confirm", "version": str(draft.version), "effective_from": "2031-01-01"}
    )
    assert stale.status_code == 400
    with tenant_context(program.world.tenant):
        draft.refresh_from_db()
        assert draft.status == TierModel.Status.DRAFT


def test_publish_page_roles_and_tenants(program: Fixture, globex: World, client_for) -> None:
    draft = start(client_for, program)
    for role in (Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER):
        client = client_for(program.world, program.world.user_for(role))
        assert client.get(publish_url(draft)).status_code == 403
        assert client.post(publish_url(draft), {"action": "confirm", "version": str(draft.version)}).status_code == 403
    assert client_for(globex, globex.manager).get(publish_url(draft)).status_code == 404
    assert client_for(program.world, program.world.owner).get(publish_url(draft)).status_code == 200
    with tenant_context(program.world.tenant):
        draft.refresh_from_db()
        assert draft.status == TierModel.Status.DRAFT


# --- The ladder and pathways edited beyond thresholds: gates, criteria with their metric, partner types ----------


def post(client, draft: TierModel, data: dict, action: str = "preview"):
    return client.post(draft_url(draft), data | {"action": action})


# Gold needs one approved training in the window.
TRAINED_GATE = {
    f"{GOLD}-gates": "1",
    f"{GOLD}-gate-0-label": "Trained",
    f"{GOLD}-gate-0-metric": "activity_count",
    f"{GOLD}-gate-0-activity_kind": "training",
    f"{GOLD}-gate-0-code": "",
    f"{GOLD}-gate-0-minimum": "1",
}


def test_a_gate_is_added_with_a_metric_picker_and_moves_partners(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    added = post(client, draft, form_data(draft), "add-gate:2").content.decode()
    assert 'name="tier-2-gates" value="1"' in added
    assert '<select name="tier-2-gate-0-metric"' in added
    gate = TRAINED_GATE
    response = post(client, draft, form_data(draft) | gate)
    movers = {row.mover.partner_name: row.why for row in response.context["workspace"].movers}
    # Bravo and Delta score 70 but never trained: Gold's gate drops them; Charlie falls on its score (0).
    assert sorted(movers) == ["Bravo", "Charlie", "Delta"]
    assert movers["Bravo"] == "Score 70.00 is enough for Gold, but its gate is not met: Trained (0 / 1)."
    saved = post(client, draft, form_data(draft) | gate, "save")
    assert saved.status_code == 302
    with tenant_context(program.world.tenant):
        gate_row = draft.tiers.get(name="Gold").gates.get()
        assert (gate_row.label, gate_row.metric, gate_row.activity_kind, gate_row.minimum) == (
            "Trained",
            "activity_count",
            "training",
            Decimal(1),
        )
    # Removed again: the saved gate goes.
    post(client, draft, form_data(draft), "remove-gate:2:0")  # a preview only
    with tenant_context(program.world.tenant):
        assert draft.tiers.get(name="Gold").gates.count() == 1
    assert post(client, draft, form_data(draft) | {f"{GOLD}-gates": "0"}, "save").status_code == 302
    with tenant_context(program.world.tenant):
        assert draft.tiers.get(name="Gold").gates.count() == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({f"{GOLD}-gate-0-activity_kind": ""}, "Choose the kind of activity to count."),
        ({f"{GOLD}-gate-0-metric": "bogus"}, "Select a valid choice."),
        ({f"{GOLD}-gate-0-minimum": "0"}, "Ensure this value is greater than or equal to 0.01."),
        ({f"{GOLD}-gate-0-label": " "}, "This field is required."),
        ({f"{GOLD}-gate-0-label": "<script>x</script>"}, ""),
    ],
)
def test_a_gate_that_does_not_read_is_said_beside_its_tier_and_not_saved(
    program: Fixture, client_for, changes: dict, message: str
) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    gate = TRAINED_GATE
    response = post(client, draft, form_data(draft) | gate | changes, "save")
    page = response.content.decode()
    assert "<script>x</script>" not in page
    if not message:  # HTML in a label is text, escaped, and saved as typed
        assert response.status_code == 302
        return
    assert response.status_code == 400
    assert message in page
    with tenant_context(program.world.tenant):
        assert not draft.tiers.get(name="Gold").gates.exists()


def test_criteria_are_added_with_a_metric_weighed_as_shares_and_removed(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    pathway_id = program.program.pathway.pk
    with tenant_context(program.world.tenant):
        pathway_id = draft.pathways.get().pk
    added = post(client, draft, form_data(draft), f"add-criterion:{pathway_id}")
    assert added.context["workspace"].result is None  # the new row is blank: nothing to simulate yet
    assert "Fix the marked fields to see what the draft would do." in added.content.decode()
    training = {
        "criteria": "2",
        "criterion-1-criterion_id": "",
        "criterion-1-pathway_id": str(pathway_id),
        "criterion-1-label": "Training",
        "criterion-1-metric": "activity_count",
        "criterion-1-activity_kind": "training",
        "criterion-1-code": "",
        "criterion-1-weight": "1",
        "criterion-1-target": "1",
        "criterion-1-cap": "1",
    }
    response = post(client, draft, form_data(draft) | training)
    workspace = response.context["workspace"]
    assert [editor.share for editor in workspace.pathways[0].criteria] == [Decimal("50.0"), Decimal("50.0")]
    # Charlie: no sales in the window, one training: 0.5 × 0 + 0.5 × 1 = 50.00.
    assert dict(zip(workspace.population.names, workspace.result.scores, strict=True))["Charlie"] == Decimal("50.00")
    assert post(client, draft, form_data(draft) | training, "save").status_code == 302
    with tenant_context(program.world.tenant):
        assert list(
            Criterion.objects.filter(pathway__model=draft)
            .order_by("pk")
            .values_list("label", "metric", "activity_kind")
        ) == [("Revenue", "revenue", ""), ("Training", "activity_count", "training")]
    # Removing the revenue criterion leaves the training one; removing both is refused: a pathway needs criteria.
    response = post(client, draft, form_data(draft), "remove-criterion:0")
    assert [editor.label for editor in response.context["workspace"].pathways[0].criteria] == ["Training"]
    emptied = form_data(draft) | {"criteria": "0"}
    refused = post(client, draft, emptied, "save")
    assert refused.status_code == 400
    assert "Pathway Everyone has no criteria." in refused.content.decode()
    with tenant_context(program.world.tenant):
        assert Criterion.objects.filter(pathway__model=draft).count() == 2


def test_a_pathway_takes_the_partner_types_ticked(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    world = program.world
    with tenant_context(world.tenant):
        pathway = draft.pathways.get()
        other = PartnerType.objects.create(name="Installer")
    ticked = form_data(draft) | {f"pathway-{pathway.pk}-partner_types": str(world.partner_type.pk)}
    response = post(client, draft, ticked)
    assert "No pathway admits partners of type Installer" in response.content.decode()
    assert response.context["workspace"].is_valid  # a warning: stated, not refused
    assert post(client, draft, ticked, "save").status_code == 302
    with tenant_context(world.tenant):
        assert list(pathway.partner_types.values_list("pk", flat=True)) == [world.partner_type.pk]
    # Unticked again: every type.
    assert (
        post(client, draft, form_data(draft) | {f"pathway-{pathway.pk}-partner_types": []}, "save").status_code == 302
    )
    with tenant_context(world.tenant):
        assert not pathway.partner_types.exists()
        assert other.pk


def test_fairness_by_size_band(program: Fixture, client_for) -> None:
    draft = start(client_for, program)
    client = client_for(program.world, program.world.manager)
    response = post(client, draft, form_data(draft, **{f"{GOLD}-minimum_score": "75"}))
    fairness = dict(response.context["workspace"].fairness)
    rows = {row.group.group: row.group for row in fairness["By size (sales in the window)"]}
    # Sales in the window: Alpha 60,000, Bravo 70,000, Delta 70,000 (Charlie's are older, Echo has none).
    # Median of the three sellers is 70,000: Alpha is in the lower half, Bravo and Delta in the upper half.
    assert {group: (row.partners, row.up, row.down) for group, row in rows.items()} == {
        "No sales in the window": (2, 0, 1),
        "Lower half of sellers": (1, 0, 0),
        "Upper half of sellers": (2, 0, 2),
    }


def test_home_lists_what_was_published_by_whom(program: Fixture, client_for) -> None:
    page = client_for(program.world, program.world.manager).get(HOME).content.decode()
    assert "Partner Program v1" in page
    assert program.world.manager.get_full_name() in page


@pytest.mark.parametrize(
    ("language", "expected"), [("en", "target 100,000 → 50,000."), ("es", "objetivo 100.000 → 50.000.")]
)
def test_what_changes_shows_numbers_as_the_reader_writes_them(
    program: Fixture, client_for, language: str, expected: str
) -> None:
    """The publish page's list of changes read "objetivo 300000 → 240000" beside "De 11 socios", "1.250 puntos"."""
    draft = start(client_for, program)
    manager = program.world.manager
    manager.language = language
    manager.save(update_fields=["language"])
    client = client_for(program.world, manager)
    response = client.post(draft_url(draft), form_data(draft, **{"criterion-0-target": "50000"}) | {"action": "save"})
    assert response.status_code == 302
    assert expected in client.get(publish_url(draft)).content.decode()
