from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from loyalty.uploads import IMAGE, ScannedUploadsForm


class TenantLogoForm(ScannedUploadsForm):
    """A tenant's settings (platform or tenant admin): the logo is scanned by content before it is stored."""

    upload_kinds = {"logo": IMAGE}


class InvitationSignupForm(forms.Form):
    """The invitee's new account: a name and a password (the email comes from the invitation)."""

    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150)
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(
        label=_("Password (again)"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args, email: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict:
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", _("The two passwords differ."))
        elif password1:
            from loyalty.tenancy.models import User

            candidate = User(email=self.email, first_name=cleaned.get("first_name", ""))
            try:
                password_validation.validate_password(password1, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned
