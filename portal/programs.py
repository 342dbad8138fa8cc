"""The platform host's "My programs": every program a person belongs to, and a one-click way into each."""

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from loyalty.ledger.selectors import partner_points_get
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Membership
from loyalty.tenancy.selectors import memberships_everywhere, tenant_base_url
from loyalty.tenancy.services import HandoffRefusedError, handoff_issue
from tiers.models import PartnerTier


@dataclass(frozen=True)
class ProgramRow:
    membership: Membership
    tier_name: str | None
    balance: int | None  # points of the partner the person acts for; None for program staff


def _row(membership: Membership) -> ProgramRow:
    """Read one program's figures inside that program (its row-level security applies, as on its own host)."""
    if membership.partner_id is None:
        return ProgramRow(membership, None, None)
    with tenant_context(membership.tenant):
        state = PartnerTier.objects.filter(partner_id=membership.partner_id).select_related("tier").first()
        balance = partner_points_get(partner_id=membership.partner_id).balance
    return ProgramRow(membership, state.tier.i18n.name if state else None, balance)


@login_required
def my_programs(request: HttpRequest) -> HttpResponse:
    rows = [_row(membership) for membership in memberships_everywhere(user=request.user)]
    return render(request, "platform/programs.html", {"rows": rows})


@login_required
@require_POST
def program_open(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Hand the person over to the program's own host with a one-minute, single-use pass (POST: never prefetched)."""
    membership = next((m for m in memberships_everywhere(user=request.user) if m.pk == membership_id), None)
    if membership is None:
        raise Http404
    try:
        token = handoff_issue(user=request.user, tenant=membership.tenant)
    except HandoffRefusedError as error:
        raise Http404 from error
    return redirect(f"{tenant_base_url(tenant=membership.tenant)}/accounts/handoff/?token={token}")
