"""Engagement test helpers: an audience world (tiers, types, regions), announcements and surveys as staff make them."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from engagement.models import Announcement, Survey
from engagement.services import Audience, announcement_create, survey_create
from loyalty.tenancy.models import Role, User
from partners.models import Partner, PartnerType
from tests.conftest import World
from tests.factories import MembershipFactory, PartnerFactory, PartnerTypeFactory
from tests.tiers.factories import revenue_program
from tiers.models import PartnerTier, Tier, TierModel


@dataclass
class Cast:
    """acme's partners spread over tiers, types and regions, with who belongs where.

    partner (reseller, EMEA, Gold): partner_admin, partner_user · unmanaged_partner (reseller, EMEA, Silver): silver
    · distributor (distributor, AMER, Gold): dist · untiered (distributor, AMER, no tier): fresh
    · suspended (reseller, EMEA, Gold): nobody reached · an inactive member of `partner`: never reached.
    """

    gold: Tier
    silver: Tier
    reseller: PartnerType
    distributor_type: PartnerType
    distributor: Partner
    silver_member: User
    distributor_member: User
    fresh_member: User
    suspended_member: User
    inactive_member: User


def cast(world: World) -> Cast:
    """Call inside the world's tenant context."""
    program = revenue_program()
    TierModel.objects.filter(pk=program.model.pk).update(status=TierModel.Status.ACTIVE)
    gold, silver = program.tiers["Gold"], program.tiers["Silver"]
    distributor_type = PartnerTypeFactory(code="distributor", name="Distributor")
    distributor = PartnerFactory(name="Dist Co", partner_type=distributor_type, region="AMER")
    untiered = PartnerFactory(name="Fresh Co", partner_type=distributor_type, region="AMER")
    suspended = PartnerFactory(name="Gone Co", partner_type=world.partner_type, status=Partner.Status.SUSPENDED)
    for partner, tier in ((world.partner, gold), (world.unmanaged_partner, silver), (distributor, gold)):
        PartnerTier.objects.create(partner=partner, tier=tier, since=timezone.localdate())
    PartnerTier.objects.create(partner=suspended, tier=gold, since=timezone.localdate())

    def member(partner: Partner, email: str, **fields: object) -> User:
        return MembershipFactory(partner=partner, role=Role.PARTNER_USER, user__email=email, **fields).user

    return Cast(
        gold=gold,
        silver=silver,
        reseller=world.partner_type,
        distributor_type=distributor_type,
        distributor=distributor,
        silver_member=member(world.unmanaged_partner, "silver@acme.test"),
        distributor_member=member(distributor, "dist@acme.test"),
        fresh_member=member(untiered, "fresh@acme.test"),
        suspended_member=member(suspended, "gone@acme.test"),
        inactive_member=member(world.partner, "left@acme.test", is_active=False),
    )


def announce(
    world: World,
    title: str = "Price list 2027",
    *,
    audience: Audience | None = None,
    publish_at: datetime | None = None,
    texts: dict | None = None,
) -> Announcement:
    """An announcement by the program manager; call inside the tenant context."""
    return announcement_create(
        texts=texts or {"en": {"title": title, "body": f"{title}: the details."}},
        link="",
        audience=audience or Audience(),
        publish_at=publish_at or timezone.now(),
        actor=world.manager,
    )


def open_survey(
    world: World,
    title: str = "How are we doing?",
    *,
    audience: Audience | None = None,
    cadence: str = Survey.Cadence.ONCE,
    opens_at: datetime | None = None,
    questions: tuple[str, ...] = (),
) -> Survey:
    """A survey by the program manager; call inside the tenant context."""
    return survey_create(
        texts={"en": {"title": title, "questions": list(questions)}},
        cadence=cadence,
        audience=audience or Audience(),
        opens_at=opens_at or timezone.now(),
        actor=world.manager,
    )
