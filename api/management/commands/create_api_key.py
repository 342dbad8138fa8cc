"""`manage.py create_api_key --tenant SLUG --name NAME --scopes a,b`: prints the new key once."""

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from api.models import SCOPES
from api.services import api_key_create
from loyalty.tenancy.commands import TenantCommand
from loyalty.tenancy.models import PROGRAM_ROLES, Tenant, User


class Command(TenantCommand):
    help = f"Create an API key and print it once. Scopes: {', '.join(SCOPES)}."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--name", required=True, help="What uses the key (e.g. 'Salesforce sync').")
        parser.add_argument("--scopes", required=True, help="Comma-separated, e.g. partners:read,activities:write.")
        parser.add_argument("--expires-in-days", type=int, help="Expire the key after this many days.")
        parser.add_argument(
            "--created-by",
            metavar="EMAIL",
            help="A program manager or owner the key acts for (needed for adjustments and redemptions).",
        )

    def handle_tenant(
        self,
        tenant: Tenant,
        *args: Any,
        name: str,
        scopes: str,
        expires_in_days: int | None,
        created_by: str | None,
        **options: Any,
    ) -> None:
        author = None
        if created_by:
            author = User.objects.filter(
                email__iexact=created_by,
                memberships__tenant=tenant,
                memberships__role__in=sorted(PROGRAM_ROLES),
                memberships__is_active=True,
            ).first()
            if author is None:
                raise CommandError(f"{created_by} is not a program manager or owner of {tenant.slug}.")
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            created = api_key_create(
                name=name,
                scopes=[scope.strip() for scope in scopes.split(",") if scope.strip()],
                created_by=author,
                expires_at=expires_at,
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(f"Created {created.api_key.label} in {tenant.slug}; it is shown only this once:")
        self.stdout.write(created.token)
