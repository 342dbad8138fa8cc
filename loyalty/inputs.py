"""What input the product accepts through any door (API, CSV, forms): text without NUL, bounded JSON, ASCII numbers.

PostgreSQL cannot store a NUL character in text or in `jsonb`, and parsing or walking deeply nested JSON recurses,
so both are refused where input arrives, as a field error, rather than discovered by the database (a 500).
Django's form `CharField` and DRF's `CharField` already refuse NUL with `ProhibitNullCharactersValidator`; the
helpers here cover what they do not see: JSON values, query parameters, CSV cells, bulk rows.
"""

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.formats import get_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

NUL = "\x00"
# Deeper than any document the product defines (a bulk request with metadata is 4 levels plus the metadata's own).
JSON_MAX_DEPTH = 20
_ASCII_WHOLE_NUMBER = re.compile(r"[0-9]+")
# Dates any input may carry: wide enough for a partner founded in 1900 or a certificate valid to 2199, narrow
# enough that adding years (expiry) or moving between time zones never overflows, and that every time zone's
# offset is whole minutes (1 January 0001 in New York is -04:56:02 local mean time, which RFC 3339 cannot say).
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)


def nul_message() -> str:
    """Django's own message (and translations) for a NUL character, as its form fields say it."""
    return str(ProhibitNullCharactersValidator.message)


def has_nul(value: object) -> bool:
    return isinstance(value, str) and NUL in value


def text_check(value: object, *, field: str) -> None:
    """Refuse a NUL character in `value` (a string), as an error on `field`."""
    if has_nul(value):
        raise ValidationError({field: [nul_message()]}, code="null_characters_not_allowed")


def json_problems(value: Any, *, max_depth: int = JSON_MAX_DEPTH, path: str = "") -> dict[str, list[str]]:
    """The first problem in a parsed JSON value, keyed by its dotted path (`activities.3.metadata.note`): a NUL
    character in a key or a string, or containers nested deeper than `max_depth`. Empty when there is none.

    Walks with a stack of its own, so a value nested thousands deep is measured without recursing.
    """
    # (item, its parent's path, its key in the parent — None for the root —, depth): a path is written only for
    # a container or a problem, not for each of a bulk body's thousands of strings.
    stack: list[tuple[Any, str, Any, int]] = [(value, path, None, 1)]
    while stack:
        item, parent, key, depth = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return {_json_path(parent, key) or "non_field_errors": [nul_message()]}
            continue
        if not isinstance(item, Mapping | list | tuple):
            continue
        where = _json_path(parent, key)
        if depth > max_depth:
            message = _("This is nested more than %(depth)s levels deep.") % {"depth": max_depth}
            return {where or "non_field_errors": [message]}
        if isinstance(item, Mapping):
            for child_key, child in item.items():
                if has_nul(child_key):
                    return {where or "non_field_errors": [nul_message()]}
                stack.append((child, where, child_key, depth + 1))
        else:
            stack.extend((child, where, index, depth + 1) for index, child in enumerate(item))
    return {}


def _json_path(parent: str, key: Any) -> str:
    if key is None:
        return parent
    return f"{parent}.{key}" if parent else str(key)


def json_check(value: Any, *, field: str = "", max_depth: int = JSON_MAX_DEPTH) -> None:
    """Raise a field error for the first problem `json_problems` finds in `value`."""
    problems = json_problems(value, max_depth=max_depth, path=field)
    if problems:
        raise ValidationError(problems, code="invalid")


def date_range_message(value: date | datetime | None) -> str | None:
    """Why `value` is outside the dates the product accepts, or None when it is inside (or absent)."""
    if value is None:
        return None
    day = value.date() if isinstance(value, datetime) else value
    if EARLIEST_DATE <= day <= LATEST_DATE:
        return None
    return _("Give a date from %(earliest)s to %(latest)s.") % {
        "earliest": EARLIEST_DATE.isoformat(),
        "latest": LATEST_DATE.isoformat(),
    }


def ascii_whole_number(text: str) -> int | None:
    """`text` as a whole number when it is only the digits 0-9, else None.

    `str.isdigit()` accepts superscripts that `int()` refuses ("¹"), and `int()` reads other scripts' digits ("٣"
    is 3): a parameter a client typed in another script is refused, not read as some number.
    """
    if _ASCII_WHOLE_NUMBER.fullmatch(text):
        return int(text)
    return None


class JSONFormField(forms.JSONField):
    """A form's JSON field that refuses a NUL character (anywhere in the value) or deep nesting as its own error.

    The tenant admin's model admins use it for every model JSONField (`formfield_overrides`); Django's would pass
    such a value on to `jsonb`, which refuses it (a 500).
    """

    def validate(self, value: Any) -> None:
        super().validate(value)
        for messages in json_problems(value).values():
            raise ValidationError(messages, code="invalid")


ISO_DATE_FORMAT = "%Y-%m-%d"


class ReaderDateInput(forms.DateInput):
    """A date box that reads and takes dates in the reader's language's format.

    A native `<input type="date">` shows the date in the browser's own locale, whatever the page's `lang`: an English
    Chromium shows 12/31/2026 on a Spanish page, and the page cannot change that. So the native picker is kept only
    where the language's first input format is ISO (English in Django's formats); elsewhere the box is text in that
    format (Spanish: 31/12/2026), with the format as its placeholder. The field parses the language's
    DATE_INPUT_FORMATS, which always include ISO, so a link or a test posting 2026-12-31 still works. No format is
    fixed: the value is written in the active language's first input format at render time.
    """

    def get_context(self, name: str, value: object, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        input_format = get_format("DATE_INPUT_FORMATS")[0]
        if input_format == ISO_DATE_FORMAT:
            context["widget"]["type"] = "date"
        else:
            context["widget"]["type"] = "text"
            context["widget"]["attrs"].setdefault("placeholder", date_placeholder(input_format))
            context["widget"]["attrs"].setdefault("inputmode", "numeric")
            context["widget"]["attrs"].setdefault("autocomplete", "off")
        return context


def date_placeholder(input_format: str) -> str:
    """The format in letters a reader recognises: %d/%m/%Y is dd/mm/aaaa in Spanish."""
    return (
        input_format.replace("%d", pgettext("date placeholder", "dd"))
        .replace("%m", pgettext("date placeholder", "mm"))
        .replace("%Y", pgettext("date placeholder", "yyyy"))
        .replace("%y", pgettext("date placeholder", "yy"))
    )
