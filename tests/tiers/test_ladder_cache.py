"""A published model's ladder (tiers and benefits) is read once and then from the cache; a draft's is read live."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.tiers.factories import revenue_program
from tiers.models import Tier
from tiers.selectors import tier_ladder
from tiers.services import tier_model_publish


def _queries(**arguments: object) -> tuple[list[Tier], int]:
    with CaptureQueriesContext(connection) as captured:
        tiers = tier_ladder(**arguments)
    return tiers, len(captured.captured_queries)


def test_a_published_ladder_is_read_once_then_comes_from_the_cache(acme: World) -> None:
    with tenant_context(acme.tenant):
        model = tier_model_publish(model=revenue_program().model, actor=acme.manager)
        first, first_queries = _queries(model_id=model.pk, is_published=True)
        again, again_queries = _queries(model_id=model.pk, is_published=True)
    assert first_queries == 2  # the tiers, their benefits
    assert again_queries == 0
    assert [tier.pk for tier in again] == [tier.pk for tier in first] != []
    assert [list(tier.benefits.all()) for tier in again] == [list(tier.benefits.all()) for tier in first]


def test_a_draft_ladder_is_read_every_time(acme: World) -> None:
    with tenant_context(acme.tenant):
        model = revenue_program().model
        _queries(model_id=model.pk)
        _tiers, queries = _queries(model_id=model.pk)
    assert queries == 2


def test_another_tenants_ladder_is_not_served_from_the_cache(acme: World, globex: World) -> None:
    with tenant_context(acme.tenant):
        model = tier_model_publish(model=revenue_program().model, actor=acme.manager)
        assert tier_ladder(model_id=model.pk, is_published=True) != []
    with tenant_context(globex.tenant):
        assert tier_ladder(model_id=model.pk, is_published=True) == []
