from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from funds.selectors import fund_verify
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant


class Command(BaseCommand):
    help = "Check every fund account: balances = Σ entries, running balances follow, none negative, no entry changed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="Only this tenant (default: every tenant).")

    def handle(self, *args: Any, tenant: str | None, **options: Any) -> None:
        tenants = Tenant.objects.order_by("pk")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {tenant!r}.")
        accounts = entries = 0
        breaches: list[str] = []
        for each in tenants:
            with tenant_context(each):
                report = fund_verify()
            accounts += report.accounts
            entries += report.entries
            breaches += [f"{each.slug}: {breach}" for breach in report.breaches]
        for breach in breaches:
            self.stderr.write(breach)
        summary = (
            f"fund_verify: {len(tenants)} tenant(s), {accounts} fund accounts, {entries} entries, "
            f"{len(breaches)} breaches"
        )
        if breaches:
            raise CommandError(summary)
        self.stdout.write(summary)
