"""The scorecard's `deal_registrations` counts the deals app's registrations (approved, or won when the program says
so) in the window, added to the deal registration activities CRMs send; approving re-scores the partner."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from deals.models import DealRegistration, DealSettings
from deals.services import deal_approve, deal_mark_lost, deal_mark_won, deal_reject
from loyalty.tenancy.context import tenant_context
from partners.models import ActivityKind
from tests.conftest import World
from tests.deals.factories import register
from tests.tiers.factories import DEALS, activity, revenue_program
from tiers.metrics import metric_values, qualification_window
from tiers.models import Criterion, Metric, PartnerScore, TierModel

pytestmark = pytest.mark.django_db


def window_of(world: World, model: TierModel, day: date | None = None):  # noqa: ANN201 - a Window
    return qualification_window(model=model, evaluated_on=day or timezone.localdate(), time_zone=world.tenant.time_zone)


def values(world: World, model: TierModel) -> dict[int, Decimal]:
    partners = [world.partner.pk, world.unmanaged_partner.pk]
    return metric_values(specs=[DEALS], partner_ids=partners, window=window_of(world, model))[DEALS]


def test_approved_registrations_count_whatever_became_of_them_and_add_to_crm_activities(acme: World) -> None:
    with tenant_context(acme.tenant):
        model = revenue_program().model
        approved = deal_approve(deal=register(acme.partner, customer_name="Hooli"), actor=acme.manager)
        deal_mark_won(
            deal=deal_approve(deal=register(acme.partner, customer_name="Initech"), actor=acme.manager), actor=None
        )
        deal_mark_lost(
            deal=deal_approve(deal=register(acme.partner, customer_name="Wonka"), actor=acme.manager),
            actor=None,
            reason="No",
        )
        register(acme.partner, customer_name="Waiting Co")  # submitted: not yet
        deal_reject(deal=register(acme.partner, customer_name="Rejected Co"), actor=acme.manager, reason="No")
        old = deal_approve(deal=register(acme.partner, customer_name="Last Year"), actor=acme.manager)
        DealRegistration.objects.filter(pk=old.pk).update(approved_at=timezone.now() - timedelta(days=400))
        activity(acme.partner, ActivityKind.DEAL_REGISTRATION, timezone.localdate() - timedelta(days=2))
        deal_approve(deal=register(acme.unmanaged_partner, customer_name="Soylent"), actor=acme.manager)

        assert values(acme, model) == {acme.partner.pk: Decimal(4), acme.unmanaged_partner.pk: Decimal(1)}
        assert approved.status == "approved"


def test_a_program_may_count_won_registrations_only(acme: World) -> None:
    with tenant_context(acme.tenant):
        model = revenue_program().model
        DealSettings.objects.create(scorecard_counts=DealSettings.Counts.WON)
        deal_approve(deal=register(acme.partner, customer_name="Hooli"), actor=acme.manager)
        deal_mark_won(
            deal=deal_approve(deal=register(acme.partner, customer_name="Initech"), actor=acme.manager), actor=None
        )
        assert values(acme, model) == {acme.partner.pk: Decimal(1)}


def test_approving_a_registration_rescores_the_partner_at_once(acme: World, django_capture_on_commit_callbacks) -> None:
    with tenant_context(acme.tenant):
        program = revenue_program()
        program.model.status = TierModel.Status.ACTIVE
        program.model.save(update_fields=["status"])
        Criterion.objects.filter(pathway=program.pathway).update(
            metric=Metric.DEAL_REGISTRATIONS, target=Decimal(4), label="Deal registrations"
        )
        deal = register(acme.partner, customer_name="Hooli")
        with django_capture_on_commit_callbacks(execute=True):
            deal_approve(deal=deal, actor=acme.manager)
        score = PartnerScore.objects.filter(partner=acme.partner).latest("computed_at")
        assert score.score == Decimal("25.00")  # 1 of a target of 4
        assert score.breakdown[0]["value"] in ("1", "1.00", 1, Decimal(1))
