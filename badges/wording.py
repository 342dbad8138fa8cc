"""Badges in words, in the reader's language, from the rule and its threshold (staff type no label to translate)."""

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from badges.models import Badge


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
