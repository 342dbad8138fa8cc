"""The partner's reward pages: the catalog, the redeem confirmation, and the redemption history."""

import uuid
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from loyalty.ledger.models import PointsAccount
from loyalty.ledger.selectors import POINTS_VERSION_FIELDS, partner_balance_get, partner_points_get
from loyalty.ledger.services import IdempotencyConflictError
from loyalty.tenancy.caching import prefetch
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import Role
from loyalty.tenancy.permissions import membership_required
from loyalty.translations import content_version_key
from notifications.selectors import notifications_unread_entry
from portal.confirm import Confirmation, confirmation_render
from portal.fragments import PAGE_SECONDS, Fragments, member_page_setting, sql_columns
from rewards.models import Redemption, Reward
from rewards.selectors import partner_redemptions, redemption_for_intent, redemption_rows, reward_catalog_get
from rewards.services import (
    OPEN_STATUSES,
    CostChangedError,
    redeemer_facts,
    redemption_cancel,
    redemption_refusal,
    reward_redeem,
)
from tiers.models import PartnerTier
from tiers.selectors import STANDING_VERSION_FIELDS

partner_member_required = membership_required(Role.PARTNER_USER, Role.PARTNER_ADMIN)
HISTORY_PAGE_SIZE = 25
MAX_QUANTITY = 100


class CatalogFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"), choices=[("", gettext_lazy("All kinds")), *Reward.Kind.choices], required=False
    )
    affordable = forms.BooleanField(label=gettext_lazy("Affordable now"), required=False)


DELIVERY = ("option", "shipping_address")


class RedeemForm(forms.Form):
    """What the confirm button says: this quantity for these points, under this confirmation's intent key."""

    quantity = forms.IntegerField(label=gettext_lazy("Quantity"), min_value=1, max_value=MAX_QUANTITY, initial=1)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)
    points = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    # What fulfilment needs (issue 17, item 24): kept only for rewards that have options or are shipped.
    option = forms.ChoiceField(label=gettext_lazy("Choose"))
    shipping_address = forms.CharField(
        label=gettext_lazy("Ship to"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "shipping street-address"}),
        help_text=gettext_lazy("Name, street, city, postal code and country."),
    )

    def __init__(self, *args, reward: Reward, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if reward.option_list:
            self.fields["option"].choices = [("", "—"), *((option, option) for option in reward.option_list)]
        else:
            del self.fields["option"]
        if not reward.is_shipped:
            del self.fields["shipping_address"]


def _catalog_versions(partner_id: int) -> tuple[str, int]:
    """The version of everything the catalog shows for a partner, and its balance, in one query of plain SQL (no
    ORM to compile): the account's points version (`POINTS_VERSION_FIELDS`), the tier state's fields
    (`STANDING_VERSION_FIELDS`: the rank the checks read), every active reward's whole row with whether its
    availability window holds now (so a reward entering or leaving its window moves it with the clock), and the
    partner's open redemptions (the limits' usage). The data's own values: any writer that changes them changes
    this, whatever its path (tests/portal/test_pages_cached.py)."""
    account, state, reward, redemption = (
        model._meta.db_table for model in (PointsAccount, PartnerTier, Reward, Redemption)
    )
    account_columns = sql_columns(PointsAccount, POINTS_VERSION_FIELDS, alias="account")
    state_columns = sql_columns(PartnerTier, STANDING_VERSION_FIELDS, alias="state")
    # Table and column names from the models, values as parameters.
    sql = f"""
        SELECT account.balance, {account_columns}, {state_columns},
               (SELECT md5(string_agg(
                    reward::text || (COALESCE(reward.available_from <= %s, TRUE)
                                     AND COALESCE(reward.available_until >= %s, TRUE))::text,
                    ',' ORDER BY reward.id))
                FROM {reward} reward WHERE reward.tenant_id = %s AND reward.status = %s),
               (SELECT COUNT(*) || '.' || COALESCE(SUM(quantity), 0) || '.' || COALESCE(MAX(id), 0)
                FROM {redemption} WHERE partner_id = %s AND status = ANY(%s))
        FROM (SELECT 1) one
        LEFT JOIN {account} account ON account.partner_id = %s
        LEFT JOIN {state} state ON state.partner_id = %s
    """  # noqa: S608
    now = timezone.now()
    tenant_id = current_tenant().pk
    parameters = [now, now, tenant_id, Reward.Status.ACTIVE, partner_id, list(OPEN_STATUSES), partner_id, partner_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        row = cursor.fetchone()
    return ".".join("" if value is None else str(value) for value in row[1:]), row[0] or 0


@partner_member_required
def catalog(request: HttpRequest) -> HttpResponse:
    """The catalog as this partner sees it. Unfiltered, the content is one fragment kept under everything it shows
    (`_catalog_versions`, `member_page_setting`): a warm page is one query and one cache read."""
    partner = request.membership.partner
    found = prefetch([notifications_unread_entry(user=request.user)], keys=[content_version_key(request.tenant.pk)])
    filters = CatalogFilterForm(request.GET or None)
    kind, affordable = "", False
    if filters.is_valid():
        kind, affordable = filters.cleaned_data["kind"], filters.cleaned_data["affordable"]
    setting = None if request.GET else member_page_setting(request, found=found)
    whole = None
    if setting is None:  # filtered, or not cacheable now (the demo's SQLite without Redis too): read live
        balance = partner_balance_get(partner_id=partner.pk)
    else:
        versions, balance = _catalog_versions(partner.pk)
        whole = f"{setting}.{versions}"
    return render(
        request,
        "portal/rewards/catalog.html",
        {
            "partner": partner,
            "balance": balance,
            "filters": filters,
            "entries": SimpleLazyObject(
                lambda: reward_catalog_get(partner=partner, balance=balance, kind=kind, affordable_only=affordable)
            ),
            "is_filtered": bool(kind or affordable),
            "page_fragment": Fragments(page=f"rewards.{partner.pk}", versions={"catalog": (whole, PAGE_SECONDS)}),
        },
    )


def _quantity_from(request: HttpRequest) -> int:
    try:
        quantity = int(request.GET.get("quantity", 1))
    except ValueError:
        return 1
    return min(max(quantity, 1), MAX_QUANTITY)


def _intent_from(request: HttpRequest) -> str | None:
    try:
        return str(uuid.UUID(request.GET.get("intent", "")))
    except ValueError:
        return None


def _confirmation_url(reward: Reward, *, quantity: int, intent: str) -> str:
    query = urlencode({"intent": intent, "quantity": quantity})
    return f"{reverse('portal:rewards-redeem', args=[reward.pk])}?{query}"


def _redeemed_message(redemption: Redemption) -> str:
    if redemption.status == Redemption.Status.REQUESTED:
        return _("%(reward)s requested: it waits for the program team's review.") % {
            "reward": redemption.reward.i18n.name
        }
    return _("%(reward)s redeemed.") % {"reward": redemption.reward.i18n.name}


@partner_member_required
@require_http_methods(["GET", "POST"])
def redeem(request: HttpRequest, reward_id: int) -> HttpResponse:
    """GET: confirm (reward, quantity, cost, balance after). POST: redeem once per intent, then go to the history.

    The idempotency key belongs to the intent, not to the page load: a confirmation page gets its key once, in its
    URL, so reloading it or coming back to it with the browser's back button keeps the key, and a key already used
    shows "already redeemed" with a link instead of redeeming again (issue 17, item 7). The confirm button names
    the quantity and the points; the POST carries both, and when they disagree with what would be redeemed the
    page shows the new figures to confirm instead of redeeming something else (item 6).
    """
    partner = request.membership.partner
    reward = get_object_or_404(Reward, pk=reward_id, status=Reward.Status.ACTIVE)
    error, is_refused = "", False
    if request.method == "POST":
        form = RedeemForm(request.POST, reward=reward)
        if not form.is_valid():
            quantity = _bounded(form.data.get("quantity"))
            intent = str(form.cleaned_data.get("idempotency_key") or "")
            error = " ".join(
                message for name, messages_ in form.errors.items() if name not in DELIVERY for message in messages_
            )
        else:
            quantity, intent = form.cleaned_data["quantity"], str(form.cleaned_data["idempotency_key"])
            if redemption_for_intent(partner=partner, reward=reward, idempotency_key=intent):
                return redirect(_confirmation_url(reward, quantity=quantity, intent=intent))
            try:
                redemption = reward_redeem(
                    partner=partner,
                    requested_by=request.user,
                    reward=reward,
                    quantity=quantity,
                    idempotency_key=intent,
                    points_expected=form.cleaned_data["points"],
                    **{name: form.cleaned_data[name] for name in DELIVERY if name in form.fields},
                )
            except IdempotencyConflictError:
                error, intent = (
                    _("This confirmation was already used for another redemption; please confirm again."),
                    "",
                )
            except CostChangedError as changed:
                error = " ".join(changed.messages)
            except ValidationError as refusal:
                error, is_refused = " ".join(refusal.messages), True
            else:
                messages.success(request, _redeemed_message(redemption))
                return redirect("portal:rewards-history")
        intent = intent or str(uuid.uuid4())
        return _render_redeem(
            request, reward, quantity=quantity, intent=intent, error=error, is_refused=is_refused, posted=form
        )
    quantity, intent = _quantity_from(request), _intent_from(request)
    if intent is None:
        return redirect(_confirmation_url(reward, quantity=quantity, intent=str(uuid.uuid4())))
    done = redemption_for_intent(partner=partner, reward=reward, idempotency_key=intent)
    if done is not None:
        return render(request, "portal/rewards/redeemed_already.html", {"reward": reward, "redemption": done})
    return _render_redeem(request, reward, quantity=quantity, intent=intent)


def _bounded(quantity: object) -> int:
    try:
        return min(max(int(str(quantity)), 1), MAX_QUANTITY)
    except ValueError:
        return 1


def _render_redeem(
    request: HttpRequest,
    reward: Reward,
    *,
    quantity: int,
    intent: str,
    error: str = "",
    is_refused: bool = False,
    posted: RedeemForm | None = None,
) -> HttpResponse:
    """The confirmation page; after a refused POST, the option and address the member typed stay, with their errors."""
    partner = request.membership.partner
    points = partner_points_get(partner_id=partner.pk)
    cost = reward.points_cost * quantity
    form = RedeemForm(initial={"quantity": quantity, "idempotency_key": intent, "points": cost}, reward=reward)
    if not is_refused:
        facts = redeemer_facts(partner=partner, rewards=[reward], balance=points.balance)
        refusal = redemption_refusal(reward=reward, partner=partner, quantity=quantity, facts=facts)
        if refusal:
            error, is_refused = refusal.message, True
    template = "portal/rewards/redeem.html#summary" if request.htmx else "portal/rewards/redeem.html"
    return render(
        request,
        template,
        {
            "reward": reward,
            "form": form,
            "delivery": posted or form,
            "quantity": quantity,
            "max_quantity": MAX_QUANTITY,
            "intent": intent,
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
@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, redemption_id: int) -> HttpResponse:
    """GET asks (portal/confirm.py), POST cancels and refunds; cancelling a cancelled redemption again says so."""
    # Filtering by the member's partner makes another partner's redemption a 404, like another tenant's.
    redemption = get_object_or_404(
        Redemption.objects.select_related("reward"), pk=redemption_id, partner=request.membership.partner
    )
    name, points = redemption.reward.i18n.name, intcomma(redemption.points)
    already = ""
    if redemption.status == Redemption.Status.CANCELLED:
        already = _("%(reward)s was already cancelled; its points are back in your balance.") % {"reward": name}
    if request.method == "POST":
        if already:
            messages.info(request, already)
            return redirect("portal:rewards-history")
        try:
            redemption_cancel(redemption=redemption, actor=request.user)
        except ValidationError as refusal:
            messages.error(request, " ".join(refusal.messages))
        else:
            messages.success(
                request,
                _("%(reward)s cancelled: %(points)s points are back in your balance.")
                % {"reward": name, "points": points},
            )
        return redirect("portal:rewards-history")
    if not already and redemption.status != Redemption.Status.REQUESTED:
        already = _("Only a redemption still waiting for review can be cancelled.")
    return confirmation_render(
        request,
        Confirmation(
            title=_("Cancel a redemption"),
            question=_("Cancel your redemption of %(count)s × %(reward)s?")
            % {"count": intcomma(redemption.quantity), "reward": name},
            consequences=[
                _("%(points)s points come back to your balance at once.") % {"points": points},
                _("The program team will not fulfil it; to have it after all, redeem it again."),
            ],
            action_label=_("Cancel the redemption"),
            cancel_url=f"{reverse('portal:rewards-history')}#redemption-{redemption.pk}",
            done=already,
        ),
    )
