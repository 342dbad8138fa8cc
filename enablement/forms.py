"""Admin forms of the library: a resource's file is scanned by content before it is stored."""

from django import forms
from django.utils.translation import gettext_lazy as _

from enablement.models import Onboarding, OnboardingStep, Resource
from loyalty.uploads import EVIDENCE, ScannedUploadsForm


class ResourceForm(ScannedUploadsForm):
    """A file is scanned like claim evidence (PDF, PNG or JPEG, checked by content); its name is kept for downloads."""

    upload_kinds = {"file": EVIDENCE}  # the model and fields come from ResourceAdmin

    def save(self, commit: bool = True) -> Resource:
        upload = self.files.get(self.add_prefix("file"))
        if upload is not None:
            self.instance.file_name = upload.name[:200]
        elif not self.instance.file:
            self.instance.file_name = ""
        return super().save(commit=commit)


class OnboardingForm(forms.ModelForm):
    steps = forms.TypedMultipleChoiceField(
        label=_("Steps"),
        choices=OnboardingStep.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("The steps new partners are asked to take, in this order."),
    )

    class Meta:
        model = Onboarding
        fields = ["is_active", "steps", "window_days"]

    def clean_steps(self) -> list[str]:
        chosen = set(self.cleaned_data["steps"])
        return [step for step in OnboardingStep.values if step in chosen]
