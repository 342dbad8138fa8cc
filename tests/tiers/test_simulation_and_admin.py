"""Simulation of a draft model and the tier admin: read-only what-if, publishing, scoping, permissions."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from partners.models import Activity
from tests.conftest import World
from tiers.demo import _build_model
from tiers.models import PartnerScore, PartnerTier, TierChange, TierModel
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish
from tiers.simulation import natural_break_thresholds, percentile_thresholds, simulate


def models_for(world: World) -> tuple[TierModel, TierModel]:
    """An active model and a draft that lowers every bar above the entry tier by 30 points."""
    with tenant_context(world.tenant):
        today = timezone.localdate()
        active = _build_model(
            name="Program", version=1, effective_from=today, score_shift=Decimal(0), revenue_scale=Decimal(1)
        )
        tier_model_publish(model=active, actor=world.manager)
        draft = _build_model(
            name="Easier", version=2, effective_from=today, score_shift=Decimal(30), revenue_scale=Decimal(1)
        )
        Activity.objects.create(
            partner=world.partner,
            kind="training",
            occurred_at=timezone.now(),
            source="api",
            status="approved",
            code="T1",
        )
        tenant_evaluate(evaluated_on=today, dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk))
    return active, draft


def test_simulation_reports_moves_and_writes_nothing(acme: World) -> None:
    active, draft = models_for(acme)
    before = (PartnerScore.all_tenants.count(), TierChange.all_tenants.count(), PartnerTier.all_tenants.count())
    with tenant_context(acme.tenant):
        result = simulate(model=draft, evaluated_on=timezone.localdate())
    assert (PartnerScore.all_tenants.count(), TierChange.all_tenants.count(), PartnerTier.all_tenants.count()) == before
    assert result.partners == 2
    assert result.current_distribution == {1: 2}  # by rank: both partners hold Registered
    assert result.current_names == {1: "Registered"}
    # The partner with one training (score 15/100·100·(1/6)… = 2.5) reaches nothing new; bars at 0 for Silver.
    assert sum(result.simulated_distribution.values()) == 2
    assert sum(sum(row.values()) for row in result.matrix.values()) == 2
    assert {mover.partner_id for mover in result.movers} <= {acme.partner.pk, acme.unmanaged_partner.pk}
    assert len(result.percentile_thresholds) == 3
    assert draft.status == TierModel.Status.DRAFT


def test_threshold_suggestions() -> None:
    scores = [Decimal(value) for value in [5, 6, 7, 30, 31, 32, 60, 61, 62, 90, 91, 92]]
    assert natural_break_thresholds(scores, 4) == [Decimal("30"), Decimal("60"), Decimal("90")]
    # Half, a quarter, an eighth of 12 partners at or above: indexes 6, 9 and 10 of the sorted scores.
    assert percentile_thresholds(scores, 4) == [Decimal("60"), Decimal("90"), Decimal("91")]
    assert percentile_thresholds([], 4) == []


def test_simulate_command(acme: World, capsys) -> None:
    _active, draft = models_for(acme)
    call_command("simulate", "--tenant", "acme", "--model", str(draft.pk))
    printed = capsys.readouterr().out
    assert printed.startswith("simulated Easier v2 (Draft) on 2 partners")
    assert "suggested minimum scores (natural breaks):" in printed
    with pytest.raises(CommandError, match="No tier model 999999 in acme"):
        call_command("simulate", "--tenant", "acme", "--model", "999999")


def test_another_tenants_model_cannot_be_simulated_or_published(acme: World, globex: World, client_for) -> None:
    _active, foreign_draft = models_for(globex)
    client = client_for(acme, acme.manager)
    assert client.get(f"/admin/tiers/tiermodel/{foreign_draft.pk}/simulate/").status_code == 404
    assert client.post(f"/admin/tiers/tiermodel/{foreign_draft.pk}/publish/").status_code == 404
    foreign_draft.refresh_from_db()
    assert foreign_draft.status == TierModel.Status.DRAFT
    with pytest.raises(CommandError):
        call_command("simulate", "--tenant", "acme", "--model", str(foreign_draft.pk))


def test_program_manager_simulates_then_publishes(acme: World, client_for) -> None:
    active, draft = models_for(acme)
    client = client_for(acme, acme.manager)
    page = client.get(f"/admin/tiers/tiermodel/{draft.pk}/simulate/")
    assert page.status_code == 200
    assert b"Migration matrix" in page.content
    confirmation = client.get(f"/admin/tiers/tiermodel/{draft.pk}/publish/")
    assert confirmation.status_code == 200
    assert b"Confirm: publish now" in confirmation.content
    assert client.post(f"/admin/tiers/tiermodel/{draft.pk}/publish/", {"confirm": "2"}).status_code == 302
    active.refresh_from_db()
    draft.refresh_from_db()
    assert (active.status, draft.status, draft.published_by) == ("retired", "active", acme.manager)


def test_an_invalid_draft_is_not_published_and_says_why(acme: World, client_for) -> None:
    active, draft = models_for(acme)
    with tenant_context(acme.tenant):
        draft.tiers.filter(rank=2).update(minimum_score=Decimal(0))
    client = client_for(acme, acme.manager)
    page = client.get(f"/admin/tiers/tiermodel/{draft.pk}/publish/").content.decode()
    assert "This draft cannot be published yet:" in page
    assert "Confirm" not in page
    response = client.post(f"/admin/tiers/tiermodel/{draft.pk}/publish/", {"confirm": "2"}, follow=True)
    assert "Silver needs a higher minimum score than Registered (0)." in [
        str(message) for message in response.context["messages"]
    ]
    draft.refresh_from_db()
    assert draft.status == TierModel.Status.DRAFT


def test_published_models_are_read_only_in_the_admin(acme: World, client_for) -> None:
    active, draft = models_for(acme)
    client = client_for(acme, acme.manager)
    response = client.post(f"/admin/tiers/tiermodel/{active.pk}/change/", {"name": "Changed"})
    assert response.status_code == 403
    active.refresh_from_db()
    assert active.name == "Program"
    assert client.get(f"/admin/tiers/tiermodel/{draft.pk}/change/").context["has_change_permission"] is True


@pytest.mark.parametrize(
    "path",
    [
        "/admin/tiers/tiermodel/",
        "/admin/tiers/evaluationrun/",
        "/admin/tiers/partnerscore/",
        "/admin/tiers/partnertier/",
    ],
)
def test_tier_admin_pages_are_for_program_staff_only(acme: World, client_for, path: str) -> None:
    models_for(acme)
    assert client_for(acme, acme.manager).get(path).status_code == 200
    assert client_for(acme, acme.user_for(Role.ACCOUNT_MANAGER)).get(path).status_code == 403
    assert client_for(acme, acme.partner_user).get(path).status_code == 403


def test_evaluation_runs_show_progress(acme: World, globex: World, client_for) -> None:
    models_for(acme)
    models_for(globex)
    response = client_for(acme, acme.manager).get("/admin/tiers/evaluationrun/")
    assert len(response.context["cl"].result_list) == 1
    assert b'<progress value="2" max="2" aria-label="Partners evaluated">' in response.content
