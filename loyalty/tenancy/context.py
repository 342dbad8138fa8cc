"""The current tenant: a context variable, entered together with the django-scopes scope; and the platform flag."""

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
_platform_flag: ContextVar[bool] = ContextVar("tierline_platform_flag", default=False)


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


def current_platform_flag() -> bool:
    return _platform_flag.get()


@contextmanager
def platform_context(*, is_active: bool = True) -> Iterator[None]:
    """Deliberate cross-tenant work (platform jobs over `all_tenants`): on PostgreSQL, row-level security
    lets every tenant's rows through. A tenant context, inside or around it, always wins.

    `is_active=False` clears an inherited flag: the middleware starts every request without it.
    """
    token = _platform_flag.set(is_active)
    try:
        yield
    finally:
        _platform_flag.reset(token)
