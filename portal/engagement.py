"""Announcements and surveys: staff write, schedule and follow them (/program/announcements/, /program/surveys/);
partner members read announcements (/announcements/, the banner on their home page) and answer surveys (/surveys/).

Staff pages are for program managers and owners; partner pages for partner members, each seeing only what was
sent to them (anything else is a 404). Creating is safe to repeat (a form key), reading and answering too.
"""

import re
import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from engagement.models import Announcement, Survey, SurveyResponse
from engagement.selectors import (
    announcement_read_counts,
    announcements_received,
    announcements_with_counts,
    survey_periods,
    survey_results,
    surveys_answered,
    surveys_waiting,
    surveys_with_counts,
)
from engagement.services import (
    Audience,
    announcement_cancel,
    announcement_create,
    announcement_read,
    survey_answer,
    survey_close,
    survey_create,
)
from loyalty.inputs import date_range_message
from loyalty.tenancy.models import Role
from loyalty.tenancy.permissions import membership_required
from notifications.models import Kind
from notifications.services import notifications_read_about
from partners.models import Partner, PartnerType
from tiers.models import Tier, TierModel

staff_required = membership_required(Role.PROGRAM_MANAGER, Role.OWNER)
partner_member_required = membership_required(Role.PARTNER_USER, Role.PARTNER_ADMIN)
PAGE_SIZE = 25
TITLE_MAX, BODY_MAX, ANSWER_MAX = 200, 4000, 2000
QUESTIONS = 3
ANSWERED_SHOWN = 10
# Messages are plain text, shown escaped; a tag is refused so that nobody believes markup will render.
TAG = re.compile(r"<\s*/?\s*[a-zA-Z!]")
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _plain_text(value: str) -> str:
    if TAG.search(value):
        raise ValidationError(_("Write plain text, without HTML tags."))
    return value.strip()


class AudienceForm(forms.Form):
    """The audience fields (tiers, partner types, regions) and the texts in each of the program's languages."""

    tiers = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Tiers"),
        queryset=Tier.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: every tier (and partners without one)."),
    )
    partner_types = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Partner types"),
        queryset=PartnerType.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: every type."),
    )
    regions = forms.MultipleChoiceField(
        label=gettext_lazy("Regions"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: every region."),
    )
    form_key = forms.UUIDField(widget=forms.HiddenInput)
    when_label = ""

    def __init__(self, *args, language: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.language = language
        self.fields["tiers"].queryset = Tier.objects.filter(model__status=TierModel.Status.ACTIVE).order_by("rank")
        self.fields["partner_types"].queryset = PartnerType.objects.order_by("name")
        regions = Partner.objects.exclude(region="").values_list("region", flat=True).distinct().order_by("region")
        self.fields["regions"].choices = [(region, region) for region in regions]

    def languages(self) -> list[tuple[str, str]]:
        """The program's language first, then the others."""
        return sorted(settings.LANGUAGES, key=lambda item: item[0] != self.language)

    def text_fields(self, name: str, label: str, *, widget: forms.Widget | None = None, max_length: int) -> None:
        for code, language in self.languages():
            self.fields[f"{name}_{code}"] = forms.CharField(
                label=f"{label} ({language})",
                required=False,
                max_length=max_length,
                widget=widget,
                validators=[_plain_text],
            )

    def audience(self) -> Audience:
        data = self.cleaned_data
        return Audience(tiers=list(data["tiers"]), partner_types=list(data["partner_types"]), regions=data["regions"])

    def clean_when(self, name: str) -> timezone.datetime:
        when = self.cleaned_data.get(name) or timezone.now()
        problem = date_range_message(when)
        if problem:
            raise ValidationError(problem)
        return when

    def language_groups(self, names: list[str]) -> list[tuple[str, list[forms.BoundField]]]:
        """Per language, its fields, for the template."""
        return [(language, [self[f"{name}_{code}"] for name in names]) for code, language in self.languages()]


class AnnouncementForm(AudienceForm):
    link = forms.URLField(label=gettext_lazy("Link (optional)"), max_length=500, required=False, assume_scheme="https")
    publish_at = forms.DateTimeField(
        label=gettext_lazy("Publish at"),
        required=False,
        widget=DATETIME_INPUT,
        help_text=gettext_lazy("Empty: now. Partners see it, and emails go out, at this time."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.text_fields("title", _("Title"), max_length=TITLE_MAX)
        self.text_fields("body", _("Message"), widget=forms.Textarea({"rows": 5}), max_length=BODY_MAX)

    def clean_publish_at(self):  # noqa: ANN201 - a datetime
        return self.clean_when("publish_at")

    def clean(self) -> dict:
        data = super().clean()
        texts = {}
        for code, _language in self.languages():
            title, body = data.get(f"title_{code}", ""), data.get(f"body_{code}", "")
            if code == self.language or title or body:
                for name, value in (("title", title), ("body", body)):
                    if not value and f"{name}_{code}" not in self.errors:
                        self.add_error(f"{name}_{code}", _("This field is required."))
                texts[code] = {"title": title, "body": body}
        data["texts"] = texts
        return data

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return self.language_groups(["title", "body"])


class SurveyForm(AudienceForm):
    cadence = forms.ChoiceField(
        label=gettext_lazy("Send"),
        choices=Survey.Cadence.choices,
        help_text=gettext_lazy("Each member is asked once per period, while the survey is open."),
    )
    opens_at = forms.DateTimeField(
        label=gettext_lazy("Send from"), required=False, widget=DATETIME_INPUT, help_text=gettext_lazy("Empty: now.")
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.text_fields("title", _("Title"), max_length=TITLE_MAX)
        for number in range(1, QUESTIONS + 1):
            self.text_fields(
                f"question{number}",
                _("Optional question %(number)s") % {"number": number},
                max_length=TITLE_MAX,
            )

    def clean_opens_at(self):  # noqa: ANN201 - a datetime
        return self.clean_when("opens_at")

    def clean(self) -> dict:
        data = super().clean()
        numbers = range(1, QUESTIONS + 1)
        asked = [number for number in numbers if data.get(f"question{number}_{self.language}")]
        texts = {}
        for code, _language in self.languages():
            title = data.get(f"title_{code}", "")
            # Each language's questions line up with the program language's (blank where not translated).
            questions = [data.get(f"question{number}_{code}", "") for number in asked]
            for number in numbers:
                if data.get(f"question{number}_{code}") and number not in asked:
                    self.add_error(f"question{number}_{code}", _("Write this question in the program's language too."))
            if (code == self.language or any(questions)) and not title and f"title_{code}" not in self.errors:
                self.add_error(f"title_{code}", _("This field is required."))
            if code == self.language or title or any(questions):
                texts[code] = {"title": title, "questions": questions}
        data["texts"] = texts
        return data

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return self.language_groups(["title", *(f"question{number}" for number in range(1, QUESTIONS + 1))])


class AnswerForm(forms.Form):
    score = forms.TypedChoiceField(
        choices=[(value, str(value)) for value in range(11)],
        coerce=int,
        widget=forms.RadioSelect(attrs={"class": "nps-choice"}),
        help_text=gettext_lazy("0 = not at all likely, 10 = extremely likely."),
    )
    comment = forms.CharField(
        label=gettext_lazy("What is the main reason for your score? (optional)"),
        required=False,
        max_length=ANSWER_MAX,
        widget=forms.Textarea({"rows": 3}),
        validators=[_plain_text],
    )

    def __init__(self, *args, questions: list[str], program: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["score"].label = _("How likely are you to recommend %(program)s to a colleague?") % {
            "program": program
        }
        for index, question in enumerate(questions):
            self.fields[f"answer{index}"] = forms.CharField(
                label=question,
                required=False,
                max_length=ANSWER_MAX,
                widget=forms.Textarea({"rows": 2}),
                validators=[_plain_text],
            )

    def answers(self) -> list[str]:
        return [self.cleaned_data[name].strip() for name in self.fields if name.startswith("answer")]


def _next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


# --- Partner members ----------------------------------------------------------------------------------------------


@partner_member_required
def announcement_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(announcements_received(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/engagement/announcements.html", {"page": page})


@partner_member_required
def announcement_detail(request: HttpRequest, announcement_id: int) -> HttpResponse:
    """An announcement sent to this member; opening it counts as reading it (here and in the notification centre)."""
    delivery = get_object_or_404(announcements_received(user=request.user), announcement_id=announcement_id)
    announcement_read(announcement_id=announcement_id, user=request.user)
    notifications_read_about(user=request.user, kind=Kind.ANNOUNCEMENT, subject=f"announcement:{announcement_id}")
    return render(request, "portal/engagement/announcement.html", {"delivery": delivery})


@require_POST
@partner_member_required
def announcement_dismiss(request: HttpRequest, announcement_id: int) -> HttpResponse:
    """The banner's 'dismiss': read, without opening it. Repeating it changes nothing."""
    get_object_or_404(announcements_received(user=request.user), announcement_id=announcement_id)
    announcement_read(announcement_id=announcement_id, user=request.user)
    notifications_read_about(user=request.user, kind=Kind.ANNOUNCEMENT, subject=f"announcement:{announcement_id}")
    return redirect(_next(request, "/"))


@partner_member_required
def survey_list(request: HttpRequest) -> HttpResponse:
    """The member's surveys waiting for an answer, and the ones they answered."""
    context = {
        "waiting": list(surveys_waiting(user=request.user)),
        "answered": list(surveys_answered(user=request.user)[:ANSWERED_SHOWN]),
    }
    return render(request, "portal/engagement/surveys.html", context)


@partner_member_required
def survey_answer_view(request: HttpRequest, response_id: int) -> HttpResponse:
    """The NPS question and the survey's own; a second submit (or a closed survey) keeps what was there."""
    try:
        response = SurveyResponse.objects.select_related("survey").get(pk=response_id, user=request.user)
    except SurveyResponse.DoesNotExist:
        raise Http404 from None
    questions = response.survey.questions()
    if request.method == "POST" and response.answered_at is not None:
        messages.info(request, _("Your answer was already recorded; it was not changed."))
        return redirect("portal:surveys")
    if response.answered_at is not None or not response.survey.is_open:
        return render(request, "portal/engagement/answered.html", {"response": response})
    form = AnswerForm(request.POST or None, questions=questions, program=request.tenant.name)
    if request.method == "POST" and form.is_valid():
        recorded = survey_answer(
            response=response,
            score=form.cleaned_data["score"],
            comment=form.cleaned_data["comment"].strip(),
            answers=form.answers(),
        )
        if recorded:
            messages.success(request, _("Thank you: your answer is recorded."))
        else:
            messages.info(request, _("Your answer was already recorded; it was not changed."))
        return redirect("portal:surveys")
    status = 400 if request.method == "POST" else 200
    return render(request, "portal/engagement/answer.html", {"response": response, "form": form}, status=status)


# --- Program staff ------------------------------------------------------------------------------------------------


@staff_required
def staff_announcements(request: HttpRequest) -> HttpResponse:
    page = Paginator(announcements_with_counts(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/engagement/staff_announcements.html", {"page": page, "current": "announcements"})


@staff_required
def staff_announcement_new(request: HttpRequest) -> HttpResponse:
    form = AnnouncementForm(request.POST or None, initial={"form_key": uuid.uuid4()}, language=request.tenant.language)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        announcement = announcement_create(
            texts=data["texts"],
            link=data["link"],
            audience=form.audience(),
            publish_at=data["publish_at"],
            actor=request.user,
            form_key=data["form_key"],
        )
        messages.success(request, _("The announcement is scheduled."))
        return redirect("portal:staff-announcement", announcement_id=announcement.pk)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "current": "announcements"}
    return render(request, "portal/engagement/staff_announcement_new.html", context, status=status)


@staff_required
def staff_announcement(request: HttpRequest, announcement_id: int) -> HttpResponse:
    """One announcement: its texts, audience, and who received and read it by tier, partner type and region."""
    announcement = get_object_or_404(
        announcements_with_counts().prefetch_related("tiers", "partner_types"), pk=announcement_id
    )
    context = {
        "announcement": announcement,
        "counts": announcement_read_counts(announcement=announcement),
        "current": "announcements",
    }
    return render(request, "portal/engagement/staff_announcement.html", context)


@require_POST
@staff_required
def staff_announcement_cancel(request: HttpRequest, announcement_id: int) -> HttpResponse:
    announcement = get_object_or_404(Announcement.objects.all(), pk=announcement_id)
    if announcement_cancel(announcement=announcement):
        messages.success(request, _("The announcement is cancelled; nobody received it."))
    else:
        messages.info(request, _("Only a scheduled announcement can be cancelled; this one was not changed."))
    return redirect("portal:staff-announcement", announcement_id=announcement.pk)


@staff_required
def staff_surveys(request: HttpRequest) -> HttpResponse:
    page = Paginator(surveys_with_counts(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/engagement/staff_surveys.html", {"page": page, "current": "surveys"})


@staff_required
def staff_survey_new(request: HttpRequest) -> HttpResponse:
    form = SurveyForm(request.POST or None, initial={"form_key": uuid.uuid4()}, language=request.tenant.language)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        survey = survey_create(
            texts=data["texts"],
            cadence=data["cadence"],
            audience=form.audience(),
            opens_at=data["opens_at"],
            actor=request.user,
            form_key=data["form_key"],
        )
        messages.success(request, _("The survey is open."))
        return redirect("portal:staff-survey", survey_id=survey.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "portal/engagement/staff_survey_new.html", {"form": form, "current": "surveys"}, status=status
    )


@staff_required
def staff_survey(request: HttpRequest, survey_id: int) -> HttpResponse:
    """A survey's NPS and response rate, in total and by tier and partner type, for the chosen period."""
    survey = get_object_or_404(Survey.objects.prefetch_related("tiers", "partner_types"), pk=survey_id)
    periods = survey_periods(survey=survey)
    period = request.GET.get("period") if request.GET.get("period") in periods else (periods[0] if periods else "")
    context = {
        "survey": survey,
        "periods": periods,
        "results": survey_results(survey=survey, period=period) if period else None,
        "current": "surveys",
    }
    return render(request, "portal/engagement/staff_survey.html", context)


@require_POST
@staff_required
def staff_survey_close(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = get_object_or_404(Survey.objects.all(), pk=survey_id)
    if survey_close(survey=survey):
        messages.success(request, _("The survey is closed: nobody else is asked, and no more answers are taken."))
    else:
        messages.info(request, _("The survey was already closed."))
    return redirect("portal:staff-survey", survey_id=survey.pk)
