from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from loyalty.tenancy.commands import TenantCommand
from loyalty.tenancy.models import Tenant
from tiers.backtest import Flagging, forecasts_backtest


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _flags(name: str, flagging: Flagging) -> str:
    return (
        f"{name}: flagged {flagging.true_positive + flagging.false_positive}, happened "
        f"{flagging.true_positive + flagging.false_negative}, both {flagging.true_positive} "
        f"(precision {_share(flagging.precision)}, recall {_share(flagging.recall)})"
    )


class Command(TenantCommand):
    help = "Back-test the tier forecasts: forecasts made MONTHS ago (from the history up to then) against today."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--months", type=int, default=3, help="How far back the forecasts are made (default 3).")
        parser.add_argument("--until", type=date.fromisoformat, help="The day to compare with (default: today).")

    def handle_tenant(self, tenant: Tenant, *args: Any, months: int, until: date | None, **options: Any) -> None:
        until = until or timezone.localdate()
        figures = forecasts_backtest(as_of=until - relativedelta(months=months), until=until)
        if figures is None:
            raise CommandError("No tier model was in force then, or no active partners.")
        total = figures.partners
        write = self.stdout.write
        write(f"Forecasts as of {figures.as_of}, compared on {figures.until}: {total} active partners")
        write(
            f"score, projected at pace vs actual: mean absolute error {figures.score_mae:.2f}, "
            f"median {figures.score_median_error:.2f}, bias {figures.score_bias:+.2f}"
        )
        write(f"score, 'nothing changes' baseline: mean absolute error {figures.naive_score_mae:.2f}")
        write(f"score, without new activity (roll-off only): mean absolute error {figures.still_score_mae:.2f}")
        write(
            f"tier on {figures.until}: projected right for {figures.tier_hits}/{total} "
            f"({_share(figures.tier_hits / total)}); 'nothing changes' right for {figures.naive_tier_hits}/{total} "
            f"({_share(figures.naive_tier_hits / total)})"
        )
        write(_flags("upgrade by then", figures.upgrades))
        write(_flags("below its tier by then (at pace)", figures.drops))
        if figures.reach_day_errors:
            days = sorted(figures.reach_day_errors)
            absolute = sorted(abs(day) for day in days)
            write(
                f"upgrade date, forecast − first weekly check at the higher tier ({len(days)} partners): "
                f"median {days[len(days) // 2]:+d} days, median absolute {absolute[len(absolute) // 2]} days, "
                f"within 14 days for {sum(1 for day in absolute if day <= 14)}"
            )
