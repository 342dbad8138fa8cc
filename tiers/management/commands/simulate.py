from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from loyalty.tenancy.commands import TenantCommand
from loyalty.tenancy.models import Tenant
from tiers.models import TierModel
from tiers.simulation import simulate


class Command(TenantCommand):
    help = "Run a tier model read-only over today's partners and print the distribution, migrations and movers."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--model", type=int, required=True, help="The tier model's id.")

    def handle_tenant(self, tenant: Tenant, *args: Any, model: int, **options: Any) -> None:
        tier_model = TierModel.objects.filter(pk=model).first()
        if tier_model is None:
            raise CommandError(f"No tier model {model} in {tenant.slug}.")
        result = simulate(model=tier_model, evaluated_on=timezone.localdate())
        self.stdout.write(f"simulated {tier_model} on {result.partners} partners")
        for current, simulated, now, then in result.distribution_rows():
            name = simulated if simulated == current else f"{current} → {simulated}"
            self.stdout.write(f"  {name:<30} now {now:>6}  simulated {then:>6}")
        ups = result.moving_up
        self.stdout.write(f"  moving: {ups} up, {len(result.movers) - ups} down")
        self.stdout.write(
            f"  multiplier cost: {result.multiplier_cost_points:+} points "
            f"({result.multiplier_cost_value} {tenant.currency})"
        )
        self.stdout.write(
            f"  suggested minimum scores (percentiles): {', '.join(map(str, result.percentile_thresholds))}"
        )
        self.stdout.write(
            f"  suggested minimum scores (natural breaks): {', '.join(map(str, result.natural_break_thresholds))}"
        )
