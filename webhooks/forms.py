"""The endpoint form of the tenant admin: events as checkboxes."""

from django import forms
from django.utils.translation import gettext_lazy as _

from webhooks.models import SUBSCRIBABLE_EVENTS, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", label=_("URL"))
    events = forms.MultipleChoiceField(
        # The event's name as receivers see it in Tierline-Event, then what it means.
        choices=[(event, f"{event} — {label}") for event, label in SUBSCRIBABLE_EVENTS],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The events sent to this URL."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "is_active"]
