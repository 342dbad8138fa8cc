"""The current tenant: a context variable, entered together with the django-scopes scope."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from django.utils import timezone
from django_scopes import scope
from django_scopes.exceptions import ScopeError

if TYPE_CHECKING:
    from loyalty.tenancy.models import Tenant

_current_tenant: ContextVar["Tenant | None"] = ContextVar("tierline_current_tenant", default=None)


class TenantNotActiveError(ScopeError):
    """Tenant-owned data was touched with no tenant active: the call fails closed."""


class CrossTenantError(ScopeError):
    """An object of one tenant was written while another tenant is active."""


def current_tenant() -> "Tenant":
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantNotActiveError("No tenant is active; enter tenant_context(tenant) first.")
    return tenant


def current_tenant_or_none() -> "Tenant | None":
    return _current_tenant.get()


@contextmanager
def tenant_context(tenant: "Tenant") -> Iterator["Tenant"]:
    """Make `tenant` current: scoped managers filter by it and saves are checked against it."""
    if tenant is None or tenant.pk is None:
        raise TenantNotActiveError("tenant_context needs a saved tenant.")
    token = _current_tenant.set(tenant)
    try:
        with scope(tenant=tenant), timezone.override(tenant.time_zone):
            yield tenant
    finally:
        _current_tenant.reset(token)
