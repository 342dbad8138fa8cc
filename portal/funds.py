"""Market development funds in the portal: the partner's Funds page, its request and claim forms and credit notes;
the program team's review queues (confirm first), and the budget per period with its CSV export."""

import uuid
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from funds.models import ActivityType, FundClaim, FundPayout, FundPeriod, FundProof, FundRequest, ProofKind
from funds.selectors import (
    fund_budget,
    fund_period_current,
    fund_review_queues,
    partner_fund_histories,
    partner_funds_get,
    partner_rebates_get,
)
from funds.services import (
    TransitionError,
    fund_claim_approve,
    fund_claim_decision_check,
    fund_claim_reject,
    fund_claim_submit,
    fund_request_approve,
    fund_request_decision_check,
    fund_request_reject,
    fund_request_submit,
)
from loyalty.exports import csv_download, csv_text
from loyalty.inputs import ReaderDateInput
from loyalty.tenancy.models import Role
from loyalty.tenancy.permissions import membership_required
from loyalty.uploads import stored_upload_response
from loyalty.wording import money_exact
from partners.selectors import partners_visible_to
from portal.confirm import Confirmation, confirmation_render

partner_member_required = membership_required(Role.PARTNER_USER, Role.PARTNER_ADMIN)
program_staff_required = membership_required(Role.PROGRAM_MANAGER, Role.OWNER)
DATE_INPUT = ReaderDateInput()
MONEY_INPUT = forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"})
PROOF_ACCEPT = {"accept": ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"}
CENT = Decimal("0.01")
# A count people type; past it the database column overflows (walk 10 found a 500).
MAX_LEADS = 1_000_000


def _money_field(label: str, *, required: bool = True) -> forms.DecimalField:
    return forms.DecimalField(
        label=label, max_digits=14, decimal_places=2, min_value=CENT, required=required, widget=MONEY_INPUT
    )


def _add_service_error(form: forms.Form, error: ValidationError) -> None:
    """A service's refusal on the form: its field's errors under the field, the rest at the top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


# --- The partner's pages -------------------------------------------------------------------------------------------


class FundRequestForm(forms.Form):
    activity_type = forms.ChoiceField(label=gettext_lazy("Kind of activity"), choices=ActivityType.choices)
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    description = forms.CharField(
        label=gettext_lazy("What you plan"), widget=forms.Textarea(attrs={"rows": 4}), max_length=5000
    )
    planned_on = forms.DateField(label=gettext_lazy("Planned date"), widget=DATE_INPUT)
    amount = _money_field(gettext_lazy("Funds requested"))
    expected_results = forms.CharField(
        label=gettext_lazy("Expected results"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
        help_text=gettext_lazy("For example: 150 attendees, 30 qualified leads."),
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)


class FundClaimForm(forms.Form):
    performed_on = forms.DateField(label=gettext_lazy("Date of the activity"), widget=DATE_INPUT)
    total_cost = _money_field(gettext_lazy("What the activity cost"))
    amount = _money_field(gettext_lazy("Reimbursement claimed"))
    results = forms.CharField(
        label=gettext_lazy("Results"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        help_text=gettext_lazy("Attendees, leads, opportunities: what the activity achieved."),
    )
    leads_generated = forms.IntegerField(
        label=gettext_lazy("Leads generated"), min_value=0, max_value=MAX_LEADS, initial=0
    )
    invoice = forms.FileField(
        label=gettext_lazy("Invoice"),
        help_text=gettext_lazy("Required: a PDF, PNG or JPEG file."),
        widget=forms.ClearableFileInput(attrs=PROOF_ACCEPT),
    )
    photo = forms.FileField(
        label=gettext_lazy("Photo"), required=False, widget=forms.ClearableFileInput(attrs=PROOF_ACCEPT)
    )
    attendees = forms.FileField(
        label=gettext_lazy("Attendee list"), required=False, widget=forms.ClearableFileInput(attrs=PROOF_ACCEPT)
    )
    leads = forms.FileField(
        label=gettext_lazy("Leads generated (file)"),
        required=False,
        widget=forms.ClearableFileInput(attrs=PROOF_ACCEPT),
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)

    def proofs(self) -> list[tuple[str, object]]:
        kinds = {
            "invoice": ProofKind.INVOICE,
            "photo": ProofKind.PHOTO,
            "attendees": ProofKind.ATTENDEES,
            "leads": ProofKind.LEADS,
        }
        return [(kind, self.cleaned_data[name]) for name, kind in kinds.items() if self.cleaned_data.get(name)]


def _partner_periods(partner_id: int) -> list[FundPeriod]:
    return list(FundPeriod.objects.filter(accounts__partner_id=partner_id).distinct().order_by("-starts_on"))


@partner_member_required
@require_GET
def funds_home(request: HttpRequest) -> HttpResponse:
    """The partner's funds in a period (the current one unless chosen): balance, requests with their claims, credit
    notes."""
    partner = request.membership.partner
    periods = _partner_periods(partner.pk)
    chosen = request.GET.get("period", "")
    period = next((each for each in periods if str(each.pk) == chosen), None) or fund_period_current()
    funds = partner_funds_get(partner=partner, period=period)
    rebates = partner_rebates_get(partner=partner, period=period)
    return render(
        request,
        "portal/funds/home.html",
        {"partner": partner, "funds": funds, "rebates": rebates, "periods": periods, "today": timezone.localdate()},
    )


@partner_member_required
@require_http_methods(["GET", "POST"])
def fund_request_new(request: HttpRequest) -> HttpResponse:
    partner = request.membership.partner
    period = fund_period_current()
    if period is None:
        raise Http404
    funds = partner_funds_get(partner=partner, period=period)
    if request.method == "POST":
        form = FundRequestForm(request.POST)
        if form.is_valid():
            try:
                fund_request_submit(partner=partner, period=period, requested_by=request.user, **form.cleaned_data)
            except ValidationError as refusal:
                _add_service_error(form, refusal)
            else:
                messages.success(request, _("Your request was sent: it waits for the program team's pre-approval."))
                return redirect("portal:funds")
    else:
        form = FundRequestForm(initial={"idempotency_key": f"request:{uuid.uuid4()}"})
    return render(request, "portal/funds/request_new.html", {"form": form, "funds": funds, "partner": partner})


@partner_member_required
@require_http_methods(["GET", "POST"])
def fund_claim_new(request: HttpRequest, request_id: int) -> HttpResponse:
    fund_request = get_object_or_404(
        FundRequest.objects.select_related("account__period"), pk=request_id, partner=request.membership.partner
    )
    if fund_request.status != FundRequest.Status.APPROVED:
        messages.info(
            request,
            _("This request cannot be claimed now: %(status)s.")
            % {"status": fund_request.get_status_display().lower()},
        )
        return redirect("portal:funds")
    if request.method == "POST":
        form = FundClaimForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                fund_claim_submit(
                    request=fund_request,
                    submitted_by=request.user,
                    performed_on=data["performed_on"],
                    total_cost=data["total_cost"],
                    amount=data["amount"],
                    results=data["results"],
                    leads_generated=data["leads_generated"],
                    proofs=form.proofs(),
                    idempotency_key=data["idempotency_key"],
                )
            except ValidationError as refusal:
                _add_service_error(form, refusal)
            else:
                messages.success(request, _("Your claim was sent with its proof: it waits for the program team."))
                return redirect("portal:funds")
    else:
        form = FundClaimForm(
            initial={
                "idempotency_key": f"claim:{uuid.uuid4()}",
                "performed_on": min(fund_request.planned_on, timezone.localdate()),
            }
        )
    period = fund_request.account.period
    share = f"{period.max_reimbursement_percent.normalize():f}"
    return render(
        request,
        "portal/funds/claim_new.html",
        {"form": form, "fund_request": fund_request, "period": period, "share": share},
    )


@never_cache
@membership_required()
def fund_proof(request: HttpRequest, proof_id: int) -> FileResponse:
    """A proof file, for the claim's partner and the staff who may see that partner; served like evidence."""
    proof = get_object_or_404(
        FundProof.objects.filter(claim__partner__in=partners_visible_to(request.membership)), pk=proof_id
    )
    return stored_upload_response(proof.file, filename=f"proof-{proof.pk}")


@membership_required()
@require_GET
def fund_payout(request: HttpRequest, payout_id: int) -> HttpResponse:
    """A credit note as finance and the partner read it."""
    payout = get_object_or_404(
        FundPayout.objects.filter(partner__in=partners_visible_to(request.membership)).select_related(
            "partner", "claim__request", "claim__decided_by", "account__period"
        ),
        pk=payout_id,
    )
    return render(request, "portal/funds/payout.html", {"payout": payout})


# --- The program team's pages --------------------------------------------------------------------------------------


@program_staff_required
@require_GET
def fund_review(request: HttpRequest) -> HttpResponse:
    """Requests awaiting pre-approval and claims awaiting review, oldest first, with each partner's history."""
    queues = fund_review_queues()
    return render(request, "portal/funds/review.html", {"queues": queues, "now": timezone.now()})


class RequestDecisionForm(forms.Form):
    DECISIONS = [("approve", gettext_lazy("Pre-approve")), ("reject", gettext_lazy("Reject"))]

    decision = forms.ChoiceField(label=gettext_lazy("Decision"), choices=DECISIONS, widget=forms.RadioSelect)
    percent = forms.DecimalField(
        label=gettext_lazy("Share of the request (%)"),
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal(100),
        required=False,
        help_text=gettext_lazy("Leave empty to approve the amount below."),
    )
    amount = _money_field(gettext_lazy("Amount to pre-approve"), required=False)
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
        help_text=gettext_lazy("Required to reject or to approve only part."),
    )

    def __init__(self, *args, requested: Decimal, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.requested = requested

    def clean(self) -> dict:
        data = super().clean()
        if data.get("decision") == "approve":
            if data.get("percent") is not None:
                data["amount"] = (self.requested * data["percent"] / 100).quantize(CENT, ROUND_HALF_UP)
            elif data.get("amount") is None:
                data["amount"] = self.requested
        return data


class ClaimDecisionForm(forms.Form):
    DECISIONS = [("approve", gettext_lazy("Approve and pay")), ("reject", gettext_lazy("Reject"))]

    decision = forms.ChoiceField(label=gettext_lazy("Decision"), choices=DECISIONS, widget=forms.RadioSelect)
    amount = _money_field(gettext_lazy("Amount to pay"), required=False)
    method = forms.ChoiceField(
        label=gettext_lazy("Paid as"), choices=FundPayout.Method.choices, initial=FundPayout.Method.CREDIT_NOTE
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
        help_text=gettext_lazy("Required to reject or to pay less than claimed."),
    )


def _hidden(data: dict) -> dict[str, str]:
    """The decision's fields, re-posted by the confirmation page's button."""
    return {name: "" if value is None else str(value) for name, value in data.items()} | {"confirmed": "1"}


@program_staff_required
@require_http_methods(["GET", "POST"])
def fund_request_review(request: HttpRequest, request_id: int) -> HttpResponse:
    """One request: details and the partner's history, a decision form; the decision is confirmed first."""
    fund_request = get_object_or_404(
        FundRequest.objects.select_related("partner", "account__period", "requested_by", "decided_by"), pk=request_id
    )
    history = partner_fund_histories(partner_ids=[fund_request.partner_id])[fund_request.partner_id]
    cancel_url = reverse("portal:fund-review")
    form = RequestDecisionForm(
        request.POST or None,
        requested=fund_request.requested_amount,
        initial={"decision": "approve", "amount": fund_request.requested_amount},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if fund_request.status != FundRequest.Status.SUBMITTED:
            return confirmation_render(request, _request_decided(fund_request, cancel_url))
        try:
            # Confirm only what can be done: a missing reason or too large an amount is said on the form.
            fund_request_decision_check(
                request=fund_request, decision=data["decision"], amount=data["amount"], reason=data["reason"]
            )
            if request.POST.get("confirmed") != "1":
                return confirmation_render(request, _request_confirmation(fund_request, data, cancel_url))
            if data["decision"] == "approve":
                fund_request_approve(
                    request=fund_request, actor=request.user, amount=data["amount"], reason=data["reason"]
                )
                messages.success(
                    request,
                    _("Pre-approved %(amount)s for %(partner)s.")
                    % {
                        "amount": money_exact(data["amount"], fund_request.currency),
                        "partner": fund_request.partner.name,
                    },
                )
            else:
                fund_request_reject(request=fund_request, actor=request.user, reason=data["reason"])
                messages.success(request, _("Rejected %(partner)s's request.") % {"partner": fund_request.partner.name})
        except TransitionError:
            fund_request.refresh_from_db()
            return confirmation_render(request, _request_decided(fund_request, cancel_url))
        except ValidationError as refusal:
            _add_service_error(form, refusal)
        else:
            return redirect(cancel_url)
    return render(
        request,
        "portal/funds/request_review.html",
        {"fund_request": fund_request, "history": history, "form": form},
    )


def _request_decided(fund_request: FundRequest, cancel_url: str) -> Confirmation:
    return Confirmation(
        title=_("Decide on a fund request"),
        question="",
        action_label="",
        cancel_url=cancel_url,
        done=_("This request was already decided: %(status)s.") % {"status": fund_request.get_status_display()},
    )


def _request_confirmation(fund_request: FundRequest, data: dict, cancel_url: str) -> Confirmation:
    partner, currency = fund_request.partner.name, fund_request.currency
    if data["decision"] == "reject":
        return Confirmation(
            title=_("Reject the request"),
            question=_("Reject %(partner)s's request “%(title)s”?") % {"partner": partner, "title": fund_request.title},
            consequences=[_("The partner is told, with your reason: %(reason)s") % {"reason": data["reason"] or "—"}],
            action_label=_("Reject the request"),
            cancel_url=cancel_url,
            hidden=_hidden(data),
        )
    available = fund_request.account.available
    return Confirmation(
        title=_("Pre-approve the request"),
        question=_("Pre-approve %(amount)s of the %(requested)s %(partner)s asked for?")
        % {
            "amount": money_exact(data["amount"], currency),
            "requested": money_exact(fund_request.requested_amount, currency),
            "partner": partner,
        },
        consequences=[
            _("%(amount)s is committed from %(partner)s's funds: %(left)s stays available.")
            % {
                "amount": money_exact(data["amount"], currency),
                "partner": partner,
                "left": money_exact(available - data["amount"], currency),
            },
            _("The partner may claim it with proof within %(days)s days of the activity.")
            % {"days": fund_request.account.period.claim_window_days},
        ],
        action_label=_("Pre-approve %(amount)s") % {"amount": money_exact(data["amount"], currency)},
        cancel_url=cancel_url,
        hidden=_hidden(data),
    )


@program_staff_required
@require_http_methods(["GET", "POST"])
def fund_claim_review(request: HttpRequest, claim_id: int) -> HttpResponse:
    """One claim: cost, reimbursement asked, proof, the request it settles and the partner's history."""
    claim = get_object_or_404(
        FundClaim.objects.select_related("partner", "request__account__period", "submitted_by").prefetch_related(
            "proofs"
        ),
        pk=claim_id,
    )
    history = partner_fund_histories(partner_ids=[claim.partner_id])[claim.partner_id]
    cancel_url = reverse("portal:fund-review")
    form = ClaimDecisionForm(request.POST or None, initial={"decision": "approve", "amount": claim.amount})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["decision"] == "approve" and data["amount"] is None:
            data["amount"] = claim.amount
        if claim.status != FundClaim.Status.SUBMITTED:
            return confirmation_render(request, _claim_decided(claim, cancel_url))
        try:
            fund_claim_decision_check(
                claim=claim,
                decision=data["decision"],
                amount=data["amount"],
                reason=data["reason"],
                method=data["method"],
            )
            if request.POST.get("confirmed") != "1":
                return confirmation_render(request, _claim_confirmation(claim, data, cancel_url))
            if data["decision"] == "approve":
                payout = fund_claim_approve(
                    claim=claim, actor=request.user, amount=data["amount"], reason=data["reason"], method=data["method"]
                )
                messages.success(
                    request,
                    _("Approved: %(number)s for %(amount)s to %(partner)s.")
                    % {
                        "number": payout.number,
                        "amount": money_exact(payout.amount, payout.currency),
                        "partner": claim.partner.name,
                    },
                )
            else:
                fund_claim_reject(claim=claim, actor=request.user, reason=data["reason"])
                messages.success(request, _("Rejected %(partner)s's claim.") % {"partner": claim.partner.name})
        except TransitionError:
            claim.refresh_from_db()
            return confirmation_render(request, _claim_decided(claim, cancel_url))
        except ValidationError as refusal:
            _add_service_error(form, refusal)
        else:
            return redirect(cancel_url)
    return render(request, "portal/funds/claim_review.html", {"claim": claim, "history": history, "form": form})


def _claim_decided(claim: FundClaim, cancel_url: str) -> Confirmation:
    return Confirmation(
        title=_("Decide on a claim"),
        question="",
        action_label="",
        cancel_url=cancel_url,
        done=_("This claim was already decided: %(status)s.") % {"status": claim.get_status_display()},
    )


def _claim_confirmation(claim: FundClaim, data: dict, cancel_url: str) -> Confirmation:
    partner, currency = claim.partner.name, claim.currency
    if data["decision"] == "reject":
        return Confirmation(
            title=_("Reject the claim"),
            question=_("Reject %(partner)s's claim for “%(title)s”?")
            % {"partner": partner, "title": claim.request.title},
            consequences=[
                _("The pre-approval stands: the partner may claim again until %(date)s.")
                % {"date": claim.request.claim_deadline.isoformat() if claim.request.claim_deadline else "—"},
            ],
            action_label=_("Reject the claim"),
            cancel_url=cancel_url,
            hidden=_hidden(data),
        )
    rest = claim.request.approved_amount - data["amount"]
    consequences = [
        _("A %(method)s for %(amount)s is issued to %(partner)s.")
        % {
            "method": FundPayout.Method(data["method"]).label.lower(),
            "amount": money_exact(data["amount"], currency),
            "partner": partner,
        }
    ]
    if rest > 0:
        consequences.append(
            _("The other %(rest)s of the pre-approval goes back to the partner's available funds.")
            % {"rest": money_exact(rest, currency)}
        )
    return Confirmation(
        title=_("Approve and pay the claim"),
        question=_("Pay %(amount)s for “%(title)s”?")
        % {"amount": money_exact(data["amount"], currency), "title": claim.request.title},
        consequences=consequences,
        action_label=_("Approve and pay %(amount)s") % {"amount": money_exact(data["amount"], currency)},
        cancel_url=cancel_url,
        hidden=_hidden(data),
    )


def _budget_period(request: HttpRequest) -> tuple[list[FundPeriod], FundPeriod | None]:
    periods = list(FundPeriod.objects.order_by("-starts_on"))
    chosen = request.GET.get("period", "")
    period = next((each for each in periods if str(each.pk) == chosen), None)
    return periods, period or fund_period_current()


def _budget(period: FundPeriod):  # noqa: ANN202 - funds.selectors.Budget
    return fund_budget(period=period, no_tier=_("No tier"), no_region=_("No region"))


@program_staff_required
@require_GET
def fund_budget_page(request: HttpRequest) -> HttpResponse:
    periods, period = _budget_period(request)
    budget = _budget(period) if period else None
    sections = [(_("By tier"), budget.by_tier), (_("By region"), budget.by_region)] if budget else []
    return render(
        request,
        "portal/funds/budget.html",
        {"periods": periods, "period": period, "budget": budget, "sections": sections},
    )


@program_staff_required
@require_GET
def fund_budget_csv(request: HttpRequest) -> HttpResponse:
    """The budget for finance: one row per tier and per region, amounts with two decimals and the currency."""
    _periods, period = _budget_period(request)
    if period is None:
        raise Http404
    budget = _budget(period)
    header = [
        _("Period"),
        _("Grouping"),
        _("Name"),
        _("Partners"),
        _("Currency"),
        _("Allocated"),
        _("Requested"),
        _("Approved"),
        _("Claimed"),
        _("Paid"),
        _("Expired"),
    ]
    rows = []
    for grouping, lines in ((_("Tier"), budget.by_tier), (_("Region"), budget.by_region), (_("Total"), [budget.total])):
        for line in lines:
            rows.append(
                [
                    period.name,
                    grouping,
                    line.label or _("All partners"),
                    line.partners,
                    budget.currency,
                    *(
                        f"{getattr(line, column):.2f}"
                        for column in ("allocated", "requested", "approved", "claimed", "paid", "expired")
                    ),
                ]
            )
    return csv_download(csv_text(header, rows), filename=f"fund-budget-{period.starts_on.isoformat()}.csv")
