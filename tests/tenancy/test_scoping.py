"""Fail-closed scoping: tenant-owned data is unreachable without an active tenant, and writes are checked."""

import threading

import pytest
from django_scopes.exceptions import ScopeError

from loyalty.tenancy.context import (
    CrossTenantError,
    TenantNotActiveError,
    current_tenant,
    current_tenant_or_none,
    tenant_context,
)
from loyalty.tenancy.models import Membership
from partners.models import Partner, PartnerType
from tests.conftest import World


@pytest.mark.parametrize(
    "query",
    [
        lambda: list(Partner.objects.all()),
        lambda: Partner.objects.count(),
        lambda: Partner.objects.filter(name="x").exists(),
        lambda: Partner.objects.get(pk=1),
        lambda: list(Membership.objects.values_list("pk", flat=True)),
    ],
    ids=["all", "count", "filter", "get", "values_list"],
)
def test_query_without_active_tenant_raises(acme: World, query) -> None:
    with pytest.raises(ScopeError):
        query()


def test_current_tenant_raises_when_none_is_active() -> None:
    assert current_tenant_or_none() is None
    with pytest.raises(TenantNotActiveError):
        current_tenant()


def test_scoped_manager_returns_only_the_active_tenants_rows(acme: World, globex: World) -> None:
    with tenant_context(acme.tenant):
        assert set(Partner.objects.values_list("name", flat=True)) == {"Acme Partner One", "Acme Partner Two"}
        assert not Partner.objects.filter(pk=globex.partner.pk).exists()
    with tenant_context(globex.tenant):
        assert Partner.objects.count() == 2
        assert Partner.objects.get(pk=globex.partner.pk).name == "Globex Partner One"


def test_cross_tenant_manager_reads_every_tenant(acme: World, globex: World) -> None:
    assert Partner.all_tenants.count() == 4


def test_reverse_relations_are_scoped_too(acme: World, globex: World) -> None:
    with tenant_context(acme.tenant):
        assert list(acme.partner_admin.memberships.values_list("tenant__slug", flat=True)) == ["acme"]


def test_save_fills_the_tenant_from_context(acme: World) -> None:
    with tenant_context(acme.tenant):
        partner_type = PartnerType.objects.create(code="installer", name="Installer")
    assert partner_type.tenant_id == acme.tenant.pk


def test_save_without_active_tenant_raises_and_writes_nothing(acme: World) -> None:
    with pytest.raises(TenantNotActiveError):
        PartnerType(code="installer", name="Installer").save()
    assert not PartnerType.all_tenants.filter(code="installer").exists()


def test_save_of_another_tenants_row_is_refused(acme: World, globex: World) -> None:
    partner = Partner.all_tenants.get(pk=globex.partner.pk)
    partner.name = "Hijacked"
    with tenant_context(acme.tenant), pytest.raises(CrossTenantError):
        partner.save()
    assert Partner.all_tenants.get(pk=globex.partner.pk).name == "Globex Partner One"


def test_link_to_another_tenants_row_is_refused(acme: World, globex: World) -> None:
    with tenant_context(acme.tenant), pytest.raises(CrossTenantError):
        Partner(external_id="X-1", name="Mixed", partner_type=globex.partner_type).save()
    assert not Partner.all_tenants.filter(external_id="X-1").exists()


def test_tenant_context_is_restored_after_an_exception(acme: World, globex: World) -> None:
    with tenant_context(acme.tenant):
        with pytest.raises(RuntimeError), tenant_context(globex.tenant):
            raise RuntimeError
        assert current_tenant() == acme.tenant
        assert Partner.objects.count() == 2
    assert current_tenant_or_none() is None


def test_the_active_tenant_does_not_leak_into_other_threads(acme: World) -> None:
    seen: list[object] = []
    with tenant_context(acme.tenant):
        thread = threading.Thread(target=lambda: seen.append(current_tenant_or_none()))
        thread.start()
        thread.join()
    assert seen == [None]
