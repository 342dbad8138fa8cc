"""Badges in words, in the reader's language, from the rule and its threshold (staff type no label to translate)."""

import re
from functools import lru_cache

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from badges.models import Badge
from loyalty.reasons import CodedReason


def badge_name(*, badge: Badge) -> str:
    """ "First deal won", "5 certifications", "1 year in the program", "First tier upgrade"."""
    count = badge.threshold
    if badge.rule == Badge.Rule.DEALS_WON:
        return _("First deal won") if count == 1 else _("%(count)s deals won") % {"count": count}
    if badge.rule == Badge.Rule.CERTIFICATIONS:
        return ngettext("First certification", "%(count)s certifications", count) % {"count": count}
    if badge.rule == Badge.Rule.MONTHS_IN_PROGRAM:
        if count % 12 == 0:
            years = count // 12
            return ngettext("%(count)s year in the program", "%(count)s years in the program", years) % {"count": years}
        return ngettext("%(count)s month in the program", "%(count)s months in the program", count) % {"count": count}
    return _("First tier upgrade") if count == 1 else _("%(count)s tier upgrades") % {"count": count}


def badge_bonus_memo(*, badge: Badge) -> CodedReason:
    """The memo of a badge's bonus: a system text (loyalty/reasons.py), in English whatever language is active."""
    with translation.override("en"):
        return CodedReason("badge_bonus", badge=badge_name(badge=badge))


@lru_cache(maxsize=256)
def _badge_named(name: str) -> tuple[str, int]:
    """The rule and threshold of the badge whose English name is `name` (ValueError: none), by naming candidates."""
    number = re.fullmatch(r"\D*(\d+)\D*", name)
    counts = (1,) if number is None else (int(number[1]), 12 * int(number[1]))  # months: 12 per year named
    with translation.override("en"):
        for rule in Badge.Rule.values:
            for count in counts:
                if badge_name(badge=Badge(rule=rule, threshold=count)) == name:
                    return rule, count
    raise ValueError(f"not a badge's name: {name!r}")


def badge_name_shown(name: str) -> str:
    """A badge's English name (as a bonus memo keeps it) in the reader's language; ValueError when it names none."""
    rule, count = _badge_named(name)
    return badge_name(badge=Badge(rule=rule, threshold=count))
