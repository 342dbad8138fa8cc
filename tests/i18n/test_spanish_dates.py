"""A Spanish reader sees and types dates as 31/12/2026 in the product's date boxes; an English one keeps the
browser's date picker (docs/i18n.md)."""

from datetime import date

import pytest
from django import forms
from django.utils import translation

from loyalty.inputs import ReaderDateInput
from tests.conftest import World
from tests.i18n.test_spanish_pages import speaks


class DayForm(forms.Form):
    day = forms.DateField(widget=ReaderDateInput())


def test_a_spanish_date_box_is_text_in_the_spanish_format() -> None:
    with translation.override("es"):
        html = str(DayForm(initial={"day": date(2026, 12, 31)})["day"])

    assert 'type="text"' in html
    assert 'value="31/12/2026"' in html
    assert 'placeholder="dd/mm/aaaa"' in html
    assert 'inputmode="numeric"' in html
    assert 'type="date"' not in html


def test_an_english_date_box_keeps_the_browsers_date_picker() -> None:
    with translation.override("en"):
        html = str(DayForm(initial={"day": date(2026, 12, 31)})["day"])

    assert 'type="date"' in html
    assert 'value="2026-12-31"' in html
    assert "placeholder" not in html


@pytest.mark.parametrize("typed", ["31/12/2026", "31/12/26", "31-12-2026", "2026-12-31"])
def test_spanish_accepts_what_a_spanish_reader_types(typed: str) -> None:
    with translation.override("es"):
        form = DayForm({"day": typed})

        assert form.is_valid(), form.errors
    assert form.cleaned_data["day"] == date(2026, 12, 31)


def test_spanish_refuses_the_american_order_rather_than_misreading_it() -> None:
    with translation.override("es"):
        form = DayForm({"day": "12/31/2026"})

        assert not form.is_valid()
        assert form.errors["day"] == ["Introduzca una fecha válida."]


def test_the_statement_filter_reads_and_shows_spanish_dates(acme: World, client_for) -> None:
    speaks(acme.partner_admin, "es")

    page = (
        client_for(acme, acme.partner_admin)
        .get("/statement/", {"date_from": "01/12/2026", "date_to": "31/12/2026"})
        .content.decode()
    )

    assert 'value="01/12/2026"' in page
    assert 'value="31/12/2026"' in page
    assert 'placeholder="dd/mm/aaaa"' in page
    assert "Introduzca una fecha válida." not in page
    assert 'type="date"' not in page
