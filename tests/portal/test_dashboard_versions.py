"""The dashboard's versions (portal/views.py, `_dashboard_versions`, plain SQL) move with every field that moves
what `partner_standing_get` and `partner_points_get` give: the fields are read off the models, so one added to a
model or to a selector's version and not to the other side fails here instead of leaving a dashboard stale."""

from datetime import timedelta

import pytest
from django.db import models
from django.utils import timezone

from loyalty.ledger.models import PointsAccount
from loyalty.ledger.selectors import partner_points_get
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import User
from portal.views import EXPIRING_WINDOW_DAYS, _dashboard_versions
from tests.conftest import World
from tests.portal.test_dashboard import silver_with_points
from tiers.models import PartnerTier, Tier
from tiers.selectors import partner_standing_get

# The tier state's fields the portal never shows, so no version needs them; a new field must be added to the
# standing's version (tiers/selectors.py, `STANDING_VERSION_FIELDS`) or named here.
STANDING_NOT_SHOWN = {"pin_reason", "pinned_by"}
KEYS = {"id", "tenant", "partner"}  # which row it is, not what it holds


def _changed(field: models.Field, value: object, world: World) -> object:
    """Another valid value for the field."""
    if isinstance(field, models.ForeignKey) and field.related_model is Tier:
        return Tier.objects.exclude(pk=value).first()
    if isinstance(field, models.ForeignKey) and field.related_model is User:
        return world.owner if value != world.owner.pk else world.manager
    if isinstance(field, models.DateTimeField):
        return (value or timezone.now()) + timedelta(days=1)
    if isinstance(field, models.DateField):
        return (value or timezone.localdate()) + timedelta(days=1)
    if isinstance(field, models.IntegerField):
        return value + 1
    if isinstance(field, models.CharField | models.TextField):
        return f"{value}-changed"[-(field.max_length or 100) :]
    raise AssertionError(f"{field.model.__name__}.{field.name}: say here how to change it")


def _fields(model: type[models.Model]) -> list[models.Field]:
    return [field for field in model._meta.concrete_fields if field.name not in KEYS]


@pytest.fixture
def pinned(acme: World) -> World:
    """A scored partner with points, its tier pinned (every field of the state set)."""
    world = silver_with_points(acme, points=1200, earned_days_ago=10)
    with tenant_context(world.tenant):
        state = PartnerTier.objects.get(partner=world.partner)
        PartnerTier.objects.filter(pk=state.pk).update(
            pinned_tier=state.tier,
            pinned_until=timezone.localdate() + timedelta(days=30),
            pin_reason="A deal",
            pinned_by=world.owner,
        )
    return world


def test_every_field_of_the_tier_state_the_standing_shows_moves_the_dashboards_version(pinned: World) -> None:
    not_versioned = set()
    with tenant_context(pinned.tenant):
        for field in _fields(PartnerTier):
            standing_before = partner_standing_get(partner=pinned.partner).version
            dashboard_before = _dashboard_versions(pinned.partner.pk, within_days=EXPIRING_WINDOW_DAYS)[0]
            state = PartnerTier.objects.filter(partner=pinned.partner)
            value = state.values_list(field.attname, flat=True).get()
            state.update(**{field.name: _changed(field, value, pinned)})
            moved = partner_standing_get(partner=pinned.partner).version != standing_before
            dashboard_moved = _dashboard_versions(pinned.partner.pk, within_days=EXPIRING_WINDOW_DAYS)[0]
            assert (dashboard_moved != dashboard_before) == moved, field.name
            if not moved:
                not_versioned.add(field.name)
    assert not_versioned == STANDING_NOT_SHOWN


def test_every_field_of_the_account_that_moves_the_points_moves_the_dashboards(pinned: World) -> None:
    def shown(points: object) -> tuple:
        return tuple(getattr(points, name) for name in ("balance", "lifetime_earned", "lifetime_redeemed", "version"))

    with tenant_context(pinned.tenant):
        for field in _fields(PointsAccount):
            points_before = shown(partner_points_get(partner_id=pinned.partner.pk))
            dashboard_before = _dashboard_versions(pinned.partner.pk, within_days=EXPIRING_WINDOW_DAYS)[1:]
            account = PointsAccount.objects.filter(partner=pinned.partner)
            value = account.values_list(field.attname, flat=True).get()
            account.update(**{field.name: _changed(field, value, pinned)})
            assert shown(partner_points_get(partner_id=pinned.partner.pk)) != points_before, field.name
            dashboard = _dashboard_versions(pinned.partner.pk, within_days=EXPIRING_WINDOW_DAYS)[1:]
            assert dashboard[0] != dashboard_before[0] or shown(dashboard[1])[:3] != shown(dashboard_before[1])[:3], (
                field.name
            )
