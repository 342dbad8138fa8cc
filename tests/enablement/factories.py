"""Enablement test data: a published ladder, partners placed on a tier, resources and courses gated by it."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from enablement.models import Course, Onboarding, QuizQuestion, Resource, WelcomeText
from loyalty.tenancy.context import tenant_context
from partners.models import Partner, PartnerType
from tests.conftest import World
from tests.partners.helpers import PDF_BYTES
from tests.tiers.factories import revenue_program
from tiers.models import PartnerTier, Tier
from tiers.services import tier_model_publish

RANKS = {"Registered": 1, "Silver": 2, "Gold": 3, "Platinum": 4}


def ladder(world: World) -> dict[str, Tier]:
    """The standard four tiers, published (so their names are the program's)."""
    with tenant_context(world.tenant):
        program = revenue_program()
        tier_model_publish(model=program.model, actor=world.manager)
        return program.tiers


def place(world: World, partner: Partner, tier: Tier) -> None:
    """Put the partner on `tier` today (a nightly evaluation, an upgrade or a downgrade would)."""
    with tenant_context(world.tenant):
        PartnerTier.objects.update_or_create(partner=partner, defaults={"tier": tier, "since": timezone.localdate()})


def resource(
    world: World,
    title: str,
    *,
    rank: int | None = None,
    types: tuple[PartnerType, ...] = (),
    url: str = "",
    published: bool = True,
) -> Resource:
    """A link resource when `url` is given, else a (tiny, valid) PDF file."""
    with tenant_context(world.tenant):
        item = Resource(title=title, minimum_tier_rank=rank, url=url, is_published=published)
        if not url:
            item.file = SimpleUploadedFile("Price list.pdf", PDF_BYTES, content_type="application/pdf")
            item.file_name = "Price list.pdf"
        item.save()
        item.partner_types.set(types)
        return item


def course(
    world: World,
    title: str,
    *,
    code: str = "",
    rank: int | None = None,
    types: tuple[PartnerType, ...] = (),
    questions: tuple[tuple[str, str, int], ...] = (),
    pass_percent: int = 80,
) -> Course:
    """A course; `questions` are (prompt, choices one per line, right choice number)."""
    with tenant_context(world.tenant):
        item = Course.objects.create(
            title=title, code=code or title.lower().replace(" ", "-"), minimum_tier_rank=rank, pass_percent=pass_percent
        )
        item.partner_types.set(types)
        for position, (prompt, choices, correct) in enumerate(questions):
            QuizQuestion.objects.create(
                course=item, prompt=prompt, choices=choices, correct_choice=correct, position=position
            )
        return item


def onboarding(
    world: World, *, steps: tuple[str, ...] = ("profile", "invite", "training", "deal"), **texts
) -> Onboarding:
    with tenant_context(world.tenant):
        settings = Onboarding.objects.create(steps=list(steps))
        for language, text in texts.items():
            WelcomeText.objects.create(onboarding=settings, language=language, text=text)
        return settings
