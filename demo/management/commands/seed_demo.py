from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from demo.banner import demo_banner
from demo.seed import seed_demo


class Command(BaseCommand):
    help = "Create the demo tenants, staff, partners and logins (idempotent), and print where to sign in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-banner", action="store_true", help="Seed silently (`make demo` prints the banner once serving)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        seed_demo()
        if not options["no_banner"]:
            self.stdout.write(demo_banner())
