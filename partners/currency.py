"""Money in many currencies: dated exchange rates into the program's currency, and the conversion of activities.

An activity keeps its amount in the currency it happened in (`Activity.amount`, `Activity.currency`) and, beside
it, that amount in the program's currency (`Activity.amount_converted`) at the rate of the activity's day in the
program's time zone (`Activity.exchange_rate`). Earning rules "per currency unit", the scorecard's revenue and the
analytics read the converted amount. Amounts are py-moneyed `Money` while they are converted, so two currencies
are never added by mistake; the database keeps plain decimals (set-based sums).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DecimalField, F, Q, Value
from django.db.models.functions import Round
from django.utils import timezone
from django.utils.translation import gettext as _
from moneyed import CURRENCIES, Money

from loyalty.inputs import date_range_message
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from partners.models import Activity, ExchangeRate

CENT = Decimal("0.01")
MAX_RATE = Decimal("9999999999")  # max_digits 18, decimal places 8


def currency_known(code: str) -> bool:
    """An ISO 4217 code py-moneyed knows (its list is maintained with the standard)."""
    return code in CURRENCIES and code != "XXX"


def converted(amount: Decimal, rate: Decimal) -> Decimal:
    """`amount` × `rate`, to the cent, half up (Money keeps the currencies apart while it is computed)."""
    if rate == 1:  # the program's own currency (most activities): the product is the amount; Money costs ~10 µs
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)
    money = Money(amount, "XXX") * rate
    return money.amount.quantize(CENT, rounding=ROUND_HALF_UP)


def rate_day(occurred_at: datetime) -> date:
    """The day whose rate converts an activity: its date in the program's time zone."""
    return timezone.localdate(occurred_at)


def rates_for(pairs: Iterable[tuple[str, date]]) -> dict[tuple[str, date], Decimal]:
    """The rates of these (currency, day) pairs that exist, in one query; the program's currency is always 1."""
    program = current_tenant().currency
    pairs = set(pairs)
    wanted = {(code, day) for code, day in pairs if code != program}
    found: dict[tuple[str, date], Decimal] = {(program, day): Decimal(1) for _code, day in pairs}
    if wanted:
        days_by_code: dict[str, set[date]] = {}
        for code, day in wanted:
            days_by_code.setdefault(code, set()).add(day)
        match = Q()
        for code, days in days_by_code.items():
            match |= Q(currency=code, day__in=days)
        for code, day, rate in ExchangeRate.objects.filter(match).values_list("currency", "day", "rate"):
            found[(code, day)] = rate
    return found


def missing_rate_message(code: str, day: date) -> str:
    """The error naming the missing rate."""
    return _(
        "No exchange rate from %(currency)s to %(program)s for %(day)s: enter it under Exchange rates, then send "
        "the activity again."
    ) % {"currency": code, "program": current_tenant().currency, "day": day.isoformat()}


def currency_errors(*, currency: str, occurred_at: datetime | None, rates: dict | None = None) -> str:
    """Why an amount in `currency` on that day cannot be converted ("" when it can); `rates` from `rates_for`."""
    program = current_tenant().currency
    if currency == program:
        return ""
    if not currency_known(currency):
        return _("Unknown currency %(given)r: give a three-letter ISO 4217 code, like %(program)s.") % {
            "given": currency,
            "program": program,
        }
    if occurred_at is None:
        return ""
    day = rate_day(occurred_at)
    if (currency, day) not in (rates if rates is not None else rates_for([(currency, day)])):
        return missing_rate_message(currency, day)
    return ""


@dataclass(frozen=True)
class Conversion:
    amount_converted: Decimal | None
    exchange_rate: Decimal | None


def activity_conversion(
    *, amount: Decimal | None, currency: str, occurred_at: datetime, rates: dict | None = None, day: date | None = None
) -> Conversion:
    """The amount in the program's currency at the rate of the activity's day (None without an amount); `day`,
    that day (`rate_day`), when the caller has it already.

    Call after validation (`currency_errors`): a missing rate raises KeyError.
    """
    if amount is None:
        return Conversion(None, None)
    key = (currency, day or rate_day(occurred_at))
    rate = (rates if rates is not None else rates_for([key]))[key]
    return Conversion(converted(amount, rate), rate)


@dataclass(frozen=True)
class RateChange:
    rate: ExchangeRate
    created: bool
    previous: Decimal | None
    activities: int  # activities re-converted
    partners: list[int]  # partners whose approved activities changed: re-scored


def rate_errors(*, currency: str, day: date | None, rate: Decimal | None) -> dict[str, str]:
    """A message per bad field of a rate (empty when valid)."""
    errors: dict[str, str] = {}
    if currency == current_tenant().currency:
        errors["currency"] = _("The program's own currency needs no rate.")
    elif not currency_known(currency):
        errors["currency"] = _("Unknown currency %(given)r: give a three-letter ISO 4217 code.") % {"given": currency}
    if day is None:
        errors["day"] = _("Give the day of the rate.")
    elif message := date_range_message(day):
        errors["day"] = message
    if rate is None or not rate.is_finite() or rate <= 0 or rate >= MAX_RATE or rate != rate.quantize(Decimal("1e-8")):
        errors["rate"] = _("The rate must be a positive number with at most 8 decimals.")
    return errors


@transaction.atomic
def rate_set(
    *, currency: str, day: date, rate: Decimal, actor: User | None, source: str = ExchangeRate.Source.ADMIN
) -> RateChange:
    """Enter a rate, or correct it; a correction re-converts only the activities of that currency on that day.

    What depends on a rate: the converted amount of the activities in that currency whose day (program time zone)
    is `day` — one UPDATE over them, nothing else. Their partners' tier scores read converted amounts, so the
    partners with an approved one among them are re-scored (on commit). Points already posted stay as they are
    (the ledger is append-only; a correction that should move points is a manual adjustment); activities still
    pending are priced with the corrected amount when approved. Repeating the same rate changes nothing.
    """
    currency = (currency or "").strip().upper()
    errors = rate_errors(currency=currency, day=day, rate=rate)
    if errors:
        raise ValidationError(errors)
    existing = ExchangeRate.objects.select_for_update().filter(currency=currency, day=day).first()
    previous = existing.rate if existing else None
    if existing is None:
        existing = ExchangeRate.objects.create(
            currency=currency, day=day, rate=rate, source=source, updated_by=actor, updated_at=timezone.now()
        )
    elif existing.rate != rate:
        existing.rate, existing.source, existing.updated_by, existing.updated_at = rate, source, actor, timezone.now()
        existing.save(update_fields=["rate", "source", "updated_by", "updated_at"])
    else:
        return RateChange(existing, False, previous, 0, [])
    start, end = _day_bounds(day)
    affected = Activity.objects.filter(
        currency=currency, amount__isnull=False, occurred_at__gte=start, occurred_at__lt=end
    )
    partners = sorted(
        set(affected.filter(status=Activity.Status.APPROVED).values_list("partner_id", flat=True).order_by())
    )
    count = affected.update(
        amount_converted=Round(F("amount") * Value(rate, output_field=DecimalField()), 2), exchange_rate=rate
    )
    return RateChange(existing, previous is None, previous, count, partners)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    """The first moments of `day` and of the next day in the program's time zone."""
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), datetime.min.time()))
    return start, end


MAX_RATE_LINES = 5000


@dataclass(frozen=True)
class RateLine:
    currency: str
    day: date
    rate: Decimal


def rates_parse(text: str) -> list[RateLine]:
    """Rates pasted as CSV, `currency,day,rate` a line (a header line and blank lines are skipped); raises
    ValidationError naming every bad line, so that nothing is imported unless everything is right."""
    import csv

    lines: list[RateLine] = []
    problems: list[str] = []
    rows = list(csv.reader(text.splitlines()))
    if len(rows) > MAX_RATE_LINES:
        raise ValidationError(_("At most %(count)s lines at a time.") % {"count": MAX_RATE_LINES})
    for number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or (number == 1 and cells and cells[0].lower() == "currency"):
            continue
        if len(cells) != 3:  # noqa: PLR2004 - currency, day, rate
            problems.append(_("Line %(number)s: give currency,day,rate.") % {"number": number})
            continue
        code = cells[0].upper()
        try:
            day = date.fromisoformat(cells[1])
        except ValueError:
            day = None
        try:
            rate = Decimal(cells[2])
        except ArithmeticError:
            rate = None
        errors = rate_errors(currency=code, day=day, rate=rate)
        if day is None:
            errors["day"] = _("Give the day as YYYY-MM-DD.")
        if errors:
            problems.append(_("Line %(number)s: %(errors)s") % {"number": number, "errors": " ".join(errors.values())})
        else:
            lines.append(RateLine(code, day, rate))
    if problems:
        raise ValidationError(problems)
    if not lines:
        raise ValidationError(_("No rates in the text."))
    return lines
