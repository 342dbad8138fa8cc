"""Money in the reader's language, the same on every page, email and export of every app."""

import re
from decimal import ROUND_CEILING, Decimal

from babel import Locale
from babel.numbers import get_currency_symbol
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import formats
from django.utils.translation import get_language, to_locale


def money(amount: Decimal | str, currency: str) -> str:
    """Whole units in the active language: $12,400 or 12,400 SEK in English, 12.400 US$ or 12.400 SEK in Spanish.

    Babel (CLDR) knows each language's symbol and where it goes; the digits are grouped by Django's formats,
    like every other number on the page, so that "12.400 US$" and "12.400 puntos" read alike.
    """
    whole = intcomma(int(Decimal(amount).to_integral_value(rounding=ROUND_CEILING)))
    locale = Locale.parse(to_locale(get_language() or settings.LANGUAGE_CODE))
    symbol = get_currency_symbol(currency, locale)
    if symbol == currency:  # no symbol in this language: the code follows the number, as codes are read
        return f"{whole} {currency}"
    pattern = locale.currency_formats["standard"].pattern.split(";")[0]  # "¤#,##0.00" or "#,##0.00 ¤"
    return re.sub(r"[#0,.]+", whole, pattern, count=1).replace("¤", symbol)


def money_exact(amount: Decimal | str, currency: str) -> str:
    """To the cent, for money that is paid (funds, rebates, credit notes): $1,240.50, 1.240,50 US$ in Spanish.

    Same symbol and placement as `money`; the digits are Django's, grouped, with two decimals.
    """
    value = Decimal(amount).quantize(Decimal("0.01"))
    digits = formats.number_format(value, decimal_pos=2, use_l10n=True, force_grouping=True)
    locale = Locale.parse(to_locale(get_language() or settings.LANGUAGE_CODE))
    symbol = get_currency_symbol(currency, locale)
    if symbol == currency:
        return f"{digits} {currency}"
    pattern = locale.currency_formats["standard"].pattern.split(";")[0]
    return re.sub(r"[#0,.]+", lambda _match: digits, pattern, count=1).replace("¤", symbol)
