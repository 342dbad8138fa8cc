"""The partner's team page: members ranked by contribution, pending invitations, and (for partner admins)
inviting, revoking and removing colleagues."""

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from badges.selectors import partner_badges
from loyalty.ledger.models import LedgerEntry
from loyalty.ledger.selectors import EARNED
from loyalty.tenancy.models import Invitation, Membership, Role
from loyalty.tenancy.permissions import membership_required
from loyalty.tenancy.services import invitation_create, invitation_revoke, membership_deactivate
from partners.models import Claim
from partners.selectors import can_manage_partner_team
from portal.confirm import Confirmation, confirmation_render

partner_member_required = membership_required(Role.PARTNER_USER, Role.PARTNER_ADMIN)


class InviteForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("Email"), max_length=254)
    # Partner admins invite colleagues only: staff roles are never offered, nor accepted.
    role = forms.ChoiceField(
        label=gettext_lazy("Role"),
        choices=[(Role.PARTNER_USER, Role.PARTNER_USER.label), (Role.PARTNER_ADMIN, Role.PARTNER_ADMIN.label)],
        initial=Role.PARTNER_USER,
    )


def _require_team_admin(request: HttpRequest) -> None:
    if not can_manage_partner_team(request.membership, request.membership.partner):
        raise PermissionDenied


@dataclass(frozen=True)
class Leaderboard:
    """The members' rows, best first, and the partner's whole net earnings: what the members' activities earned
    plus what no current member is credited with (the vendor's systems without a named member, staff, former
    members), so the board reconciles with the dashboard's "earned"."""

    rows: list[dict]
    earned: int
    unattributed: int


def leaderboard(*, partner) -> Leaderboard:
    """The partner's active members with their contribution, best first, with competition ranks (1, 2, 2, 4).

    Points are net of reversals (a reversed sale earns nothing), counted as the dashboard counts them. Three
    queries whatever the team size: the members, the net points by who is credited, their claims.
    """
    members = list(Membership.objects.filter(partner=partner, is_active=True).select_related("user"))
    user_ids = [member.user_id for member in members]
    by_member = dict(
        LedgerEntry.objects.filter(EARNED, account__partner=partner)
        .values_list("activity__created_by_id")
        .annotate(total=Sum("points"))
        .order_by()
    )
    claims = dict(
        Claim.objects.filter(partner=partner, submitted_by_id__in=user_ids)
        .values_list("submitted_by_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    rows = [
        {"membership": member, "points": by_member.get(member.user_id, 0), "claims": claims.get(member.user_id, 0)}
        for member in members
    ]
    rows.sort(key=lambda row: (-row["points"], -row["claims"], str(row["membership"].user).lower()))
    previous, rank = None, 0
    for position, row in enumerate(rows, start=1):
        if (row["points"], row["claims"]) != previous:
            rank, previous = position, (row["points"], row["claims"])
        row["rank"] = rank
    earned = sum(by_member.values())
    return Leaderboard(rows=rows, earned=earned, unattributed=earned - sum(row["points"] for row in rows))


def _render_team(request: HttpRequest, form: InviteForm | None = None, status: int = 200) -> HttpResponse:
    partner = request.membership.partner
    can_manage = can_manage_partner_team(request.membership, partner)
    invitations = Invitation.objects.filter(
        partner=partner, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
    ).order_by("-created_at")
    return render(
        request,
        "portal/team/team.html",
        {
            "partner": partner,
            "board": leaderboard(partner=partner),
            "badges": partner_badges(partner=partner),
            "invitations": invitations,
            "can_manage": can_manage,
            "form": (form or InviteForm()) if can_manage else None,
        },
        status=status,
    )


@membership_required(Role.PARTNER_ADMIN)
@require_GET
def team(request: HttpRequest) -> HttpResponse:
    """The team page is for partner admins (the issue: a plain partner user cannot open it)."""
    return _render_team(request)


def _add_service_errors(form: InviteForm, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


@partner_member_required
@require_POST
def invite(request: HttpRequest) -> HttpResponse:
    _require_team_admin(request)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                invitation = invitation_create(
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    partner=request.membership.partner,
                    invited_by=request.user,
                )
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
            return redirect("portal:team")
    return _render_team(request, form, status=400)


@partner_member_required
@require_http_methods(["GET", "POST"])
def revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    """GET asks (portal/confirm.py), POST revokes; revoking a revoked invitation again says so."""
    _require_team_admin(request)
    # Filtering by the member's partner makes another partner's invitation a 404, like another tenant's.
    invitation = get_object_or_404(Invitation, pk=invitation_id, partner=request.membership.partner)
    already = ""
    if invitation.revoked_at is not None:
        already = _("The invitation to %(email)s was already revoked.") % {"email": invitation.email}
    elif invitation.accepted_at is not None:
        already = _("The invitation to %(email)s was already accepted: remove the member instead.") % {
            "email": invitation.email
        }
    if request.method == "POST":
        if already:
            messages.info(request, already)
        else:
            invitation_revoke(invitation=invitation, actor=request.user)
            messages.success(request, _("The invitation to %(email)s is revoked.") % {"email": invitation.email})
        return redirect("portal:team")
    return confirmation_render(
        request,
        Confirmation(
            title=_("Revoke the invitation"),
            question=_("Revoke the invitation to %(email)s?") % {"email": invitation.email},
            consequences=[_("The link in the email stops working; you can invite the same address again later.")],
            action_label=_("Revoke the invitation"),
            cancel_url=reverse("portal:team"),
            done=already,
        ),
    )


@partner_member_required
@require_http_methods(["GET", "POST"])
def remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    """GET asks (portal/confirm.py), POST removes; removing a removed member again says so."""
    _require_team_admin(request)
    membership = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, partner=request.membership.partner
    )
    name = membership.user.get_full_name() or membership.user.email
    already = _("%(name)s was already removed from the team.") % {"name": name} if not membership.is_active else ""
    if request.method == "POST":
        if already:
            messages.info(request, already)
            return redirect("portal:team")
        try:
            membership_deactivate(membership=membership, actor=request.user)
        except ValidationError as refusal:
            messages.error(request, " ".join(refusal.messages))
        else:
            messages.success(request, _("%(name)s was removed from the team.") % {"name": name})
        return redirect("portal:team")
    return confirmation_render(
        request,
        Confirmation(
            title=_("Remove a member"),
            question=_("Remove %(name)s (%(email)s) from the team?") % {"name": name, "email": membership.user.email},
            consequences=[
                _("They can no longer sign in to %(partner)s's account in this program.")
                % {"partner": membership.partner.name},
                _("Their past activities, claims and redemptions stay, with their name."),
                _("To bring them back, invite them again."),
            ],
            action_label=_("Remove from the team"),
            cancel_url=reverse("portal:team"),
            done=already,
        ),
    )
