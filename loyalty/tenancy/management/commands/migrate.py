from typing import Any

from django.conf import settings
from django.core.management.commands import migrate

from loyalty.tenancy.context import platform_context
from loyalty.tenancy.rls import connected_as


class Command(migrate.Command):
    help = (
        f"{migrate.Command.help} As the owner role (DATABASE_OWNER_URL) when set, in platform mode so data "
        "migrations see every tenant's rows; row-level security policies are installed afterwards."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with connected_as(settings.DATABASE_OWNER_URL, options["database"]), platform_context():
            super().handle(*args, **options)
