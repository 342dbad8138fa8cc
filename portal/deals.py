"""Deal registration pages: a partner's pipeline, register, extend, won and lost; staff review; managers' pipelines.

Who sees a registration is who sees its partner (`partners_visible_to`): a partner member its own partner's,
an account manager their partners', program staff all. Anything else is a 404. Every state-changing page is a
GET that says what will happen and a POST that does it; a POST repeated after it took effect says so.
"""

import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_countries import countries

from deals.models import DealAttachment, DealRegistration
from deals.selectors import (
    account_manager_deals,
    deal_counterparts,
    deal_detail,
    deal_review_queue,
    partner_pipeline,
    protection_days_left,
)
from deals.services import deal_approve, deal_extend, deal_mark_lost, deal_register, deal_reject
from earning.services import deal_win_claim
from imports.deals import deals_csv_check, deals_csv_register, deals_csv_template
from loyalty.exports import csv_download
from loyalty.inputs import ReaderDateInput
from loyalty.tenancy.models import PARTNER_ROLES, PROGRAM_ROLES, Role
from loyalty.tenancy.permissions import membership_required
from loyalty.uploads import stored_upload_response
from partners.selectors import partners_visible_to

Status = DealRegistration.Status
partner_member_required = membership_required(Role.PARTNER_USER, Role.PARTNER_ADMIN)
reviewer_required = membership_required(Role.PROGRAM_MANAGER, Role.OWNER)
staff_required = membership_required(Role.ACCOUNT_MANAGER, Role.PROGRAM_MANAGER, Role.OWNER)
anyone_required = membership_required()
DATE_INPUT = ReaderDateInput()
PAGE_SIZE = 50
BULK_LIMIT = 100


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern); each is scanned by the service."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: object, initial: object = None) -> list:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class DealForm(forms.Form):
    customer_name = forms.CharField(label=gettext_lazy("Customer company"), max_length=200)
    customer_domain = forms.CharField(
        label=gettext_lazy("Web domain"),
        max_length=253,
        required=False,
        help_text=gettext_lazy("e.g. example.com: it helps find other registrations of the same customer."),
    )
    customer_country = forms.ChoiceField(
        label=gettext_lazy("Country"), required=False, choices=lambda: [("", "—"), *countries]
    )
    customer_tax_id = forms.CharField(label=gettext_lazy("Tax id (optional)"), max_length=60, required=False)
    contact_name = forms.CharField(label=gettext_lazy("Contact name"), max_length=200, required=False)
    contact_email = forms.CharField(label=gettext_lazy("Contact email"), max_length=254, required=False)
    products = forms.CharField(label=gettext_lazy("Products or categories"), max_length=500, required=False)
    amount = forms.CharField(
        label=gettext_lazy("Estimated amount"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, min_length=3)
    expected_close = forms.DateField(label=gettext_lazy("Expected close date"), widget=DATE_INPUT)
    notes = forms.CharField(
        label=gettext_lazy("Notes for the reviewer"),
        required=False,
        max_length=4000,
        widget=forms.Textarea({"rows": 3}),
    )
    attachments = MultipleFileField(
        label=gettext_lazy("Attachments (optional)"),
        required=False,
        help_text=gettext_lazy(
            "The customer's request, a quote or a bill of materials: up to 5 PDF, PNG or JPEG files."
        ),
    )
    form_key = forms.UUIDField(widget=forms.HiddenInput)

    def add_service_error(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, errors in error.error_dict.items():
            self.add_error(field if field in self.fields else None, errors)


class ReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=2000, widget=forms.Textarea({"rows": 3}))


class WonForm(forms.Form):
    invoice_number = forms.CharField(label=gettext_lazy("Invoice number"), max_length=100)
    invoice_date = forms.DateField(label=gettext_lazy("Invoice date"), widget=DATE_INPUT)
    amount = forms.DecimalField(
        label=gettext_lazy("Invoice amount"),
        max_digits=14,
        decimal_places=2,
        min_value=0.01,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    evidence = forms.FileField(
        label=gettext_lazy("Invoice"),
        help_text=gettext_lazy("A PDF, PNG or JPEG file."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"}),
    )

    def clean_invoice_date(self):  # noqa: ANN201 - a date
        invoice_date = self.cleaned_data["invoice_date"]
        if invoice_date > timezone.localdate():
            raise ValidationError(_("The date cannot be in the future."))
        return invoice_date


def _visible_deal(request: HttpRequest, deal_id: int) -> DealRegistration:
    """The registration if this member may see its partner; a 404 otherwise (another tenant's, another partner's)."""
    visible = partners_visible_to(request.membership)
    try:
        deal = deal_detail(deal_id=deal_id)
    except DealRegistration.DoesNotExist:
        raise Http404 from None
    if not visible.filter(pk=deal.partner_id).exists():
        raise Http404
    return deal


def _own_deal(request: HttpRequest, deal_id: int) -> DealRegistration:
    """A registration of the member's own partner (partner members' actions), else 404."""
    try:
        return deal_detail(deal_id=deal_id, partner=request.membership.partner)
    except DealRegistration.DoesNotExist:
        raise Http404 from None


def _with_protection(deals: list[DealRegistration]) -> list[DealRegistration]:
    today = timezone.localdate()
    for deal in deals:
        deal.days_left = protection_days_left(deal=deal, today=today)
    return deals


# --- Partner members --------------------------------------------------------------------------------------------


@partner_member_required
def deal_pipeline(request: HttpRequest) -> HttpResponse:
    """The partner's registrations by status, with the protection left on approved ones."""
    columns = partner_pipeline(partner=request.membership.partner)
    for column in columns:
        _with_protection(column.deals)
    context = {"partner": request.membership.partner, "columns": columns, "total": sum(len(c.deals) for c in columns)}
    return render(request, "portal/deals/pipeline.html", context)


@partner_member_required
@require_http_methods(["GET", "POST"])
def deal_new(request: HttpRequest) -> HttpResponse:
    """Register a deal; the hidden form key makes a double post (or a reload of the POST) record it once."""
    if request.method == "POST":
        form = DealForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                deal = deal_register(
                    partner=request.membership.partner,
                    registered_by=request.user,
                    customer_name=data["customer_name"],
                    customer_domain=data["customer_domain"],
                    customer_country=data["customer_country"],
                    customer_tax_id=data["customer_tax_id"],
                    contact_name=data["contact_name"],
                    contact_email=data["contact_email"],
                    products=data["products"],
                    amount=data["amount"].replace(",", ""),
                    currency=data["currency"],
                    expected_close=data["expected_close"],
                    notes=data["notes"],
                    source=DealRegistration.Source.PORTAL,
                    external_id=f"portal:{data['form_key']}",
                    attachments=data["attachments"],
                )
            except ValidationError as refusal:
                form.add_service_error(refusal)
            else:
                messages.success(
                    request,
                    _("%(reference)s was submitted: the program team reviews it and protects it once approved.")
                    % {"reference": deal.reference},
                )
                return redirect("portal:deal", deal_id=deal.pk)
    else:
        form = DealForm(initial={"currency": request.tenant.currency, "form_key": uuid.uuid4()})
    return render(request, "portal/deals/new.html", {"form": form, "partner": request.membership.partner})


@anyone_required
def deal_detail_view(request: HttpRequest, deal_id: int) -> HttpResponse:
    deal = _visible_deal(request, deal_id)
    _with_protection([deal])
    membership = request.membership
    is_partner = membership.role in PARTNER_ROLES
    conflicts = list(deal.conflicts.all())
    context = {
        "deal": deal,
        "events": list(deal.events.all()),
        "attachments": list(deal.attachments.all()),
        "is_partner": is_partner,
        "is_reviewer": membership.role in PROGRAM_ROLES,
        # Partners never read another partner's name: they see that a conflict exists, staff see with whom.
        "conflicts": [conflict for conflict in conflicts if conflict.is_same_partner] if is_partner else conflicts,
        "other_partner_conflicts": sum(not conflict.is_same_partner for conflict in conflicts),
        "counterparts": [] if is_partner else list(deal_counterparts(deal=deal)),
        "can_extend": is_partner and deal.status == Status.APPROVED and deal.extended_at is None,
        "can_close": is_partner and deal.status in (Status.SUBMITTED, Status.APPROVED),
    }
    return render(request, "portal/deals/detail.html", context)


def _reason_page(
    request: HttpRequest, deal: DealRegistration, *, form: forms.Form, title: str, question: str, action: str,
    consequences: list[str], done: str = "", status: int = 200,
) -> HttpResponse:  # fmt: skip
    context = {
        "deal": deal,
        "form": form,
        "title": title,
        "question": question,
        "action_label": action,
        "consequences": consequences,
        "done": done,
    }
    return render(request, "portal/deals/action.html", context, status=status)


@partner_member_required
@require_http_methods(["GET", "POST"])
def deal_extend_view(request: HttpRequest, deal_id: int) -> HttpResponse:
    deal = _own_deal(request, deal_id)
    form = ReasonForm(request.POST or None)
    title = _("Extend the protection of %(reference)s") % {"reference": deal.reference}
    done = ""
    if deal.extended_at is not None:
        done = _("The protection of %(reference)s was already extended; it runs until %(date)s.") % {
            "reference": deal.reference,
            "date": deal.protected_until,
        }
    elif deal.status != Status.APPROVED:
        done = _("Only an approved registration's protection can be extended.")
    if request.method == "POST" and not done and form.is_valid():
        try:
            deal = deal_extend(deal=deal, actor=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as refusal:
            form.add_error(None, refusal)
        else:
            messages.success(request, _("Protection extended until %(date)s.") % {"date": deal.protected_until})
            return redirect("portal:deal", deal_id=deal.pk)
    return _reason_page(
        request,
        deal,
        form=form,
        title=title,
        question=_("Extend once, by the days your tier grants today? Say why: the program team reads it."),
        action=_("Extend the protection"),
        consequences=[_("A registration's protection can be extended only once.")],
        done=done,
        status=400 if form.errors else 200,
    )


@partner_member_required
@require_http_methods(["GET", "POST"])
def deal_lost_view(request: HttpRequest, deal_id: int) -> HttpResponse:
    deal = _own_deal(request, deal_id)
    form = ReasonForm(request.POST or None)
    done = ""
    if deal.status == Status.LOST:
        done = _("%(reference)s is already marked lost.") % {"reference": deal.reference}
    elif deal.status not in (Status.SUBMITTED, Status.APPROVED):
        done = _("%(reference)s is %(status)s: it can no longer be marked lost.") % {
            "reference": deal.reference,
            "status": deal.get_status_display().lower(),
        }
    if request.method == "POST" and not done and form.is_valid():
        try:
            deal = deal_mark_lost(deal=deal, actor=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as refusal:
            form.add_error(None, refusal)
        else:
            messages.success(request, _("%(reference)s is marked lost.") % {"reference": deal.reference})
            return redirect("portal:deal", deal_id=deal.pk)
    return _reason_page(
        request,
        deal,
        form=form,
        title=_("Mark %(reference)s lost") % {"reference": deal.reference},
        question=_("Mark this deal lost? Its protection ends now and the customer is free for other partners."),
        action=_("Mark lost"),
        consequences=[_("This cannot be undone: register the deal again if it comes back.")],
        done=done,
        status=400 if form.errors else 200,
    )


@partner_member_required
@require_http_methods(["GET", "POST"])
def deal_won_view(request: HttpRequest, deal_id: int) -> HttpResponse:
    """GET: the invoice form and what marking won does. POST: won, with one sale claim linked (once)."""
    deal = _own_deal(request, deal_id)
    done = ""
    if deal.status == Status.WON and deal.sale_activity_id is not None:
        done = _("%(reference)s is already won; its sale is recorded.") % {"reference": deal.reference}
    elif deal.status not in (Status.APPROVED, Status.WON):
        done = _("Only an approved registration can be marked won.")
    if request.method == "POST" and not done:
        form = WonForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                deal = deal_win_claim(deal=deal, submitted_by=request.user, **form.cleaned_data)
            except ValidationError as refusal:
                if hasattr(refusal, "error_dict"):
                    for field, errors in refusal.error_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    form.add_error(None, refusal)
            else:
                messages.success(
                    request,
                    _("%(reference)s is won. Its sale is claimed with your invoice; points follow the earning rules.")
                    % {"reference": deal.reference},
                )
                return redirect("portal:deal", deal_id=deal.pk)
    else:
        form = WonForm(initial={"amount": deal.amount, "invoice_date": timezone.localdate()})
    context = {"deal": deal, "form": form, "done": done, "currency": request.tenant.currency}
    return render(request, "portal/deals/won.html", context, status=400 if form.errors else 200)


# --- Program staff and account managers ------------------------------------------------------------------------


def _queue_rows(deals: QuerySet[DealRegistration] | list[DealRegistration]) -> list[DealRegistration]:
    now = timezone.now()
    rows = list(deals)
    for deal in rows:
        deal.age_days = (now - deal.submitted_at).days if deal.submitted_at else 0
    return rows


@reviewer_required
def deal_review_queue_view(request: HttpRequest) -> HttpResponse:
    """Submitted registrations, oldest first: age, partner, customer, amount and the conflicts found."""
    page = Paginator(deal_review_queue(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/deals/review.html", {"page": page, "rows": _queue_rows(page.object_list)})


@require_POST
@reviewer_required
def deal_bulk_decide(request: HttpRequest) -> HttpResponse:
    """Bulk approve or reject: the first POST lists what will happen and asks; the confirmed POST decides each.

    Rows already decided are reported, not decided again; a refusal (a conflict) is reported for its row only.
    """
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        messages.error(request, _("Choose to approve or to reject."))
        return redirect("portal:deals-review")
    ids = [int(value) for value in request.POST.getlist("deal") if value.isdigit()][:BULK_LIMIT]
    deals = list(DealRegistration.objects.filter(pk__in=ids).select_related("partner").order_by("submitted_at", "pk"))
    if not deals:
        messages.error(request, _("Select at least one registration."))
        return redirect("portal:deals-review")
    form = ReasonForm(request.POST if request.POST.get("confirmed") else None)
    needs_reason = decision == "reject"
    if request.POST.get("confirmed") and (not needs_reason or form.is_valid()):
        done, refused = 0, []
        for deal in deals:
            if deal.status != Status.SUBMITTED:
                refused.append(
                    _("%(reference)s was already %(status)s.")
                    % {"reference": deal.reference, "status": deal.get_status_display().lower()}
                )
                continue
            try:
                if decision == "approve":
                    deal_approve(deal=deal, actor=request.user)
                else:
                    deal_reject(deal=deal, actor=request.user, reason=form.cleaned_data["reason"])
            except ValidationError as refusal:
                refused.append(f"{deal.reference}: {' '.join(refusal.messages)}")
            else:
                done += 1
        for message in refused:
            messages.warning(request, message)
        if decision == "approve":
            text = ngettext("%(count)s registration approved.", "%(count)s registrations approved.", done)
        else:
            text = ngettext("%(count)s registration rejected.", "%(count)s registrations rejected.", done)
        text %= {"count": done}
        messages.success(request, text)
        return redirect("portal:deals-review")
    context = {"deals": deals, "decision": decision, "form": form, "needs_reason": needs_reason}
    return render(request, "portal/deals/bulk_confirm.html", context, status=400 if form.errors else 200)


@reviewer_required
@require_http_methods(["GET", "POST"])
def deal_approve_view(request: HttpRequest, deal_id: int) -> HttpResponse:
    deal = _visible_deal(request, deal_id)
    done = ""
    if deal.status != Status.SUBMITTED:
        done = _("%(reference)s was already %(status)s.") % {
            "reference": deal.reference,
            "status": deal.get_status_display().lower(),
        }
    if request.method == "POST" and not done:
        try:
            deal = deal_approve(deal=deal, actor=request.user)
        except ValidationError as refusal:
            messages.error(request, " ".join(refusal.messages))
        else:
            messages.success(
                request,
                _("%(reference)s is approved and protected until %(date)s.")
                % {"reference": deal.reference, "date": deal.protected_until},
            )
        return redirect("portal:deal", deal_id=deal.pk)
    return _reason_page(
        request,
        deal,
        form=None,
        title=_("Approve %(reference)s") % {"reference": deal.reference},
        question=_("Approve %(customer)s for %(partner)s?")
        % {"customer": deal.customer_name, "partner": deal.partner.name},
        action=_("Approve and protect"),
        consequences=[
            _("The registration is protected for the days the partner's tier grants today."),
            _("Conflicting registrations of the same customer cannot be approved while it is protected."),
        ],
        done=done,
    )


@reviewer_required
@require_http_methods(["GET", "POST"])
def deal_reject_view(request: HttpRequest, deal_id: int) -> HttpResponse:
    deal = _visible_deal(request, deal_id)
    form = ReasonForm(request.POST or None)
    done = ""
    if deal.status != Status.SUBMITTED:
        done = _("%(reference)s was already %(status)s.") % {
            "reference": deal.reference,
            "status": deal.get_status_display().lower(),
        }
    if request.method == "POST" and not done and form.is_valid():
        deal = deal_reject(deal=deal, actor=request.user, reason=form.cleaned_data["reason"])
        messages.success(
            request, _("%(reference)s is rejected; the partner reads why.") % {"reference": deal.reference}
        )
        return redirect("portal:deal", deal_id=deal.pk)
    return _reason_page(
        request,
        deal,
        form=form,
        title=_("Reject %(reference)s") % {"reference": deal.reference},
        question=_("Reject %(customer)s for %(partner)s? The partner reads the reason.")
        % {"customer": deal.customer_name, "partner": deal.partner.name},
        action=_("Reject"),
        consequences=[],
        done=done,
        status=400 if form.errors else 200,
    )


@staff_required
def deal_managed_pipeline(request: HttpRequest) -> HttpResponse:
    """An account manager's partners' registrations (all partners' for program staff), open ones first."""
    if request.membership.role == Role.ACCOUNT_MANAGER:
        deals = account_manager_deals(user=request.user)
    else:
        deals = account_manager_deals(user=None)
    status = request.GET.get("status", "")
    if status in Status.values:
        deals = deals.filter(status=status)
    page = Paginator(deals, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "rows": _with_protection(list(page.object_list)),
        "status": status,
        "statuses": Status.choices,
        "is_account_manager": request.membership.role == Role.ACCOUNT_MANAGER,
    }
    return render(request, "portal/deals/managed.html", context)


class DealsCsvForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy("UTF-8 text, one deal a row, at most 500; the first row names the columns."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


@partner_member_required
@require_http_methods(["GET", "POST"])
def deal_import(request: HttpRequest) -> HttpResponse:
    """Register many deals from a CSV export of the partner's CRM: every row is checked first and nothing is written
    while one has a problem; the `external_id` column makes a second upload of the same file register nothing."""
    form, problem_rows = DealsCsvForm(request.POST or None, request.FILES or None), []
    if request.method == "POST" and form.is_valid():
        try:
            rows = deals_csv_check(file=form.cleaned_data["file"])
            problem_rows = [row for row in rows if row.errors]
            if not problem_rows:
                result = deals_csv_register(partner=request.membership.partner, actor=request.user, rows=rows)
        except ValidationError as refusal:
            form.add_error("file" if hasattr(refusal, "error_dict") else None, refusal.messages)
        else:
            if not problem_rows:
                messages.success(request, _imported_message(len(result.registered), len(result.already)))
                return redirect("portal:deals")
    context = {"form": form, "problem_rows": problem_rows, "partner": request.membership.partner}
    return render(request, "portal/deals/import.html", context, status=400 if problem_rows else 200)


def _imported_message(registered: int, already: int) -> str:
    message = ngettext(
        "%(count)s deal registered from the file and submitted for review.",
        "%(count)s deals registered from the file and submitted for review.",
        registered,
    ) % {"count": registered}
    if already:
        message += " " + ngettext(
            "%(count)s row was registered before: nothing changed for it.",
            "%(count)s rows were registered before: nothing changed for them.",
            already,
        ) % {"count": already}
    return message


@partner_member_required
def deal_import_template(request: HttpRequest) -> HttpResponse:
    return csv_download(deals_csv_template(), filename="deal-registrations.csv")


@never_cache
@anyone_required
def deal_attachment(request: HttpRequest, attachment_id: int) -> FileResponse:
    """A registration's file, for whoever sees its partner; served sandboxed like claim evidence."""
    attachment = get_object_or_404(
        DealAttachment.objects.filter(deal__partner__in=partners_visible_to(request.membership)), pk=attachment_id
    )
    return stored_upload_response(attachment.file, filename=f"deal-attachment-{attachment.pk}")
