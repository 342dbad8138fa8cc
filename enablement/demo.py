"""Demo library and onboarding: resources (a file and links) and courses gated by tier and partner type, a quiz,
and the checklist with its welcome in English and Spanish. Idempotent: a program with courses keeps them."""

from django.core.files.base import ContentFile

from enablement.models import Course, Onboarding, OnboardingStep, QuizQuestion, Resource, WelcomeText
from partners.models import PartnerType

# A one-page PDF with no active content: what the upload scanning accepts.
PRICE_LIST_PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    b"\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>\nendobj\ntrailer\n<< /Root 1 0 R >>"
    b"\n%%EOF\n"
)
# title, minimum tier rank, partner type codes, link (empty: the PDF above)
RESOURCES = (
    ("Brand guidelines", None, (), "https://example.com/brand-guidelines"),
    ("Price list 2027", 2, (), ""),
    ("Competitive playbook", 3, ("reseller", "distributor"), "https://example.com/playbook"),
    ("Installer wiring handbook", None, ("installer",), "https://example.com/wiring"),
    ("Roadmap briefing", 4, (), "https://example.com/roadmap"),
)
# code (a demo training code, so earning rules and criteria already count it), title, rank, quiz
COURSES = (
    (
        "NET-101",
        "Networking fundamentals",
        None,
        (
            ("Which device joins two networks?", "A switch\nA router\nA patch panel", 2),
            ("What does VLAN stand for?", "Virtual local area network\nVery large access node", 1),
        ),
    ),
    ("WIFI-120", "Selling managed Wi-Fi", 2, ()),
    ("SEC-110", "Security architecture for Gold partners", 3, ()),
)
WELCOME = {
    "en": "Welcome to the program! Four steps get you going: tell us about your company, bring a colleague, "
    "take your first course and register your first deal.",
    "es": "¡Bienvenidos al programa! Cuatro pasos para empezar: cuéntenos de su empresa, invite a un compañero, "
    "haga su primer curso y registre su primera oportunidad.",
}


def seed_enablement() -> None:
    if Course.objects.exists():
        return
    types = {partner_type.code: partner_type for partner_type in PartnerType.objects.all()}
    for position, (title, rank, codes, url) in enumerate(RESOURCES):
        resource = Resource(title=title, minimum_tier_rank=rank, url=url, position=position)
        if not url:
            resource.file.save("price-list-2027.pdf", ContentFile(PRICE_LIST_PDF), save=False)
            resource.file_name = "Price list 2027.pdf"
        resource.save()
        resource.partner_types.set([types[code] for code in codes if code in types])
    for position, (code, title, rank, questions) in enumerate(COURSES):
        course = Course.objects.create(
            code=code,
            title=title,
            minimum_tier_rank=rank,
            position=position,
            material_url=f"https://example.com/courses/{code.lower()}",
            description="Slides and a recorded session; about 40 minutes.",
        )
        for number, (prompt, choices, correct) in enumerate(questions):
            QuizQuestion.objects.create(
                course=course, prompt=prompt, choices=choices, correct_choice=correct, position=number
            )
    onboarding = Onboarding.objects.create(steps=list(OnboardingStep.values), window_days=365)
    for language, text in WELCOME.items():
        WelcomeText.objects.create(onboarding=onboarding, language=language, text=text)
