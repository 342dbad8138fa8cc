"""Build the POST a browser would send back from an admin change page, so tests change only what they mean to."""

from django import forms
from django.http import HttpResponse


def _field_value(field: forms.Field, value: object) -> object:
    value = field.prepare_value(value)
    if isinstance(field, forms.BooleanField):
        return "on" if value else None
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _form_data(form: forms.BaseForm) -> dict:
    data = {}
    for name, field in form.fields.items():
        value = _field_value(field, form[name].value())
        if value is None:
            continue
        data[form.add_prefix(name)] = value
        if field.show_hidden_initial:
            data[form.add_initial_prefix(name)] = value
    return data


def change_form_data(response: HttpResponse, **changes: object) -> dict:
    """The page's form and inline forms as they stand, with `changes` (by POST name) applied."""
    data = _form_data(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        data |= _form_data(inline.formset.management_form)
        for form in inline.formset.forms:
            data |= _form_data(form)
    return data | changes
