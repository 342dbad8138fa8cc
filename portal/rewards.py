"""The partner's reward pages: the catalog, the redeem confirmation, and the redemption history."""

import uuid

from django import forms
from django.contrib import messages
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from loyalty.ledger.selectors import partner_points_get
from loyalty.ledger.services import IdempotencyConflictError
from loyalty.tenancy.models import Role
from loyalty.tenancy.permissions import membership_required
from rewards.models import Redemption, Reward
from rewards.selectors import partner_redemptions, redemption_rows, reward_catalog_get
from rewards.services import redeemer_facts, redemption_cancel, redemption_refusal, reward_redeem

partner_member_required = membership_required(Role.PARTNER_USER, Role.PARTNER_ADMIN)
HISTORY_PAGE_SIZE = 25


class CatalogFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"), choices=[("", gettext_lazy("All kinds")), *Reward.Kind.choices], required=False
    )
    affordable = forms.BooleanField(label=gettext_lazy("Affordable now"), required=False)


class RedeemForm(forms.Form):
    quantity = forms.IntegerField(label=gettext_lazy("Quantity"), min_value=1, max_value=100, initial=1)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)


@partner_member_required
def catalog(request: HttpRequest) -> HttpResponse:
    partner = request.membership.partner
    points = partner_points_get(partner_id=partner.pk)
    filters = CatalogFilterForm(request.GET or None)
    kind, affordable = "", False
    if filters.is_valid():
        kind, affordable = filters.cleaned_data["kind"], filters.cleaned_data["affordable"]
    entries = reward_catalog_get(partner=partner, balance=points.balance, kind=kind, affordable_only=affordable)
    return render(
        request,
        "portal/rewards/catalog.html",
        {
            "partner": partner,
            "points": points,
            "filters": filters,
            "entries": entries,
            "is_filtered": bool(kind or affordable),
        },
    )


def _quantity_from(request: HttpRequest) -> int:
    try:
        quantity = int(request.GET.get("quantity", 1))
    except ValueError:
        return 1
    return min(max(quantity, 1), 100)


def _redeemed_message(redemption: Redemption) -> str:
    if redemption.status == Redemption.Status.REQUESTED:
        return _("%(reward)s requested: it waits for the program team's review.") % {"reward": redemption.reward.name}
    return _("%(reward)s redeemed.") % {"reward": redemption.reward.name}


@partner_member_required
@require_http_methods(["GET", "POST"])
def redeem(request: HttpRequest, reward_id: int) -> HttpResponse:
    """GET: confirm (reward, quantity, cost, balance after). POST: redeem once per key, then go to the history."""
    partner = request.membership.partner
    reward = get_object_or_404(Reward, pk=reward_id, status=Reward.Status.ACTIVE)
    error, is_refused = "", False
    if request.method == "POST":
        form = RedeemForm(request.POST)
        if not form.is_valid():
            quantity = form.cleaned_data.get("quantity") or 1
            error = " ".join(message for messages_ in form.errors.values() for message in messages_)
        else:
            quantity = form.cleaned_data["quantity"]
            try:
                redemption = reward_redeem(
                    partner=partner,
                    requested_by=request.user,
                    reward=reward,
                    quantity=quantity,
                    idempotency_key=form.cleaned_data["idempotency_key"],
                )
            except IdempotencyConflictError:
                error = _("This confirmation was already used for another redemption; please confirm again.")
                form = RedeemForm(initial={"quantity": quantity, "idempotency_key": uuid.uuid4()})
            except ValidationError as refusal:
                error, is_refused = " ".join(refusal.messages), True
            else:
                messages.success(request, _redeemed_message(redemption))
                return redirect("portal:rewards-history")
    else:
        quantity = _quantity_from(request)
        form = RedeemForm(initial={"quantity": quantity, "idempotency_key": uuid.uuid4()})
    points = partner_points_get(partner_id=partner.pk)
    cost = reward.points_cost * quantity
    if not error:
        facts = redeemer_facts(partner=partner, rewards=[reward], balance=points.balance)
        refusal = redemption_refusal(reward=reward, partner=partner, quantity=quantity, facts=facts)
        error, is_refused = (refusal.message, True) if refusal else ("", False)
    return render(
        request,
        "portal/rewards/redeem.html",
        {
            "reward": reward,
            "form": form,
            "quantity": quantity,
            "cost": cost,
            "points": points,
            "balance_after": points.balance - cost,
            "error": error,
            "is_refused": is_refused,
        },
    )


@partner_member_required
def history(request: HttpRequest) -> HttpResponse:
    """The partner's redemptions; gift-card codes are decrypted here only, for this partner's own members."""
    page = Paginator(partner_redemptions(partner=request.membership.partner), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request, "portal/rewards/history.html", {"page": page, "rows": redemption_rows(redemptions=list(page))}
    )


@partner_member_required
@require_POST
def cancel(request: HttpRequest, redemption_id: int) -> HttpResponse:
    # Filtering by the member's partner makes another partner's redemption a 404, like another tenant's.
    redemption = get_object_or_404(Redemption, pk=redemption_id, partner=request.membership.partner)
    try:
        redemption_cancel(redemption=redemption, actor=request.user)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(
            request,
            _("%(reward)s cancelled: %(points)s points are back in your balance.")
            % {"reward": redemption.reward.name, "points": intcomma(redemption.points)},
        )
    return redirect("portal:rewards-history")
