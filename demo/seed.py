"""Demo data for `make demo`: two tenants with staff, partners and logins. Idempotent: re-running adds nothing.

Each feature adds its own seeding step here so that it shows in the demo.
"""

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from badges.demo import seed_badges
from deals.demo import seed_deals
from earning.models import EarningRule
from earning.services import activity_approve, claim_submit, exchange_rate_set
from enablement.demo import seed_enablement
from funds.demo import seed_funds
from loyalty.ledger.services import points_adjust, points_expire_due
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Membership, Role, Tenant, User
from notifications.events import daily_notifications_raise
from partners.demo import seed_applications
from partners.models import Activity, ActivityKind, Claim, Partner, PartnerType
from partners.services import activity_record
from rewards.demo import seed_rewards
from sso.demo import seed_identity_provider
from tiers.demo import seed_evaluations, seed_tier_models

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
    points_expiry: str
    country: str  # of the applicants to join (ISO 3166)
    # Partners who sell in a second currency (every other sale), converted at seeded daily rates (docs/currencies.md).
    foreign_sellers: tuple[str, ...] = ()
    foreign_currency: str = ""


DEMO_TENANTS = (
    DemoTenant(
        slug="acme",
        country="US",
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
        points_expiry=Tenant.PointsExpiry.MONTHS_AFTER_EARNING,
        foreign_sellers=("Northwind Solutions", "Lakeside Networks", "Brightpath Cloud"),
        foreign_currency="EUR",
    ),
    DemoTenant(
        slug="globex",
        country="ES",
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
        points_expiry=Tenant.PointsExpiry.END_OF_FOLLOWING_YEAR,
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
            "points_expiry": spec.points_expiry,
            "points_expiry_months": 12,
            "claim_review_threshold": Decimal("10000"),
            "applications_open": True,
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

        seed_tier_models(manager=manager)
        _seed_earning_rules()
        _seed_exchange_rates(spec, manager)
        _seed_activity(tenant, partners, manager, rng, spec)
        _seed_claims(tenant, partners[0], User.objects.get(email=f"sales@{domain}"))
        _seed_adjustments(partners, manager)
        seed_deals(partners=partners, member=User.objects.get(email=f"partner@{domain}"), manager=manager)
        points_expire_due()
        seed_evaluations()
        seed_badges()  # after the evaluations and deals: first upgrades and first wins are there to award
        seed_rewards(partner=partners[0], member=User.objects.get(email=f"partner@{domain}"), manager=manager)
        seed_applications(
            partners=partners, partner_type=types[PARTNER_TYPES[0][0]], reviewer=manager, country=spec.country
        )
        seed_identity_provider(partner=partners[0], domain=f"partner.{domain}")
        seed_funds(
            partners=partners,
            member=User.objects.get(email=f"partner@{domain}"),
            submitter=User.objects.get(email=f"sales@{domain}"),
            manager=manager,
        )
        seed_enablement()
        daily_notifications_raise(today=timezone.localdate())  # what the daily job would say this morning


CATEGORIES = ("switches", "routers", "wireless", "security", "services")
TRAININGS = ("NET-101", "NET-201", "SEC-110", "WIFI-120", "CLOUD-130")
CERTIFICATIONS = ("CERT-NETPRO", "CERT-SECPRO", "CERT-WIFI")
# Activity counts per partner over the demo year: (kind, lowest, highest).
ACTIVITY_MIX = (
    (ActivityKind.SALE, 8, 28),
    (ActivityKind.DEAL_REGISTRATION, 2, 8),
    (ActivityKind.TRAINING, 1, 6),
    (ActivityKind.CERTIFICATION, 0, 3),
    (ActivityKind.MARKETING, 0, 3),
    (ActivityKind.REFERRAL, 0, 2),
)


def _seed_earning_rules() -> None:
    today = timezone.localdate()
    rules = [
        ("Sales: 1 point per currency unit", ActivityKind.SALE, EarningRule.Basis.PER_CURRENCY_UNIT, "1", {}),
        ("Deal registration", ActivityKind.DEAL_REGISTRATION, EarningRule.Basis.PER_ACTIVITY, "200", {}),
        ("Training course completed", ActivityKind.TRAINING, EarningRule.Basis.PER_ACTIVITY, "150", {}),
        ("Certification earned", ActivityKind.CERTIFICATION, EarningRule.Basis.PER_ACTIVITY, "500", {}),
        ("Marketing campaign participation", ActivityKind.MARKETING, EarningRule.Basis.PER_ACTIVITY, "100", {}),
        ("Referral", ActivityKind.REFERRAL, EarningRule.Basis.PER_ACTIVITY, "300", {}),
        (
            "SPIFF: double points on switches this quarter",
            ActivityKind.SALE,
            EarningRule.Basis.PER_CURRENCY_UNIT,
            "1",
            {
                "product_categories": ["switches"],
                "valid_from": today - timedelta(days=60),
                "valid_until": today + timedelta(days=30),
                "cap_points": 20000,
                "cap_period": EarningRule.CapPeriod.QUARTER,
                "applies_tier_multiplier": False,
            },
        ),
    ]
    spanish = {
        "Sales: 1 point per currency unit": "Ventas: 1 punto por unidad de moneda",
        "Deal registration": "Registro de oportunidad",
        "Training course completed": "Curso de formación completado",
        "Certification earned": "Certificación obtenida",
        "Marketing campaign participation": "Participación en una campaña de marketing",
        "Referral": "Referencia",
        "SPIFF: double points on switches this quarter": "SPIFF: puntos dobles en switches este trimestre",
    }
    for name, kind, basis, rate, extra in rules:
        EarningRule.objects.get_or_create(
            name=name,
            defaults={
                "activity_kind": kind,
                "basis": basis,
                "rate": Decimal(rate),
                "translations": {"es": {"name": spanish[name]}},
                **extra,
            },
        )


RATE_DAYS = 460  # the activity reaches 450 days back


def _seed_exchange_rates(spec: DemoTenant, manager: User) -> None:
    """A rate for each of the last RATE_DAYS days from the second currency into the program's (EUR→USD around
    1.08, moving a little with the day): what the foreign sellers' sales are converted at."""
    if not spec.foreign_currency:
        return
    today = timezone.localdate()
    for back in range(RATE_DAYS + 1):
        wobble = Decimal(math.sin(back / 30)).quantize(Decimal("0.0001")) * Decimal("0.03")
        exchange_rate_set(
            currency=spec.foreign_currency,
            day=today - timedelta(days=back),
            rate=(Decimal("1.08") + wobble).quantize(Decimal("0.0001")),
            actor=manager,
        )


def _seed_activity(
    tenant: Tenant, partners: list[Partner], manager: User, rng: random.Random, spec: DemoTenant
) -> None:
    """About fifteen months of activity per active partner, nearly all approved (so some points have expired); the
    foreign sellers sell every other time in the second currency."""
    now = timezone.now()
    for partner in partners:
        if partner.status != Partner.Status.ACTIVE:
            continue
        # Bigger partners sell more: a per-partner scale keeps the portfolio varied.
        scale = rng.uniform(0.3, 1.6)
        for kind, lowest, highest in ACTIVITY_MIX:
            for number in range(int(rng.randint(lowest, highest) * scale) or lowest):
                occurred_at = now - timedelta(days=rng.randint(1, 450), hours=rng.randint(0, 23))
                fields: dict = {}
                if kind == ActivityKind.SALE:
                    foreign = partner.name in spec.foreign_sellers and number % 2
                    fields = {
                        "amount": Decimal(rng.randint(500, 40000)),
                        "currency": spec.foreign_currency if foreign else tenant.currency,
                        "product_category": rng.choice(CATEGORIES),
                        "product_sku": f"SKU-{rng.randint(100, 999)}",
                    }
                elif kind == ActivityKind.DEAL_REGISTRATION:
                    fields = {"amount": Decimal(rng.randint(5000, 120000)), "currency": tenant.currency}
                elif kind == ActivityKind.TRAINING:
                    fields = {"code": rng.choice(TRAININGS)}
                elif kind == ActivityKind.CERTIFICATION:
                    fields = {
                        "code": rng.choice(CERTIFICATIONS),
                        "valid_until": (occurred_at + timedelta(days=730)).date(),
                    }
                recorded = activity_record(
                    partner=partner,
                    kind=kind,
                    occurred_at=occurred_at,
                    source=Activity.Source.API,
                    external_id=f"{partner.external_id}-{kind}-{number}",
                    **fields,
                )
                # A few recent ones still wait for review.
                if recorded.created and not (occurred_at > now - timedelta(days=5) and number % 2):
                    activity_approve(activity=recorded.activity, actor=manager)


DEMO_PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _seed_claims(tenant: Tenant, partner: Partner, submitter: User) -> None:
    """Pending claims for the demo partner, one of them resembling another."""
    today = timezone.localdate()
    claims = [
        ("INV-2026-0412", Decimal("8400.00"), today - timedelta(days=3)),
        ("INV-2026-0419", Decimal("15250.00"), today - timedelta(days=2)),
        ("INV-2026-0412-B", Decimal("8400.00"), today - timedelta(days=3)),
    ]
    for invoice_number, amount, day in claims:
        if Claim.objects.filter(invoice_number=invoice_number).exists():
            continue
        claim_submit(
            partner=partner,
            submitted_by=submitter,
            claim_type=Claim.Type.SALE,
            occurred_on=day,
            evidence=SimpleUploadedFile(f"{invoice_number}.pdf", DEMO_PDF, content_type="application/pdf"),
            invoice_number=invoice_number,
            amount=amount,
            currency=tenant.currency,
            product_category="wireless",
        )


def _seed_adjustments(partners: list[Partner], manager: User) -> None:
    points_adjust(
        partner=partners[0],
        points=500,
        reason="Welcome bonus for joining the program",
        actor=manager,
        idempotency_key="demo:adjust:welcome",
    )
    points_adjust(
        partner=partners[1],
        points=-150,
        reason="Correction: training imported twice from the LMS",
        actor=manager,
        idempotency_key="demo:adjust:correction",
    )


@transaction.atomic
def seed_demo() -> None:
    _user(PLATFORM_ADMIN_EMAIL, "Platform", "Operator", is_superuser=True)
    for spec in DEMO_TENANTS:
        _seed_tenant(spec)
    _seed_person_in_two_programs()


# A reseller in both demo programs: Acme's partner admin also sells for Globex's first partner ("My programs").
MULTI_PROGRAM_EMAIL = "partner@acme.example"


def _seed_person_in_two_programs() -> None:
    person = User.objects.get(email=MULTI_PROGRAM_EMAIL)
    globex = Tenant.objects.get(slug=DEMO_TENANTS[1].slug)
    with tenant_context(globex):
        partner = Partner.objects.get(name=DEMO_TENANTS[1].partner_names[0])
        Membership.objects.get_or_create(user=person, defaults={"role": Role.PARTNER_USER, "partner": partner})
