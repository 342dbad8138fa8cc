from django import forms
from django.utils.translation import gettext_lazy as _


class AdjustmentForm(forms.Form):
    points = forms.IntegerField(label=_("Points (negative to deduct)"))
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=1000)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)

    def clean_points(self) -> int:
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(_("An adjustment moves at least one point."))
        return points
