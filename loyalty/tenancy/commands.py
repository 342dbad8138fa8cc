"""A base for management commands that work inside one tenant, chosen with --tenant SLUG."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant


class TenantCommand(BaseCommand):
    """Subclasses implement `handle_tenant`; it runs with the tenant active."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, metavar="SLUG", help="The tenant to work in.")

    def handle(self, *args: Any, tenant: str, **options: Any) -> str | None:
        try:
            tenant_object = Tenant.objects.get(slug=tenant)
        except Tenant.DoesNotExist as error:
            raise CommandError(f"No tenant with slug {tenant!r}.") from error
        with tenant_context(tenant_object):
            return self.handle_tenant(tenant_object, *args, **options)

    def handle_tenant(self, tenant: Tenant, *args: Any, **options: Any) -> str | None:
        raise NotImplementedError
