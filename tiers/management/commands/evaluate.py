from datetime import date
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from loyalty.tenancy.commands import TenantCommand
from loyalty.tenancy.models import Tenant
from tiers.services import tenant_evaluate


class Command(TenantCommand):
    help = "Evaluate every partner of a tenant now, in this process, with the same engine as the nightly run."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--date", type=date.fromisoformat, help="Evaluation date, YYYY-MM-DD (default: today).")

    def handle_tenant(self, tenant: Tenant, *args: Any, date: date | None, **options: Any) -> None:
        evaluated_on = date or timezone.localdate()
        summary = tenant_evaluate(evaluated_on=evaluated_on)  # the chunks in place, in EVALUATION_STREAMS threads
        if summary is None:
            raise CommandError("No tier model is in force on that date.")
        same = summary.evaluated - summary.upgrades - summary.downgrades
        self.stdout.write(
            f"evaluated {summary.evaluated} partners: {summary.upgrades} up, {summary.downgrades} down, "
            f"{same} same in {summary.seconds:.1f} s"
        )
