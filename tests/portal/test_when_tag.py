"""`{% when %}` (portal/templatetags/portal_tags.py): a row's date, and the day it is about in the same style."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.template import engines
from django.utils import timezone, translation

UTC = ZoneInfo("UTC")
POSTED = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
DATED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DATED_TIME = '<time datetime="2026-12-04T12:00:00+00:00">'


def _render(format_name: str, language: str) -> str:
    source = "{% load portal_tags %}{% when posted dated=dated format=format_name %}"
    context = {"posted": POSTED, "dated": DATED, "format_name": format_name}
    with translation.override(language), timezone.override(UTC):
        return engines["django"].from_string(source).render(context)


@pytest.mark.parametrize(
    ("language", "format_name", "posted", "dated"),
    [
        # The dashboard's ledger line: long dates both (it read "Dec. 7, 2026 dated 12/04/2026").
        ("en", "DATE_FORMAT", "Dec. 7, 2026", "dated " + DATED_TIME + "Dec. 4, 2026"),
        ("es", "DATE_FORMAT", "7 de diciembre de 2026", "con fecha " + DATED_TIME + "4 de diciembre de 2026"),
        # The statement and the claims list: short dates both.
        ("en", "SHORT_DATETIME_FORMAT", "12/07/2026 3 p.m.", "dated " + DATED_TIME + "12/04/2026"),
        ("es", "SHORT_DATE_FORMAT", "07/12/2026", "con fecha " + DATED_TIME + "04/12/2026"),
    ],
)
def test_the_day_a_row_is_about_is_in_the_style_of_its_main_date(
    language: str, format_name: str, posted: str, dated: str
) -> None:
    assert f'>{posted}</time> <small class="muted dated">{dated}</time></small>' in _render(format_name, language)
