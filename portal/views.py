"""The server-rendered pages of a tenant's site."""

from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from loyalty.ledger.models import LedgerEntry
from loyalty.ledger.selectors import partner_points_get
from loyalty.tenancy.models import PARTNER_ROLES, Membership
from loyalty.tenancy.permissions import membership_required
from partners.models import Partner
from partners.selectors import partners_visible_to
from tiers.models import Criterion
from tiers.selectors import PartnerStatus, partner_status_get
from tiers.wording import gap_sentence, progress_text

TREND_WIDTH, TREND_HEIGHT = 320, 80


@membership_required()
def home(request: HttpRequest) -> HttpResponse:
    """Each member's landing page: their partner, their portfolio, or the program at a glance."""
    membership = request.membership
    context: dict = {"is_partner_member": membership.role in PARTNER_ROLES}
    if context["is_partner_member"]:
        context |= _dashboard(membership.partner, currency=request.tenant.currency)
    else:
        context["partners"] = partners_visible_to(membership).select_related("partner_type").order_by("name")[:50]
        context["partner_count"] = partners_visible_to(membership).count()
    return render(request, "portal/home.html", context)


def _criteria_rows(status: PartnerStatus, currency: str) -> tuple[list[dict], dict[int, str]]:
    """One progress bar per criterion of the best track, with its value and target in words."""
    if status.score is None:
        return [], {}
    kinds = dict(
        Criterion.objects.filter(pk__in=[row["criterion"] for row in status.score.breakdown]).values_list(
            "pk", "activity_kind"
        )
    )
    rows = []
    for row in status.score.breakdown:
        value, target = Decimal(row["value"]), Decimal(row["target"])
        kind = kinds.get(row["criterion"], "")
        rows.append(
            {
                "label": row["label"],
                "value": min(value, target),
                "target": target,
                "text": progress_text(row["metric"], kind, value, target, currency),
                "contribution": row["contribution"],
            }
        )
    return rows, kinds


def _trend_points(status: PartnerStatus) -> str:
    """SVG polyline points for the monthly scores (0–100 mapped onto the chart's height)."""
    count = len(status.trend)
    if count < 2:
        return ""
    step = TREND_WIDTH / (count - 1)
    return " ".join(
        f"{index * step:.1f},{TREND_HEIGHT - float(min(score, 100)) / 100 * TREND_HEIGHT:.1f}"
        for index, (_day, score) in enumerate(status.trend)
    )


def _dashboard(partner: Partner, *, currency: str) -> dict:
    """A partner's dashboard: tier, progress and gaps, points, benefits, trend and recent movements."""
    status = partner_status_get(partner=partner)
    criteria, kinds = _criteria_rows(status, currency)
    return {
        "partner": partner,
        "status": status,
        "points": partner_points_get(partner_id=partner.pk),
        "criteria": criteria,
        "gap": gap_sentence(gaps=status.score.gaps, kinds=kinds, currency=currency) if status.score else "",
        "unmet_gates": status.score.gaps.get("gates", []) if status.score else [],
        "trend_points": _trend_points(status),
        "trend_size": (TREND_WIDTH, TREND_HEIGHT),
        "recent": LedgerEntry.objects.filter(account__partner=partner).order_by("-created_at", "-pk")[:5],
        "team": Membership.objects.filter(partner=partner, is_active=True).select_related("user").order_by("pk"),
    }
