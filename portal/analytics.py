"""Program analytics for program managers and owners: filters, then each figure as a chart, a table and a CSV."""

from datetime import timedelta

from django import forms
from django.contrib.humanize.templatetags.humanize import intcomma
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from analytics.selectors import (
    DOWN,
    STAYED,
    UP,
    ActivityAge,
    Filters,
    filter_choices,
    incentive_cost_by_tier,
    period_figures,
    rollup_freshness,
    tier_progression_by_month,
)
from loyalty.exports import csv_download, csv_text
from loyalty.inputs import EARLIEST_DATE, LATEST_DATE, ReaderDateInput
from loyalty.replica import reads_from_replica
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import PROGRAM_ROLES, Role, User
from loyalty.tenancy.permissions import membership_required
from partners.models import PartnerType
from portal.charts import grouped_bars

program_staff_required = membership_required(*sorted(PROGRAM_ROLES))
PERIODS = (90, 180, 365)
DEFAULT_PERIOD = 365
DATE_INPUT = ReaderDateInput()
MAX_DAYS = 3 * 366
ENGAGEMENT_ROW, ENGAGEMENT_BAR = 20, 160  # px per kind; px of a 100 % bar (after a 150 px label column)
MAX_LABELS = 6  # month labels under a 360 px chart; more months label every n-th, so that none overlap


class AnalyticsFilterForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=DATE_INPUT)
    end = forms.DateField(label=_("To"), required=False, widget=DATE_INPUT)
    partner_type = forms.ModelChoiceField(label=_("Partner type"), queryset=PartnerType.objects.none(), required=False)
    region = forms.ChoiceField(label=_("Region"), required=False)
    tier = forms.ChoiceField(label=_("Tier"), required=False)
    account_manager = forms.ModelChoiceField(label=_("Account manager"), queryset=User.objects.none(), required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = filter_choices()
        everyone = [("", gettext("All"))]
        self.fields["partner_type"].queryset = PartnerType.objects.order_by("name")
        self.fields["partner_type"].empty_label = gettext("All")
        self.fields["region"].choices = everyone + [(region, region) for region in choices["regions"]]
        self.fields["tier"].choices = everyone + [(name, name) for name in choices["tiers"]]
        # Users are global: only this program's account managers (the membership carries the tenant).
        self.fields["account_manager"].queryset = (
            User.objects.filter(
                memberships__tenant=current_tenant(),
                memberships__role=Role.ACCOUNT_MANAGER,
                memberships__is_active=True,
            )
            .distinct()
            .order_by("email")
        )
        self.fields["account_manager"].empty_label = gettext("All")
        self.fields["account_manager"].label_from_instance = lambda user: user.email

    def clean(self) -> dict:
        cleaned = super().clean()
        today = timezone.localdate()
        end = cleaned.get("end") or today
        start = cleaned.get("start") or end - timedelta(days=DEFAULT_PERIOD - 1)
        for name, value in (("start", start), ("end", end)):
            if not EARLIEST_DATE <= value <= LATEST_DATE:
                self.add_error(name, _("Enter a date between 1900 and 2199."))
        if self.errors:
            return cleaned
        if start > end:
            self.add_error("start", _("The first day comes before the last."))
        elif (end - start).days >= MAX_DAYS:
            self.add_error("start", _("Show at most three years at a time."))
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(
            start=data["start"],
            end=data["end"],
            partner_type_id=data["partner_type"].pk if data.get("partner_type") else None,
            region=data.get("region") or "",
            tier_name=data.get("tier") or "",
            account_manager_id=data["account_manager"].pk if data.get("account_manager") else None,
        )


def _form(request: HttpRequest) -> tuple[AnalyticsFilterForm, Filters]:
    form = AnalyticsFilterForm(request.GET)
    if form.is_valid():
        return form, form.filters()
    today = timezone.localdate()
    return form, Filters(start=today - timedelta(days=DEFAULT_PERIOD - 1), end=today)


def _tier_label(name: str) -> str:
    return name or gettext("No tier")


def _age_label(age: ActivityAge) -> str:
    if age.lowest is None:
        return gettext("Never")
    if age.highest is None:
        return gettext("Over a year")
    return gettext("%(lowest)s–%(highest)s days") % {"lowest": age.lowest, "highest": age.highest}


def _age_short(age: ActivityAge) -> str:
    """A bucket under a 360 px chart: days only ("31–90"), so that six labels fit side by side."""
    if age.lowest is None:
        return gettext("Never")
    return f"{age.lowest}–{age.highest}" if age.highest is not None else f"{age.lowest}+"


def _movement_label(movement: str) -> str:
    return {UP: gettext("Moved up"), STAYED: gettext("Stayed"), DOWN: gettext("Moved down")}[movement]


def _figures(filters: Filters) -> dict:
    """Every figure's rows, already in words and numbers a table and a CSV can print."""
    freshness = rollup_freshness()
    period = period_figures(filters, freshness)
    return {
        "freshness": freshness,
        "retention": period.retention,
        "by_tier": period.by_tier,
        "by_movement": period.by_movement,
        "cost": incentive_cost_by_tier(filters, period.sales_by_tier),
        "progression": tier_progression_by_month(filters),
        "engagement": period.engagement,
        "upgrades": period.upgrades,
        "activity_age": period.activity_age,
    }


def _tables(figures: dict, currency: str) -> dict[str, tuple[list[str], list[list]]]:
    """Each figure as (header, rows): what the page's table fallback shows and what its CSV holds."""
    spread_header = [
        gettext("Partners"),
        gettext("Lower quartile"),
        gettext("Median"),
        gettext("Upper quartile"),
        gettext("Mean"),
        gettext("Total"),
        gettext("Currency"),
    ]
    return {
        "retention": (
            [gettext("Joined in"), gettext("Partners"), gettext("Active"), gettext("Retention %"), gettext("Churn %")],
            [
                [row.month.strftime("%Y-%m"), row.partners, row.active, row.retention, row.churn]
                for row in figures["retention"]
            ],
        ),
        "sales_by_tier": (
            [gettext("Tier"), *spread_header],
            [
                [
                    _tier_label(row.group),
                    row.partners,
                    row.lower_quartile,
                    row.median,
                    row.upper_quartile,
                    row.mean,
                    row.total,
                    currency,
                ]
                for row in figures["by_tier"]
            ],  # fmt: skip
        ),
        "sales_by_movement": (
            [gettext("Tier movement"), *spread_header],
            [
                [
                    _movement_label(row.group),
                    row.partners,
                    row.lower_quartile,
                    row.median,
                    row.upper_quartile,
                    row.mean,
                    row.total,
                    currency,
                ]
                for row in figures["by_movement"]
            ],  # fmt: skip
        ),
        "incentive_cost": (
            [
                gettext("Tier"),
                gettext("Sales"),
                gettext("Points issued"),
                gettext("Points value"),
                gettext("Funds paid"),
                gettext("Incentive cost"),
                gettext("Cost per unit of sales"),
                gettext("Currency"),
            ],
            [
                [
                    _tier_label(row.tier),
                    row.sales,
                    row.points,
                    row.points_value,
                    row.funds_paid,
                    row.cost,
                    row.cost_per_unit,
                    currency,
                ]
                for row in figures["cost"]
            ],  # fmt: skip
        ),
        "tier_progression": (
            [gettext("Month"), gettext("Moved up"), gettext("Moved down")],
            [[row.month.strftime("%Y-%m"), row.up, row.down] for row in figures["progression"]],
        ),
        "engagement": (
            [gettext("Activity"), gettext("Partners with one"), gettext("Of"), gettext("Share %")],
            [[row.label, row.partners, row.of, row.share] for row in figures["engagement"]],
        ),
        "time_to_upgrade": (
            [
                gettext("Joined in"),
                gettext("Partners"),
                gettext("Upgraded"),
                gettext("Days, lower quartile"),
                gettext("Days, median"),
                gettext("Days, upper quartile"),
            ],
            [
                [
                    row.month.strftime("%Y-%m"),
                    row.partners,
                    row.upgraded,
                    row.lower_quartile,
                    row.median,
                    row.upper_quartile,
                ]
                for row in figures["upgrades"]
            ],  # fmt: skip
        ),
        "last_activity": (
            [gettext("Last approved activity"), gettext("Partners"), gettext("Of"), gettext("Share %")],
            [[_age_label(row), row.partners, row.of, row.share] for row in figures["activity_age"]],
        ),
    }


def month_labels(months: list) -> list[str]:
    """Short labels under a chart's bars ("Jan 26"): at most six, every n-th month, so that none overlap."""
    step = -(-len(months) // MAX_LABELS)
    return [date_format(month, "M y") if index % step == 0 else "" for index, month in enumerate(months)]


def _charts(figures: dict) -> dict:
    retention = list(
        zip(
            month_labels([row.month for row in figures["retention"]]),
            [(row.retention or 0,) for row in figures["retention"]],
            strict=True,
        )
    )
    progression = list(
        zip(
            month_labels([row.month for row in figures["progression"]]),
            [(row.up, row.down) for row in figures["progression"]],
            strict=True,
        )
    )
    return {
        "retention_chart": grouped_bars(retention),
        "retention_desc": "; ".join(
            f"{date_format(row.month, 'M Y')}: {row.retention or 0} %" for row in figures["retention"]
        ),
        "median_chart": grouped_bars(
            [
                (_tier_label(row.group), (row.lower_quartile, row.median, row.upper_quartile))
                for row in figures["by_tier"]
            ]
        ),
        "median_desc": "; ".join(f"{_tier_label(row.group)}: {intcomma(row.median)}" for row in figures["by_tier"]),
        "cost_chart": grouped_bars(
            [(_tier_label(row.tier), (row.cost_per_unit * 100 if row.cost_per_unit else 0,)) for row in figures["cost"]]
        ),
        "cost_desc": "; ".join(
            f"{_tier_label(row.tier)}: {row.cost_per_unit if row.cost_per_unit is not None else '—'}"
            for row in figures["cost"]
        ),
        "progression_chart": grouped_bars(progression),
        "progression_desc": "; ".join(
            f"{date_format(row.month, 'M Y')}: +{row.up} −{row.down}" for row in figures["progression"]
        ),
        "engagement_bars": [
            {
                "y": index * ENGAGEMENT_ROW,
                "label": row.label,
                "share": row.share or 0,
                "width": float(row.share or 0) / 100 * ENGAGEMENT_BAR,
                "text_x": 154 + float(row.share or 0) / 100 * ENGAGEMENT_BAR,
            }
            for index, row in enumerate(figures["engagement"])
        ],
        "engagement_height": len(figures["engagement"]) * ENGAGEMENT_ROW,
        "engagement_desc": "; ".join(f"{row.label}: {row.share or 0} %" for row in figures["engagement"]),
        "upgrade_chart": grouped_bars(
            list(
                zip(
                    month_labels([row.month for row in figures["upgrades"]]),
                    [(row.median or 0,) for row in figures["upgrades"]],
                    strict=True,
                )
            )
        ),
        "upgrade_desc": "; ".join(
            f"{date_format(row.month, 'M Y')}: {row.median if row.median is not None else '—'}"
            for row in figures["upgrades"]
        ),
        # No chart of empty bars when nobody in the selection has upgraded yet: the table says so.
        "upgrade_timed": any(row.median is not None for row in figures["upgrades"]),
        "age_chart": grouped_bars([(_age_short(row), (row.share or 0,)) for row in figures["activity_age"]]),
        "age_desc": "; ".join(f"{_age_label(row)}: {row.share or 0} %" for row in figures["activity_age"]),
    }


@program_staff_required
@reads_from_replica
def analytics_home(request: HttpRequest) -> HttpResponse:
    """What the program returns over a period, for the partners the filters select."""
    form, filters = _form(request)
    figures = _figures(filters)
    context = {
        "form": form,
        "filters": filters,
        "figures": figures,
        "tables": _tables(figures, request.tenant.currency),
        "query": request.GET.urlencode(),
        "quartile_series": [gettext("Lower quartile"), gettext("Median"), gettext("Upper quartile")],
        "progression_series": [gettext("Moved up"), gettext("Moved down")],
    } | _charts(figures)
    return render(request, "portal/analytics/home.html", context, status=200 if form.is_valid() else 400)


@program_staff_required
@reads_from_replica
def analytics_csv(request: HttpRequest, figure: str) -> HttpResponse:
    """One figure's table as CSV, for the same filters."""
    form, filters = _form(request)
    if not form.is_valid():
        return analytics_home(request)
    tables = _tables(_figures(filters), request.tenant.currency)
    if figure not in tables:
        raise Http404
    header, rows = tables[figure]
    return csv_download(csv_text(header, rows), filename=f"{figure}-{filters.start}-to-{filters.end}.csv")
