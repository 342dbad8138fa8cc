"""The current tenant, entered together with the django-scopes scope; and the platform flag.

The context variable itself lives beside `Tenant` in models.py (whose `TenantOwnedModel.save` reads it), so
that this module imports the models and not the other way round; import the accessors from here.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.utils import timezone
from django_scopes import scope

from loyalty.tenancy.models import (
    CrossTenantError,
    Tenant,
    TenantNotActiveError,
    _current_tenant,
    current_tenant,
    current_tenant_or_none,
)

__all__ = ["CrossTenantError", "TenantNotActiveError", "current_tenant", "current_tenant_or_none"]

_platform_flag: ContextVar[bool] = ContextVar("tierline_platform_flag", default=False)


@contextmanager
def tenant_context(tenant: Tenant) -> Iterator[Tenant]:
    """Make `tenant` current: scoped managers filter by it and saves are checked against it."""
    if tenant is None or tenant.pk is None:
        raise TenantNotActiveError("tenant_context needs a saved tenant.")
    token = _current_tenant.set(tenant)
    try:
        with scope(tenant=tenant), timezone.override(tenant.time_zone):
            yield tenant
    finally:
        _current_tenant.reset(token)


@contextmanager
def tenant_left() -> Iterator[None]:
    """Step out of the current tenant (for a named platform read inside a tenant's request, with the platform
    flag); the tenant is current again on exit."""
    token = _current_tenant.set(None)
    try:
        yield
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
