"""The partner's claims: the list of what they claimed (with its review), and the form to claim a sale, training,
certification, marketing participation or referral."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from earning.services import claim_submit
from loyalty.inputs import ReaderDateInput
from loyalty.tenancy.models import Role
from loyalty.tenancy.permissions import membership_required
from partners.models import Claim

partner_member_required = membership_required(Role.PARTNER_USER, Role.PARTNER_ADMIN)
LIST_PAGE_SIZE = 25
DATE_INPUT = ReaderDateInput()
# The service names some fields after the activity it records; everything else not on the form is a form error.
SERVICE_FIELDS = {"occurred_at": "occurred_on"}
# A marketing claim names its campaign, a referral the company referred; both are the activity's code.
CODE_FIELDS = {Claim.Type.MARKETING: "campaign", Claim.Type.REFERRAL: "referred_company"}


class ClaimForm(forms.Form):
    claim_type = forms.ChoiceField(
        label=gettext_lazy("What are you claiming?"), choices=Claim.Type.choices, widget=forms.RadioSelect
    )
    occurred_on = forms.DateField(
        label=gettext_lazy("Date"),
        widget=DATE_INPUT,
        help_text=gettext_lazy(
            "The invoice date, the day the course or certification was completed, the event's date or the day "
            "of the referral."
        ),
    )
    invoice_number = forms.CharField(label=gettext_lazy("Invoice number"), max_length=100, required=False)
    amount = forms.DecimalField(
        label=gettext_lazy("Amount"),
        max_digits=14,
        decimal_places=2,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    product_sku = forms.CharField(label=gettext_lazy("Product SKU"), max_length=100, required=False)
    product_category = forms.CharField(label=gettext_lazy("Product category"), max_length=100, required=False)
    code = forms.CharField(label=gettext_lazy("Course or certification code"), max_length=100, required=False)
    campaign = forms.CharField(
        label=gettext_lazy("Campaign or event"),
        max_length=100,
        required=False,
        help_text=gettext_lazy("Its name or code, as the program announced it."),
    )
    referred_company = forms.CharField(label=gettext_lazy("Company referred"), max_length=100, required=False)
    valid_until = forms.DateField(
        label=gettext_lazy("Valid until"),
        widget=DATE_INPUT,
        required=False,
        help_text=gettext_lazy("For certifications: when it lapses."),
    )
    evidence = forms.FileField(
        label=gettext_lazy("Evidence"),
        help_text=gettext_lazy(
            "The invoice, the certificate, a photo or attendee list of the event, or the introduction you sent: "
            "a PDF, PNG or JPEG file."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"}),
    )

    def clean_occurred_on(self):  # noqa: ANN201 - a date
        occurred_on = self.cleaned_data["occurred_on"]
        if occurred_on > timezone.localdate():
            raise ValidationError(_("The date cannot be in the future."))
        return occurred_on

    def submit_arguments(self) -> dict:
        """The service's arguments for the chosen claim type; the other type's fields are ignored."""
        data = self.cleaned_data
        arguments = {
            "claim_type": data["claim_type"],
            "occurred_on": data["occurred_on"],
            "evidence": data["evidence"],
        }
        if data["claim_type"] == Claim.Type.SALE:
            return arguments | {
                "invoice_number": data["invoice_number"],
                "amount": data["amount"],
                "product_sku": data["product_sku"],
                "product_category": data["product_category"],
            }
        valid_until = data["valid_until"] if data["claim_type"] == Claim.Type.CERTIFICATION else None
        return arguments | {"code": data[self._code_field()], "valid_until": valid_until}

    def _code_field(self) -> str:
        """The form field that gives the activity's code for the chosen claim type."""
        return CODE_FIELDS.get(self.cleaned_data.get("claim_type", ""), "code")

    def add_service_error(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, errors in error.error_dict.items():
            name = self._code_field() if field == "code" else SERVICE_FIELDS.get(field, field)
            self.add_error(name if name in self.fields else None, errors)


@partner_member_required
def claim_list(request: HttpRequest) -> HttpResponse:
    claims = Claim.objects.filter(partner=request.membership.partner).select_related("activity")
    page = Paginator(claims, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/claims/list.html", {"partner": request.membership.partner, "page": page})


def _submitted_message(claim: Claim) -> str:
    if claim.status == Claim.Status.APPROVED:
        return _("Your %(type)s claim was approved at once; its points are in your balance.") % {
            "type": claim.get_claim_type_display().lower()
        }
    return _("Your %(type)s claim was submitted: it waits for the program team's review.") % {
        "type": claim.get_claim_type_display().lower()
    }


@partner_member_required
@require_http_methods(["GET", "POST"])
def claim_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ClaimForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                claim = claim_submit(
                    partner=request.membership.partner,
                    submitted_by=request.user,
                    currency=request.tenant.currency,
                    **form.submit_arguments(),
                )
            except ValidationError as refusal:
                form.add_service_error(refusal)
            else:
                messages.success(request, _submitted_message(claim))
                return redirect("portal:claims")
    else:
        form = ClaimForm(initial={"claim_type": request.GET.get("type", Claim.Type.SALE)})
    return render(
        request,
        "portal/claims/new.html",
        {"form": form, "partner": request.membership.partner, "currency": request.tenant.currency},
    )
