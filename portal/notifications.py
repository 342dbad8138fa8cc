"""The notification centre and settings of every member (partner members and staff alike), and unsubscribing from an
email link."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from loyalty.tenancy.permissions import membership_required
from notifications.emails import ALL_KINDS, language_of, notification_text
from notifications.models import Kind, kinds_for
from notifications.selectors import notifications_for
from notifications.services import (
    notification_read,
    notifications_read_all,
    preference_for,
    preference_update,
    unsubscribe,
    unsubscribe_read,
)

PAGE_SIZE = 20
member_required = membership_required()


class PreferencesForm(forms.Form):
    emailed_kinds = forms.MultipleChoiceField(
        label=gettext_lazy("Email me about"), widget=forms.CheckboxSelectMultiple, required=False
    )
    digest = forms.BooleanField(
        label=gettext_lazy("Send one email a day instead of one per notification"), required=False
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        choices=[("", gettext_lazy("The program's language")), *settings.LANGUAGES],
        required=False,
    )

    def __init__(self, *args, is_partner_member: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["emailed_kinds"].choices = kinds_for(is_partner_member=is_partner_member)


@member_required
def inbox(request: HttpRequest) -> HttpResponse:
    """Newest first, unread ones marked; each opens its page (and counts as read)."""
    page = Paginator(notifications_for(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    items = [
        {"notification": item, "subject": notification_text(item, "subject"), "body": notification_text(item, "body")}
        for item in page
    ]
    return render(request, "portal/notifications/inbox.html", {"page": page, "items": items})


@require_POST
@member_required
def open_notification(request: HttpRequest, notification_id: int) -> HttpResponse:
    notification = get_object_or_404(notifications_for(user=request.user), pk=notification_id)
    notification_read(notification=notification)
    link = notification.context.get("link", "/")
    return redirect(link if link.startswith("/") and not link.startswith("//") else "/")


@require_POST
@member_required
def read_all(request: HttpRequest) -> HttpResponse:
    notifications_read_all(user=request.user)
    return redirect("portal:notifications")


@member_required
def preferences(request: HttpRequest) -> HttpResponse:
    preference = preference_for(user=request.user)
    is_partner_member = request.membership.partner_id is not None
    kinds = [kind for kind, _label in kinds_for(is_partner_member=is_partner_member)]
    initial = {
        "emailed_kinds": [kind for kind in kinds if preference.emails(kind)],
        "digest": preference.digest,
        "language": request.user.language,
    }
    form = PreferencesForm(request.POST or None, initial=initial, is_partner_member=is_partner_member)
    if request.method == "POST" and form.is_valid():
        preference_update(
            user=request.user,
            offered_kinds=kinds,
            emailed_kinds=form.cleaned_data["emailed_kinds"],
            digest=form.cleaned_data["digest"],
            language=form.cleaned_data["language"],
        )
        translation.activate(language_of(request.user))
        messages.success(request, _("Your notification settings are saved."))
        return redirect("portal:notification_preferences")
    return render(request, "portal/notifications/preferences.html", {"form": form})


# The signed token is the authority, and mail clients' one-click unsubscribe (RFC 8058) POSTs without a CSRF token.
@csrf_exempt
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    """From an email link, signed in or not: GET asks, POST stops the emails (mail clients' one-click POST too)."""
    if getattr(request, "tenant", None) is None:
        raise Http404
    try:
        user, kind = unsubscribe(token=token) if request.method == "POST" else unsubscribe_read(token=token)
    except signing.BadSignature as error:
        raise Http404 from error
    context = {
        "email": user.email,
        "kind_label": _("every notification") if kind == ALL_KINDS else Kind(kind).label,
        "done": request.method == "POST",
    }
    return render(request, "portal/notifications/unsubscribe.html", context)
