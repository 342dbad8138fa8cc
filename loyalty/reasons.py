"""Reasons the system gives (not a person): stored as a code with its parameters, said in the reader's language.

A status history row written by the system ("Recorded", "Cancelled by the partner.", "Protected for 90 days…")
keeps the code and parameters (`StatusChange.reason_code`, `reason_params`) and the English text in `reason`,
which exports and webhooks read; pages render `reason_shown`, in the reader's language (issue 17, item 16).

Ledger entries are hash-chained and written in bulk by ingestion, so their memo keeps the English text alone: a
memo that is exactly one of the texts below (with any parameters) is said in the reader's language by
`memo_shown`; anything else is a person's words and is shown as typed. A parameter may itself be an English text
of a layer above (a badge's name): that layer registers how to say it (`param_wording_register`), and a text it
does not recognise leaves the memo as typed.
"""

import contextlib
import re
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any

from django.utils import translation
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

REASONS: dict[str, Promise] = {
    "recorded": _("Recorded"),
    "recorded_from": _("Recorded (%(source)s)"),
    "recorded_approved_from": _("Recorded and approved (trusted source: %(source)s)"),
    "claim_approved": _("Claim approved"),
    "approved_automatically": _("Approved automatically."),
    "code_issued": _("Code issued."),
    "credit_note_issued": _("Credit note issued."),
    "cancelled_by_partner": _("Cancelled by the partner."),
    "invoice": _("Invoice %(number)s"),
    "deal_won": _("Deal %(reference)s won"),
    "possible_conflicts": ngettext_lazy(
        "%(count)s possible conflict found.", "%(count)s possible conflicts found.", "count"
    ),
    "protected": _("Protected for %(days)s days, until %(date)s."),
    "extended": _("Extended by %(days)s days, until %(date)s: %(reason)s"),
    "protection_ended": _("Protection ended on %(date)s."),
    "not_recovered": _("%(reason)s (%(points)s points already spent could not be recovered)"),
    "badge_bonus": _("Badge: %(badge)s"),
}
# Parameters named so hold a day (stored ISO 8601) and are written the reader's way.
DATE_PARAMS = frozenset({"date"})
# Parameters named so hold an English text of a layer above, said in the reader's language by the function that
# layer registers at start-up (it raises ValueError for a text it does not know).
_PARAM_WORDING: dict[str, Callable[[str], str]] = {}


def param_wording_register(name: str, wording: Callable[[str], str]) -> None:
    """Say the parameter `name` (its English text) in the reader's language with `wording` (see `_PARAM_WORDING`)."""
    _PARAM_WORDING[name] = wording


def _rendered(code: str, params: dict[str, Any], *, stored: bool = False) -> str:
    """The reason in the active language; `stored`: with days as ISO 8601, as the `reason` column keeps them."""
    values = dict(params)
    for name in set() if stored else DATE_PARAMS & values.keys():
        with contextlib.suppress(TypeError, ValueError):
            values[name] = date_format(date.fromisoformat(values[name]), "DATE_FORMAT")
    for name in set() if stored else _PARAM_WORDING.keys() & values.keys():
        values[name] = _PARAM_WORDING[name](values[name])
    return str(REASONS[code] % values) if values else str(REASONS[code])


class CodedReason(str):
    """A system reason: the English text as a string (what `reason` columns and webhooks hold), with its code."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, **params: Any) -> "CodedReason":
        stored = {name: value.isoformat() if isinstance(value, date) else value for name, value in params.items()}
        with translation.override("en"):
            text = _rendered(code, stored, stored=True)
        reason = super().__new__(cls, text)
        reason.code, reason.params = code, stored
        return reason

    def strip(self, chars: str | None = None) -> str:
        return self if chars is None else str.strip(self, chars)

    def shown(self) -> str:
        return _rendered(self.code, self.params)


def reason_shown(text: str, code: str = "", params: dict[str, Any] | None = None) -> str:
    """A stored reason in the reader's language: by its code when it has one, else as typed."""
    if code in REASONS:
        try:
            return _rendered(code, params or {})
        except (KeyError, TypeError, ValueError):
            return text
    return text


# The system texts a ledger memo can hold (see the module's docstring).
MEMO_CODES = ("cancelled_by_partner", "not_recovered", "badge_bonus")
_PARAM = re.compile(r"%\((\w+)\)s")


@cache
def _memo_patterns() -> tuple[tuple[str, re.Pattern], ...]:
    """Each memo text's English template as a pattern: its literal parts escaped, each parameter a named group."""
    patterns = []
    with translation.override("en"):
        for code in MEMO_CODES:
            parts = _PARAM.split(str(REASONS[code]))  # literal, name, literal, name, …, literal
            source = "".join(
                re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)" for index, part in enumerate(parts)
            )
            patterns.append((code, re.compile(f"^{source}$", re.DOTALL)))
    return tuple(patterns)


def memo_shown(memo: str) -> str:
    """A ledger memo in the reader's language when it is a system text (see the module's docstring), else as typed."""
    for code, pattern in _memo_patterns():
        if match := pattern.match(memo):
            return reason_shown(memo, code, match.groupdict())
    return memo
