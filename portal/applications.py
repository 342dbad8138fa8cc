"""Program staff review applications to join: the queue, one application with its look-alikes, approve or reject."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from loyalty.tenancy.models import Role
from loyalty.tenancy.permissions import membership_required
from partners.models import PartnerApplication
from partners.selectors import application_look_alikes, applications_waiting
from partners.services import application_approve, application_reject

REVIEWERS = (Role.PROGRAM_MANAGER, Role.OWNER)
PAGE_SIZE = 25


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (sent to the applicant)"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )


@membership_required(*REVIEWERS)
def application_list(request: HttpRequest) -> HttpResponse:
    """Waiting applications oldest first, then the decided ones newest first."""
    decided = (
        PartnerApplication.objects.filter(
            status__in=[PartnerApplication.Status.APPROVED, PartnerApplication.Status.REJECTED]
        )
        .select_related("partner_type", "reviewed_by")
        .order_by("-reviewed_at", "-pk")
    )
    page = Paginator(decided, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"waiting": list(applications_waiting()), "page": page, "is_open": request.tenant.applications_open}
    return render(request, "portal/applications/list.html", context)


def _detail(request: HttpRequest, application: PartnerApplication, form: RejectForm, status: int = 200) -> HttpResponse:
    context = {
        "application": application,
        "look_alikes": application_look_alikes(application=application),
        "reject_form": form,
    }
    return render(request, "portal/applications/detail.html", context, status=status)


def _application(application_id: int) -> PartnerApplication:
    # Unconfirmed applications are not staff's business yet: their address may not be the applicant's.
    return get_object_or_404(
        PartnerApplication.objects.exclude(status=PartnerApplication.Status.UNVERIFIED).select_related(
            "partner_type", "reviewed_by", "partner"
        ),
        pk=application_id,
    )


@membership_required(*REVIEWERS)
def application_detail(request: HttpRequest, application_id: int) -> HttpResponse:
    return _detail(request, _application(application_id), RejectForm())


@membership_required(*REVIEWERS)
def application_approve_view(request: HttpRequest, application_id: int) -> HttpResponse:
    """GET says what approving does and asks to confirm; POST approves. A repeat says it was decided already."""
    application = _application(application_id)
    if request.method != "POST":
        context = {"application": application, "look_alikes": application_look_alikes(application=application)}
        return render(request, "portal/applications/approve.html", context)
    try:
        partner = application_approve(application=application, reviewer=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            gettext("%(partner)s joined the program; %(email)s received an invitation as partner admin.")
            % {"partner": partner.name, "email": application.contact_email},
        )
    return redirect("portal:application", application_id=application.pk)


@require_POST
@membership_required(*REVIEWERS)
def application_reject_view(request: HttpRequest, application_id: int) -> HttpResponse:
    application = _application(application_id)
    form = RejectForm(request.POST)
    if not form.is_valid():
        return _detail(request, application, form, status=400)
    try:
        application_reject(application=application, reviewer=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, gettext("The application was rejected; the applicant was told why."))
    return redirect("portal:application", application_id=application.pk)
