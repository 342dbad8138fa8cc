from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty.ledger.services import ADJUSTMENT_MAX_POINTS


class AdjustmentForm(forms.Form):
    points = forms.IntegerField(
        label=_("Points (negative to deduct)"), min_value=-ADJUSTMENT_MAX_POINTS, max_value=ADJUSTMENT_MAX_POINTS
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=1000)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)

    def __init__(self, *args, balance: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.balance = balance

    def clean_points(self) -> int:
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(_("An adjustment moves at least one point."))
        if self.balance + points < 0:
            raise forms.ValidationError(
                _("The account holds %(balance)s points; it cannot lose %(points)s.")
                % {"balance": f"{self.balance:,}", "points": f"{-points:,}"}
            )
        return points
