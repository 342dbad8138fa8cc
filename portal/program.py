"""The program dashboard for program managers and owners: participation, redemption, liability, tiers, trends."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dateutil.relativedelta import relativedelta
from django import forms
from django.contrib.humanize.templatetags.humanize import intcomma
from django.db.models import Count, Min, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from enablement.selectors import onboarding_rate
from engagement.selectors import feedback_latest
from loyalty.ledger.selectors import (
    PointsFlow,
    adjustments_waiting,
    points_flow,
    points_flow_by_month,
    points_liability,
)
from loyalty.replica import reads_from_replica
from loyalty.tenancy.models import Role
from loyalty.tenancy.permissions import membership_required
from partners.models import Partner
from partners.selectors import (
    ActivityMonth,
    activity_by_month,
    applications_waiting,
    claims_waiting,
    program_participation,
)
from portal.charts import grouped_bars, line
from rewards.selectors import redemptions_waiting
from tiers.selectors import (
    PartnerHealth,
    TierCount,
    TierMigration,
    partner_health_list,
    tier_distribution,
    tier_migration,
)

PERIODS = (30, 90, 365)
DEFAULT_PERIOD = 90
TREND_MONTHS = 12
SHORTLIST = 10
NO_TIER_COLOUR = "#d1d5db"


class PeriodForm(forms.Form):
    period = forms.TypedChoiceField(
        label=_("Redemption period"),
        # A callable, so that the labels are translated per request (a lazy string's % would run at import).
        choices=lambda: [(days, gettext("Last %(days)s days") % {"days": days}) for days in PERIODS],
        coerce=int,
    )


@dataclass(frozen=True)
class Queue:
    """A review queue on the dashboard: how many wait, since when, and where to work it."""

    label: str
    count: int
    oldest: datetime | None
    link: str


def _queue(label: str, waiting: QuerySet, since: str, link: str) -> Queue:
    totals = waiting.aggregate(count=Count("pk"), oldest=Min(since))
    return Queue(label=label, count=totals["count"], oldest=totals["oldest"], link=link)


def _queues() -> list[Queue]:
    """What waits for the program team, one aggregate query per queue (issue 17, item 20)."""
    return [
        _queue(
            gettext("Claims to review"),
            claims_waiting(),
            "submitted_at",
            "/admin/partners/claim/?status__exact=pending",
        ),
        _queue(
            gettext("Redemptions to approve"),
            redemptions_waiting(),
            "created_at",
            "/admin/rewards/redemption/?status__exact=requested",
        ),
        _queue(
            gettext("Adjustments to approve"),
            adjustments_waiting(),
            "requested_at",
            "/admin/ledger/adjustmentrequest/?status__exact=pending",
        ),
        _queue(
            gettext("Applications to decide"), applications_waiting(), "submitted_at", reverse("portal:applications")
        ),
    ]


@dataclass(frozen=True)
class Month:
    start: date
    flow: PointsFlow
    activity: ActivityMonth


def _months(today: date) -> tuple[datetime, datetime, list[date]]:
    """The last TREND_MONTHS months, this one included, as local midnights and their first days."""
    first = today.replace(day=1) - relativedelta(months=TREND_MONTHS - 1)
    days = [first + relativedelta(months=index) for index in range(TREND_MONTHS)]
    start = timezone.make_aware(datetime.combine(first, time.min))
    end = timezone.make_aware(datetime.combine(today.replace(day=1) + relativedelta(months=1), time.min))
    return start, end, days


def _monthly() -> list[Month]:
    start, end, days = _months(timezone.localdate())
    flows = points_flow_by_month(start=start, end=end)
    activity = activity_by_month(start=start, end=end)
    return [Month(day, flows.get(day, PointsFlow(0, 0)), activity.get(day, ActivityMonth(0, 0))) for day in days]


def _shortlists(health: list[PartnerHealth]) -> tuple[list[PartnerHealth], list[PartnerHealth]]:
    """Closest to the next tier first; at risk: most reasons first, then the steepest fall in score."""
    near = sorted(
        (row for row in health if row.near_upgrade), key=lambda row: (-(row.percent_to_next or 0), row.partner.name)
    )
    risky = sorted(
        (row for row in health if row.at_risk),
        key=lambda row: (-len(row.risks), row.trend if row.trend is not None else 0, row.partner.name),
    )
    return near[:SHORTLIST], risky[:SHORTLIST]


def _distribution(rows: list[TierCount]) -> list[dict]:
    """Each tier's share of the active partners, as segments of a 100-wide bar."""
    total = sum(row.count for row in rows) or 1
    segments, x = [], 0.0
    for row in rows:
        width = row.count * 100 / total
        segments.append(
            {
                "name": row.tier.i18n.name if row.tier else gettext("No tier yet"),
                "colour": row.tier.colour if row.tier else NO_TIER_COLOUR,
                "count": row.count,
                "x": x,
                "width": width,
            }
        )
        x += width
    return segments


def _migration_table(migration: TierMigration) -> dict:
    """The matrix as rows (tier before) of cells (tier after), each cell marked up, down or same."""
    ranks = {tier.pk: tier.rank for tier in migration.tiers}
    sides = [(tier.pk, tier.i18n.name) for tier in migration.tiers]
    before = [*sides, *([(None, gettext("Not scored"))] if any(b is None for b, _a in migration.counts) else [])]
    after = [*sides, *([(None, gettext("Not scored"))] if any(a is None for _b, a in migration.counts) else [])]

    def kind(start: int | None, end: int | None) -> str:
        if start is None or end is None:
            return "other"
        return "same" if ranks[start] == ranks[end] else ("up" if ranks[end] > ranks[start] else "down")

    return {
        "migration_columns": [name for _pk, name in after],
        "migration_rows": [
            {
                "label": name,
                "cells": [
                    {"count": migration.counts.get((start, end), 0), "kind": kind(start, end)} for end, _n in after
                ],
            }
            for start, name in before
        ],
        "migration_up": migration.moved(up=True),
        "migration_down": migration.moved(up=False),
    }


def _descriptions(labels: list[str], months: list[Month]) -> dict[str, str]:
    """What each trend chart shows, month by month, for screen readers."""
    rows = list(zip(labels, months, strict=True))
    return {
        "points_desc": "; ".join(
            gettext("%(month)s: %(earned)s earned, %(redeemed)s redeemed")
            % {"month": label, "earned": intcomma(month.flow.earned), "redeemed": intcomma(month.flow.redeemed)}
            for label, month in rows
        ),
        "partners_desc": "; ".join(f"{label}: {intcomma(month.activity.active_partners)}" for label, month in rows),
        "activities_desc": "; ".join(f"{label}: {intcomma(month.activity.activities)}" for label, month in rows),
    }


@membership_required(Role.PROGRAM_MANAGER, Role.OWNER)
@reads_from_replica
def dashboard(request: HttpRequest) -> HttpResponse:
    """The program at a glance; the redemption rate over the chosen period (30, 90 or 365 days)."""
    form = PeriodForm(request.GET if "period" in request.GET else {"period": DEFAULT_PERIOD})
    period = form.cleaned_data["period"] if form.is_valid() else DEFAULT_PERIOD
    now = timezone.now()
    flow = points_flow(start=now - timedelta(days=period), end=now)
    health = partner_health_list(partners=Partner.objects.all())
    near, risky = _shortlists(health)
    months = _monthly()
    labels = [date_format(month.start, "M") for month in months]
    distribution = tier_distribution()
    migration = tier_migration()
    context = {
        "queues": _queues(),
        "form": form,
        "period": period,
        "participation": program_participation(),
        "flow": flow,
        "liability": points_liability(),
        "point_value": request.tenant.point_value.normalize(),
        "distribution": distribution,
        "distributed": sum(row.count for row in distribution),
        "distribution_segments": _distribution(distribution),
        "migration": migration,
        "near": near,
        "risky": risky,
        "months": months,
        "points_chart": grouped_bars(
            [(label, (month.flow.earned, month.flow.redeemed)) for label, month in zip(labels, months, strict=True)]
        ),
        "partners_chart": line(
            [(label, month.activity.active_partners) for label, month in zip(labels, months, strict=True)]
        ),
        "activities_chart": grouped_bars(
            [(label, (month.activity.activities,)) for label, month in zip(labels, months, strict=True)]
        ),
        "points_series": [gettext("Earned"), gettext("Redeemed")],
        "onboarding": onboarding_rate(),
        "feedback": feedback_latest(),
    }
    context |= _migration_table(migration) | _descriptions(labels, months)
    return render(request, "portal/program/dashboard.html", context, status=200 if form.is_valid() else 400)
