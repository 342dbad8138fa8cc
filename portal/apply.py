"""The public page where a company applies to join a program, and the link that confirms its contact's address."""

from allauth.core import ratelimit
from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from loyalty.tenancy.services import client_ip
from partners.models import PartnerApplication, PartnerType
from partners.selectors import application_from_token
from partners.services import application_submit, application_verify


class ApplicationForm(forms.ModelForm):
    # A field people never see (hidden by CSS and from assistive technology): bots fill it, people leave it empty.
    fax = forms.CharField(required=False, label=_("Leave this empty"))
    terms = forms.BooleanField(label=_("I accept the program's terms and conditions."))
    website = forms.URLField(label=_("Website"), max_length=200, assume_scheme="https")
    partner_type = forms.ModelChoiceField(label=_("Type"), queryset=PartnerType.objects.none(), empty_label=None)

    class Meta:
        model = PartnerApplication
        fields = ["company_name", "website", "country", "partner_type", "contact_name", "contact_email", "message"]
        widgets = {"message": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["partner_type"].queryset = PartnerType.objects.order_by("name")
        self.fields["message"].label = _("Anything we should know (optional)")


def _refusal(request: HttpRequest, email: str) -> str | None:
    """Why this submission is refused before it is recorded: a bot's honeypot, or too many from one address."""
    if not ratelimit.consume(request, action="partner_application", key=email.lower()):
        return gettext("Too many applications from this address. Try again later.")
    return None


@never_cache
def apply(request: HttpRequest) -> HttpResponse:
    """Apply to join: company, website, country, type, contact, terms; then a link to confirm the email."""
    if not request.tenant.applications_open:
        return render(request, "portal/apply/closed.html", status=404)
    form = ApplicationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["fax"]:
            # Answer as for a person, record nothing: a bot learns nothing from the reply.
            return redirect("portal:apply_sent")
        refusal = _refusal(request, form.cleaned_data["contact_email"])
        if refusal:
            form.add_error(None, refusal)
            return render(request, "portal/apply/form.html", {"form": form}, status=429)
        data = {key: form.cleaned_data[key] for key in ApplicationForm.Meta.fields}
        try:
            application_submit(**data, ip_address=client_ip(request))
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("portal:apply_sent")
    status = 400 if form.errors else 200
    return render(request, "portal/apply/form.html", {"form": form}, status=status)


def apply_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/apply/sent.html")


@never_cache
def apply_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: the first visit puts the application in the review queue; later visits just say so."""
    application = application_from_token(token=token)
    if application is None:
        raise Http404
    application = application_verify(application=application)
    return render(request, "portal/apply/confirmed.html", {"application": application})
