"""The finance page (the finance role, program managers and owners): liability roll-forward, schedule, journal CSV."""

import re
from datetime import date

from dateutil.relativedelta import relativedelta
from django import forms
from django.contrib.humanize.templatetags.humanize import intcomma
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from finance.selectors import (
    ADJUSTED,
    EXPIRED,
    ISSUED,
    MOVEMENT_KINDS,
    REDEEMED,
    LiabilityMonth,
    breakage_estimate,
    credit_notes_by_month,
    journal_for_month,
    liability_by_expiry_month,
    liability_roll_forward,
    redemptions_pending,
    value_of,
)
from loyalty.exports import csv_download, csv_text
from loyalty.inputs import EARLIEST_DATE, LATEST_DATE
from loyalty.ledger.models import EntryKind
from loyalty.tenancy.models import FINANCE_ROLES
from loyalty.tenancy.permissions import membership_required
from portal.analytics import month_labels
from portal.charts import grouped_bars

finance_required = membership_required(*sorted(FINANCE_ROLES))
DEFAULT_MONTHS = 12
MAX_MONTHS = 36
MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")
MONTH_INPUT = forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM", "pattern": r"\d{4}-\d{2}"})


class MonthField(forms.CharField):
    """A calendar month as YYYY-MM (what `<input type="month">` sends), cleaned to its first day."""

    widget = MONTH_INPUT

    def to_python(self, value: str | None) -> date | None:
        text = super().to_python(value)
        if not text:
            return None
        match = MONTH_PATTERN.match(text)
        month = int(match.group(2)) if match else 0
        if not match or not 1 <= month <= 12:  # noqa: PLR2004 - the months of a year
            raise forms.ValidationError(_("Enter a month as YYYY-MM, for example 2026-03."), code="invalid")
        first = date(int(match.group(1)), month, 1)
        if not EARLIEST_DATE <= first <= LATEST_DATE:
            raise forms.ValidationError(_("Enter a month between 1900 and 2199."), code="out_of_range")
        return first


class PeriodForm(forms.Form):
    start = MonthField(label=_("From month"), required=False)
    end = MonthField(label=_("To month"), required=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        this_month = timezone.localdate().replace(day=1)
        end = cleaned.get("end") or this_month
        start = cleaned.get("start") or end - relativedelta(months=DEFAULT_MONTHS - 1)
        if self.errors:
            return cleaned
        if start > end:
            self.add_error("start", _("The first month comes before the last."))
        elif (end.year - start.year) * 12 + end.month - start.month >= MAX_MONTHS:
            self.add_error("start", _("Show at most %(months)s months at a time.") % {"months": MAX_MONTHS})
        cleaned["start"], cleaned["end"] = start, end
        return cleaned


class JournalForm(forms.Form):
    month = MonthField(label=_("Month"))


def _period(request: HttpRequest) -> tuple[PeriodForm, date, date]:
    """The form and the months it asks for; the last 12 months when it is empty or wrong."""
    form = PeriodForm(request.GET)
    this_month = timezone.localdate().replace(day=1)
    if form.is_valid():
        return form, form.cleaned_data["start"], form.cleaned_data["end"]
    return form, this_month - relativedelta(months=DEFAULT_MONTHS - 1), this_month


def _kind_labels() -> list[tuple[str, str]]:
    labels = {
        EntryKind.EARN: gettext("Earned"),
        EntryKind.REVERSE: gettext("Reversed"),
        EntryKind.REDEEM: gettext("Redeemed"),
        EntryKind.REFUND: gettext("Refunded"),
        EntryKind.EXPIRE: gettext("Expired"),
        EntryKind.ADJUST: gettext("Adjusted"),
    }
    return [(kind, labels[kind]) for kind in MOVEMENT_KINDS]


def _rows(months: list[LiabilityMonth]) -> list[dict]:
    return [
        {
            "month": month.month,
            "opening": month.opening,
            "movements": [month.moved(kind) for kind in MOVEMENT_KINDS],
            "closing": month.closing,
        }
        for month in months
    ]


@finance_required
def finance_home(request: HttpRequest) -> HttpResponse:
    """The points liability month by month, its schedule by expiry, breakage, what is pending, the journal."""
    form, start, end = _period(request)
    tenant = request.tenant
    months = liability_roll_forward(first_month=start, last_month=end)
    labels = month_labels([month.month for month in months])
    schedule = liability_by_expiry_month()
    breakage = breakage_estimate()
    context = {
        "form": form,
        "start": start,
        "end": end,
        "kinds": _kind_labels(),
        "rows": _rows(months),
        "totals": {
            "opening": months[0].opening,
            "movements": [sum(month.moved(kind) for month in months) for kind in MOVEMENT_KINDS],
            "closing": months[-1].closing,
        },
        "closing_value": value_of(months[-1].closing, tenant.point_value),
        "opening_value": value_of(months[0].opening, tenant.point_value),
        "point_value": tenant.point_value.normalize(),
        "chart": grouped_bars([(label, (month.closing,)) for label, month in zip(labels, months, strict=True)]),
        "chart_desc": "; ".join(f"{date_format(month.month, 'M Y')}: {intcomma(month.closing)}" for month in months),
        "schedule": schedule,
        "schedule_total": sum(bucket.points for bucket in schedule),
        "this_month": timezone.localdate().replace(day=1),
        "breakage": breakage,
        "breakage_value": value_of(breakage.expected_points or 0, tenant.point_value),
        "pending": redemptions_pending(),
        "credit_notes": credit_notes_by_month(first_month=start, last_month=end),
        "journal_months": [month.month for month in reversed(months)],
    }
    return render(request, "portal/finance/home.html", context, status=200 if form.is_valid() else 400)


@finance_required
def roll_forward_csv(request: HttpRequest) -> HttpResponse:
    """The roll-forward as shown, one row per month, points and their value at today's point value."""
    form, start, end = _period(request)
    if not form.is_valid():
        return finance_home(request)
    tenant = request.tenant
    header = [
        gettext("Month"),
        gettext("Opening"),
        *[label for _kind, label in _kind_labels()],
        gettext("Closing"),
        gettext("Closing value"),
        gettext("Currency"),
    ]
    rows = [
        [
            month.month.strftime("%Y-%m"),
            month.opening,
            *[month.moved(kind) for kind in MOVEMENT_KINDS],
            month.closing,
            value_of(month.closing, tenant.point_value),
            tenant.currency,
        ]
        for month in liability_roll_forward(first_month=start, last_month=end)
    ]
    return csv_download(csv_text(header, rows), filename=f"liability-{start:%Y-%m}-to-{end:%Y-%m}.csv")


@finance_required
def journal_csv(request: HttpRequest) -> HttpResponse:
    """The month's journal: each line a debit row and a credit row of the same amount, so it balances."""
    form = JournalForm(request.GET)
    if not form.is_valid():
        return render(request, "portal/finance/journal_error.html", {"form": form}, status=400)
    month = form.cleaned_data["month"]
    tenant = request.tenant
    posting_date = (month + relativedelta(months=1, days=-1)).isoformat()
    descriptions = {
        ISSUED: gettext("Points issued"),
        ADJUSTED: gettext("Points adjusted"),
        REDEEMED: gettext("Points redeemed: liability released"),
        EXPIRED: gettext("Points expired (breakage): liability released"),
    }
    header = [
        gettext("Date"),
        gettext("Journal line"),
        gettext("Account"),
        gettext("Description"),
        gettext("Debit"),
        gettext("Credit"),
        gettext("Currency"),
        gettext("Points"),
    ]
    rows = []
    for number, line in enumerate(journal_for_month(month=month), start=1):
        description = descriptions[line.bucket]
        rows.append(
            [posting_date, number, line.debit_account, description, line.amount, "", tenant.currency, line.points]
        )
        rows.append(
            [posting_date, number, line.credit_account, description, "", line.amount, tenant.currency, line.points]
        )
    return csv_download(csv_text(header, rows), filename=f"points-journal-{month:%Y-%m}.csv")
