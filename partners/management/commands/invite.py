from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from loyalty.tenancy.commands import TenantCommand
from loyalty.tenancy.models import Role, Tenant
from loyalty.tenancy.services import invitation_create
from partners.models import Partner


class Command(TenantCommand):
    help = "Invite someone by email to a tenant with a role (for example a new program's first owner)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--partner", metavar="EXTERNAL_ID", help="The partner, for partner roles.")

    def handle_tenant(
        self, tenant: Tenant, *args: Any, email: str, role: str, partner: str | None, **options: Any
    ) -> None:
        partner_object = None
        if partner:
            partner_object = Partner.objects.filter(external_id=partner).first()
            if partner_object is None:
                raise CommandError(f"No partner with external id {partner!r} in {tenant.slug}.")
        try:
            invitation = invitation_create(email=email, role=role, partner=partner_object, invited_by=None)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(self.style.SUCCESS(f"Invited {invitation.email} to {tenant.slug} as {role}."))
