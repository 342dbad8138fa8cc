"""Demo data for `make demo`: two tenants with staff, partners and logins. Idempotent: re-running adds nothing.

Each feature adds its own seeding step here so that it shows in the demo.
"""

import random
from dataclasses import dataclass
from datetime import date, timedelta

from allauth.account.models import EmailAddress
from django.db import transaction

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Membership, Role, Tenant, User
from partners.models import Partner, PartnerType

DEMO_PASSWORD = "tierline-demo"  # noqa: S105 - printed by make demo; demo data only
PLATFORM_ADMIN_EMAIL = "admin@tierline.example"


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    currency: str
    timezone: str
    language: str
    brand_colour: str
    partner_names: tuple[str, ...]
    regions: tuple[str, ...]


DEMO_TENANTS = (
    DemoTenant(
        slug="acme",
        name="Acme Networks Partner Program",
        currency="USD",
        timezone="America/New_York",
        language="en",
        brand_colour="#b4451f",
        partner_names=(
            "Northwind Solutions",
            "Bluebird IT",
            "Cascade Integrators",
            "Summit Distribution",
            "Redwood Installers",
            "Harbor Tech Agents",
            "Pinnacle Resellers",
            "Granite Systems",
            "Lakeside Networks",
            "Ironclad Security",
            "Brightpath Cloud",
            "Meridian Supply",
        ),
        regions=("North America East", "North America West", "LATAM"),
    ),
    DemoTenant(
        slug="globex",
        name="Globex Alliance",
        currency="EUR",
        timezone="Europe/Madrid",
        language="es",
        brand_colour="#0f766e",
        partner_names=(
            "Iberia Datos",
            "Soluciones Atlas",
            "Nordic Channel AB",
            "Rhein Systemhaus",
            "Levante Instalaciones",
            "Costa Cloud",
            "Alpine Distribution",
            "Lusitania IT",
            "Meseta Redes",
            "Baltic Agents",
        ),
        regions=("Iberia", "DACH", "Nordics"),
    ),
)
PARTNER_TYPES = (
    ("distributor", "Distributor"),
    ("reseller", "Reseller"),
    ("installer", "Installer"),
    ("agent", "Agent"),
)
SEGMENTS = ("Enterprise", "Mid-market", "SMB")


def _user(email: str, first_name: str, last_name: str, *, is_superuser: bool = False) -> User:
    user, created = User.objects.get_or_create(
        email=email,
        defaults={
            "first_name": first_name,
            "last_name": last_name,
            "is_superuser": is_superuser,
            "is_staff": is_superuser,
        },
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


def _member(user: User, role: Role, partner: Partner | None = None) -> Membership:
    membership, _ = Membership.objects.get_or_create(user=user, defaults={"role": role, "partner": partner})
    return membership


def _seed_tenant(spec: DemoTenant) -> None:
    tenant, _ = Tenant.objects.get_or_create(
        slug=spec.slug,
        defaults={
            "name": spec.name,
            "currency": spec.currency,
            "time_zone": spec.timezone,
            "language": spec.language,
            "brand_colour": spec.brand_colour,
        },
    )
    domain = f"{spec.slug}.example"
    with tenant_context(tenant):
        owner = _user(f"owner@{domain}", "Olivia", "Owner")
        manager = _user(f"manager@{domain}", "Manuel", "Manager")
        account_manager = _user(f"am@{domain}", "Ana", "Account")
        _member(owner, Role.OWNER)
        _member(manager, Role.PROGRAM_MANAGER)
        _member(account_manager, Role.ACCOUNT_MANAGER)

        types = {
            code: PartnerType.objects.get_or_create(code=code, defaults={"name": name})[0]
            for code, name in PARTNER_TYPES
        }
        rng = random.Random(spec.slug)  # noqa: S311 - deterministic demo data, not security
        partners = []
        for index, name in enumerate(spec.partner_names):
            partner, _ = Partner.objects.get_or_create(
                external_id=f"{spec.slug.upper()}-{1001 + index}",
                defaults={
                    "name": name,
                    "partner_type": types[PARTNER_TYPES[index % len(PARTNER_TYPES)][0]],
                    "region": spec.regions[index % len(spec.regions)],
                    "segment": rng.choice(SEGMENTS),
                    # Two thirds of the portfolio belongs to the demo account manager.
                    "account_manager": account_manager if index % 3 != 2 else None,
                    "joined_at": date(2023, 1, 15) + timedelta(days=rng.randint(0, 900)),
                    "status": Partner.Status.SUSPENDED
                    if index == len(spec.partner_names) - 1
                    else Partner.Status.ACTIVE,
                },
            )
            partners.append(partner)

        _member(_user(f"partner@{domain}", "Pat", "Partner"), Role.PARTNER_ADMIN, partners[0])
        _member(_user(f"sales@{domain}", "Sam", "Seller"), Role.PARTNER_USER, partners[0])
        _member(_user(f"tech@{domain}", "Terry", "Technician"), Role.PARTNER_USER, partners[0])
        for partner in partners[1:]:
            slug = partner.external_id.lower()
            _member(_user(f"admin@{slug}.{domain}", "Admin", partner.name), Role.PARTNER_ADMIN, partner)


@transaction.atomic
def seed_demo() -> None:
    _user(PLATFORM_ADMIN_EMAIL, "Platform", "Operator", is_superuser=True)
    for spec in DEMO_TENANTS:
        _seed_tenant(spec)
