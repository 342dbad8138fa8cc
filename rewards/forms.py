from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty.uploads import IMAGE, ScannedUploadsForm


class RewardForm(ScannedUploadsForm):
    """The reward's change form: its image is scanned by content before it is stored."""

    upload_kinds = {"image": IMAGE}


class CodesForm(forms.Form):
    codes = forms.CharField(
        label=_("Codes, one per line"),
        widget=forms.Textarea(attrs={"rows": 10, "autocomplete": "off"}),
        max_length=200_000,
    )
