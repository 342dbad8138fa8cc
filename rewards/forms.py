from django import forms
from django.utils.translation import gettext_lazy as _


class CodesForm(forms.Form):
    codes = forms.CharField(
        label=_("Codes, one per line"),
        widget=forms.Textarea(attrs={"rows": 10, "autocomplete": "off"}),
        max_length=200_000,
    )
