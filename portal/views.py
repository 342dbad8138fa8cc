"""The server-rendered pages of a tenant's site."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from loyalty.tenancy.models import PARTNER_ROLES, Membership
from loyalty.tenancy.permissions import membership_required, partners_visible_to


@membership_required()
def home(request: HttpRequest) -> HttpResponse:
    """Each member's landing page: their partner, their portfolio, or the program at a glance."""
    membership = request.membership
    context: dict = {"is_partner_member": membership.role in PARTNER_ROLES}
    if context["is_partner_member"]:
        context["partner"] = membership.partner
        context["team"] = (
            Membership.objects.filter(partner=membership.partner, is_active=True).select_related("user").order_by("pk")
        )
    else:
        context["partners"] = partners_visible_to(membership).select_related("partner_type").order_by("name")[:50]
        context["partner_count"] = partners_visible_to(membership).count()
    return render(request, "portal/home.html", context)
