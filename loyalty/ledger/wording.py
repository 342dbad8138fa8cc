"""How points movements are said, in the reader's language, on every page and in every notification.

One place says "expired" for an expiry and "redeemed" for a redemption, and names the window of every
"expire soon" figure, so the dashboard, the statement and the emails can be read side by side (issue 17, item 10).
"""

from collections.abc import Mapping
from datetime import date, datetime

from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty.ledger.models import EntryKind

# Each kind of movement as a column or row heading: the sums of these, in this order, make the balance.
MOVEMENT_LABELS = {
    EntryKind.EARN: _("Earned"),
    EntryKind.REDEEM: _("Redeemed"),
    EntryKind.REFUND: _("Refunded"),
    EntryKind.EXPIRE: _("Expired"),
    EntryKind.ADJUST: _("Adjusted"),
    EntryKind.REVERSE: _("Reversed"),
}


def signed_points(points: int) -> str:
    """+1,200 / −300 / 0, grouped the reader's way, with a true minus sign."""
    if points > 0:
        return f"+{intcomma(points)}"
    if points < 0:
        return f"\u2212{intcomma(-points)}"
    return "0"


def _day(moment: date | datetime) -> str:
    if isinstance(moment, datetime):
        moment = timezone.localtime(moment).date()
    return date_format(moment, "DATE_FORMAT")


def points_expiring_sentence(*, points: int, first_expiry: date | datetime | None, within_days: int) -> str:
    """'1,500 points expire in the next 90 days (the first on 3 January 2027).' — always naming the window."""
    if not points or first_expiry is None:
        return ngettext(
            "No points expire in the next %(days)s day.", "No points expire in the next %(days)s days.", within_days
        ) % {"days": within_days}
    return ngettext(
        "%(points)s point expires in the next %(days)s days (the first on %(day)s).",
        "%(points)s points expire in the next %(days)s days (the first on %(day)s).",
        points,
    ) % {"points": intcomma(points), "days": within_days, "day": _day(first_expiry)}


# What happened to the points in a period, one phrase per kind of movement (a sign never has to be read).
_PHRASES = {
    EntryKind.EARN: lambda points: gettext("%(points)s earned") % {"points": intcomma(points)},
    EntryKind.REDEEM: lambda points: gettext("%(points)s redeemed") % {"points": intcomma(-points)},
    EntryKind.REFUND: lambda points: gettext("%(points)s refunded") % {"points": intcomma(points)},
    EntryKind.EXPIRE: lambda points: gettext("%(points)s expired") % {"points": intcomma(-points)},
    EntryKind.ADJUST: lambda points: gettext("%(points)s adjusted") % {"points": signed_points(points)},
    EntryKind.REVERSE: lambda points: gettext("%(points)s reversed") % {"points": signed_points(points)},
}


def points_month_sentence(*, month: date, movements: Mapping[str, int], balance: int) -> str:
    """'In November 2026: 1,000 earned, 500 redeemed, 200 expired. Your balance is 4,300 points.'

    Every kind that moved, by its own name (an expiry is never "used").
    """
    phrases = [_PHRASES[kind](movements[kind]) for kind in MOVEMENT_LABELS if movements.get(kind)]
    month_text = date_format(month, "YEAR_MONTH_FORMAT")
    if phrases:
        moved = gettext("In %(month)s: %(movements)s.") % {"month": month_text, "movements": ", ".join(phrases)}
    else:
        moved = gettext("In %(month)s no points moved.") % {"month": month_text}
    balance_text = gettext("Your balance is %(points)s points.") % {"points": intcomma(balance)}
    return f"{moved} {balance_text}"
