"""The enablement library for partner members: resources and courses their tier and type open, what the next tier
unlocks (greyed), a course's quiz and completion; the company profile (the onboarding's first step)."""

from pathlib import PurePath

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from enablement.models import Course, PartnerProfile, Resource
from enablement.selectors import course_completion_get, course_for_partner, library_get, resource_for_member
from enablement.services import course_complete, partner_profile_save
from loyalty.tenancy.models import Role
from loyalty.tenancy.permissions import membership_required
from loyalty.uploads import stored_upload_response

partner_member_required = membership_required(Role.PARTNER_USER, Role.PARTNER_ADMIN)


@partner_member_required
def library(request: HttpRequest) -> HttpResponse:
    """What the partner's tier and type open, and what the next tier would."""
    membership = request.membership
    return render(
        request,
        "portal/enablement/library.html",
        {"library": library_get(partner=membership.partner, user_id=request.user.pk), "partner": membership.partner},
    )


@never_cache
@membership_required(Role.PARTNER_USER, Role.PARTNER_ADMIN, Role.PROGRAM_MANAGER, Role.OWNER)
def resource_open(request: HttpRequest, resource_id: int) -> HttpResponse:
    """A file the member is entitled to (served like evidence: its type by content, sandboxed), or its link."""
    try:
        resource = resource_for_member(membership=request.membership, resource_id=resource_id)
    except Resource.DoesNotExist:
        raise Http404 from None
    if not resource.is_file:
        return redirect(resource.url)
    return stored_upload_response(resource.file, filename=PurePath(resource.file_name).stem[:80] or "resource")


class QuizForm(forms.Form):
    """One radio group per question of the course; choices are numbered from 1."""

    def __init__(self, *args, course: Course, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for question in course.questions.all():
            self.fields[f"question-{question.pk}"] = forms.TypedChoiceField(
                label=question.prompt,
                choices=[(number, text) for number, text in enumerate(question.choice_list, start=1)],
                coerce=int,
                widget=forms.RadioSelect,
                error_messages={"required": _("Choose one answer."), "invalid_choice": _("Choose one answer.")},
            )


def _course_context(request: HttpRequest, course: Course, form: QuizForm, score: int | None = None) -> dict:
    return {
        "course": course,
        "form": form,
        "completion": course_completion_get(course=course, user_id=request.user.pk),
        "score": score,
        "partner": request.membership.partner,
    }


@partner_member_required
@require_http_methods(["GET", "POST"])
def course_detail(request: HttpRequest, course_id: int) -> HttpResponse:
    """GET: the course, its material and quiz. POST: complete it (or pass its quiz), once per member."""
    partner = request.membership.partner
    try:
        course = course_for_partner(partner=partner, course_id=course_id)
    except Course.DoesNotExist:
        raise Http404 from None
    if request.method == "GET":
        return render(
            request, "portal/enablement/course.html", _course_context(request, course, QuizForm(course=course))
        )
    form = QuizForm(request.POST, course=course)
    if form.is_valid():
        try:
            outcome = course_complete(
                course_id=course.pk, partner=partner, user=request.user, answers=form.cleaned_data
            )
        except (ValidationError, Course.DoesNotExist) as refusal:
            form.add_error(None, refusal.messages if isinstance(refusal, ValidationError) else _("Not available."))
        else:
            if outcome.passed:
                if outcome.created:
                    messages.success(
                        request,
                        _("You completed %(course)s: it counts as a training for your company.") % {"course": course},
                    )
                return redirect("portal:course", course_id=course.pk)
            context = _course_context(request, course, form, score=outcome.score_percent)
            return render(request, "portal/enablement/course.html", context, status=200)
    return render(request, "portal/enablement/course.html", _course_context(request, course, form), status=400)


class ProfileForm(forms.ModelForm):
    website = forms.URLField(
        label=gettext_lazy("Website"),
        max_length=200,
        assume_scheme="https",
        help_text=gettext_lazy("For example https://www.example.com"),
    )

    class Meta:
        model = PartnerProfile
        fields = ["website", "phone", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}


@partner_member_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """The company profile: partner admins fill it in, partner users read it."""
    partner = request.membership.partner
    existing = PartnerProfile.objects.filter(partner=partner).first()
    can_edit = request.membership.role == Role.PARTNER_ADMIN
    form = ProfileForm(request.POST if request.method == "POST" else None, instance=existing)
    status = 200
    if request.method == "POST":
        if not can_edit:
            return render(
                request,
                "portal/enablement/profile.html",
                {"form": None, "profile": existing, "partner": partner, "can_edit": False},
                status=403,
            )
        if form.is_valid():
            try:
                partner_profile_save(partner=partner, user=request.user, **form.cleaned_data)
            except ValidationError as refusal:
                form.add_error(None, refusal)
            else:
                messages.success(request, _("Your company profile is saved."))
                return redirect("portal:profile")
        status = 400
    context = {"form": form if can_edit else None, "profile": existing, "partner": partner, "can_edit": can_edit}
    return render(request, "portal/enablement/profile.html", context, status=status)
