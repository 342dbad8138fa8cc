from typing import Any

from django.core.management.base import CommandParser

from analytics.services import rollup_refresh
from loyalty.tenancy.commands import TenantCommand
from loyalty.tenancy.models import Tenant


class Command(TenantCommand):
    help = "Refresh a tenant's analytics rollup now, in this process (what the nightly task does)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--full", action="store_true", help="Rebuild every closed month, not only those touched.")

    def handle_tenant(self, tenant: Tenant, *args: Any, full: bool, **options: Any) -> None:
        state = rollup_refresh(full=full)
        months = "every month" if state.months_rebuilt is None else f"{state.months_rebuilt} months"
        seconds = state.duration.total_seconds()
        self.stdout.write(f"rolled up {months} before {state.covered_until}: {state.rows_written} rows, {seconds:.1f}s")
