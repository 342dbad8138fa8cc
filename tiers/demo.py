"""Demo tier models: an active four-tier scorecard with two pathways, a draft to simulate, and past evaluations."""

from datetime import date, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from partners.models import ActivityKind, PartnerType
from tiers.models import Criterion, Metric, Pathway, Tier, TierBenefit, TierGate, TierModel
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish

TIERS = (
    # name, rank, minimum score, multiplier, colour, benefits (kind, value, text), certifications gate
    (
        "Registered",
        1,
        "0",
        "1.00",
        "#6b7280",
        (("deal_protection_days", "60", ""), ("text", None, "Partner portal")),
        None,
    ),
    (
        "Silver",
        2,
        "40",
        "1.10",
        "#94a3b8",
        (
            ("deal_protection_days", "90", ""),
            ("discount_rate", "5", ""),
            ("rebate_rate", "1", ""),
            ("text", None, "Co-branded collateral"),
        ),
        None,
    ),
    (
        "Gold",
        3,
        "65",
        "1.25",
        "#ca8a04",
        (
            ("mdf_allocation", "5000", ""),
            ("deal_protection_days", "120", ""),
            ("discount_rate", "10", ""),
            ("rebate_rate", "2", ""),
            ("support_level", None, "Named channel manager"),
            ("text", None, "Lead sharing"),
        ),
        2,
    ),
    (
        "Platinum",
        4,
        "85",
        "1.50",
        "#475569",
        (
            ("mdf_allocation", "15000", ""),
            ("deal_protection_days", "180", ""),
            ("discount_rate", "15", ""),
            ("rebate_rate", "3", ""),
            ("support_level", None, "Executive sponsor"),
            ("early_access", None, ""),
        ),
        3,
    ),
)
RESELLER_CRITERIA = (
    # label, metric, kind, target, weight, cap
    ("Revenue", Metric.REVENUE, "", "300000", "40", "1.2"),
    ("Deal registrations", Metric.DEAL_REGISTRATIONS, "", "8", "20", "1"),
    ("Trainings", Metric.ACTIVITY_COUNT, ActivityKind.TRAINING, "6", "15", "1"),
    ("Valid certifications", Metric.VALID_CERTIFICATIONS, "", "3", "15", "1"),
    ("Marketing participation", Metric.ACTIVITY_COUNT, ActivityKind.MARKETING, "3", "10", "1"),
)
INSTALLER_CRITERIA = (
    ("Trainings", Metric.ACTIVITY_COUNT, ActivityKind.TRAINING, "6", "35", "1"),
    ("Valid certifications", Metric.VALID_CERTIFICATIONS, "", "3", "35", "1"),
    ("Revenue", Metric.REVENUE, "", "150000", "20", "1.2"),
    ("Referrals", Metric.ACTIVITY_COUNT, ActivityKind.REFERRAL, "2", "10", "1"),
)


# The demo program is written in English; its content is translated into Spanish, as a program's staff would on
# the translations page (issue 17, item 16).
SPANISH = {
    "Registered": "Registrado",
    "Silver": "Plata",
    "Gold": "Oro",
    "Platinum": "Platino",
    "Partner portal": "Portal de socios",
    "Co-branded collateral": "Material con marca compartida",
    "Named channel manager": "Gestor de canal asignado",
    "Lead sharing": "Reparto de oportunidades",
    "Executive sponsor": "Patrocinador ejecutivo",
    "Revenue": "Ingresos",
    "Deal registrations": "Registros de oportunidades",
    "Trainings": "Formaciones",
    "Valid certifications": "Certificaciones vigentes",
    "Marketing participation": "Participación en marketing",
    "Referrals": "Referencias",
    "Resellers and distributors": "Revendedores y distribuidores",
    "Installers": "Instaladores",
}


def spanish(field: str, text: str) -> dict:
    """The demo's translations of one text, as `translations` holds them (none when it has no Spanish)."""
    return {"es": {field: SPANISH[text]}} if text in SPANISH else {}


def _build_model(
    *, name: str, version: int, effective_from: date, score_shift: Decimal, revenue_scale: Decimal
) -> TierModel:
    model = TierModel.objects.create(name=name, version=version, effective_from=effective_from)
    for tier_name, rank, minimum, multiplier, colour, benefits, certifications in TIERS:
        tier = Tier.objects.create(
            model=model,
            name=tier_name,
            translations=spanish("name", tier_name),
            rank=rank,
            minimum_score=max(Decimal(0), Decimal(minimum) - (score_shift if rank > 1 else 0)),
            point_multiplier=Decimal(multiplier),
            colour=colour,
        )
        for position, (kind, value, text) in enumerate(benefits):
            TierBenefit.objects.create(
                tier=tier,
                kind=kind,
                value=None if value is None else Decimal(value),
                currency=current_tenant().currency if kind == "mdf_allocation" else "",
                text=text,
                translations=spanish("text", text),
                position=position,
            )
        if certifications:
            TierGate.objects.create(
                tier=tier,
                label=f"{certifications} valid certifications",
                translations={"es": {"label": f"{certifications} certificaciones vigentes"}},
                metric=Metric.VALID_CERTIFICATIONS,
                minimum=Decimal(certifications),
            )
    types = {partner_type.code: partner_type for partner_type in PartnerType.objects.all()}
    for pathway_name, codes, criteria in (
        ("Resellers and distributors", ("reseller", "distributor", "agent"), RESELLER_CRITERIA),
        ("Installers", ("installer",), INSTALLER_CRITERIA),
    ):
        pathway = Pathway.objects.create(model=model, name=pathway_name, translations=spanish("name", pathway_name))
        pathway.partner_types.set([types[code] for code in codes if code in types])
        for label, metric, kind, target, weight, cap in criteria:
            scale = revenue_scale if metric == Metric.REVENUE else Decimal(1)
            Criterion.objects.create(
                pathway=pathway,
                label=label,
                translations=spanish("label", label),
                metric=metric,
                activity_kind=kind,
                target=Decimal(target) * scale,
                weight=Decimal(weight),
                cap=Decimal(cap),
            )
    return model


def seed_tier_models(*, manager: User) -> None:
    """The active model (published a year ago) and a draft that lowers the bar, to simulate."""
    if TierModel.objects.exists():
        return
    year_ago = timezone.localdate() - relativedelta(years=1, days=10)
    active = _build_model(
        name="Partner Program", version=1, effective_from=year_ago, score_shift=Decimal(0), revenue_scale=Decimal(1)
    )
    tier_model_publish(model=active, actor=manager)
    _build_model(
        name="Partner Program (recalibrated)",
        version=2,
        effective_from=timezone.localdate() + timedelta(days=30),
        score_shift=Decimal(5),
        revenue_scale=Decimal("0.8"),
    )


def seed_evaluations() -> None:
    """Month-end evaluations for the past year, then today's, so trends and tier changes exist."""
    today = timezone.localdate()
    days = [date(today.year, today.month, 1) - relativedelta(months=months, days=1) for months in range(11, -1, -1)]
    for evaluated_on in [*days, today]:
        tenant_evaluate(
            evaluated_on=evaluated_on, dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
        )
