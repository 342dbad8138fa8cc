"""The registrations a partner's scorecard counts (`deal_registrations`), added to the metric by tiers/metrics.py.

Wired in settings.TIERLINE_METRIC_SOURCES: tiers calls this without importing deals. The program chooses what counts
(`DealSettings.scorecard_counts`): registrations approved in the window (whatever became of them later: won, lost
or expired, they were protected opportunities), or registrations won in the window. Deal registration activities
sent by CRMs (the API, CSV) keep counting as before; the two add up.
"""

from decimal import Decimal

from django.db.models import Count, Exists, Q

from deals.models import DealRegistration, DealSettings
from tiers.metrics import Window, rows_read


def deal_registrations_by_window(*, partner_ids: list[int], windows: list[Window]) -> list[dict[int, Decimal]]:
    """Registrations counted in each window per partner: one query for every window (the program's choice read in
    a subquery); the nightly run asks for one window, its forecasts for the pace window and the month slices."""
    won_only = Exists(DealSettings.objects.filter(scorecard_counts=DealSettings.Counts.WON))
    annotations = {}
    for number, window in enumerate(windows):
        approved = Q(approved_at__gte=window.start, approved_at__lt=window.end)
        won = Q(status=DealRegistration.Status.WON, closed_at__gte=window.start, closed_at__lt=window.end)
        annotations[f"count_{number}"] = Count("pk", filter=(Q(won_only) & won) | (~Q(won_only) & approved))
    rows = (
        DealRegistration.objects.filter(
            partner_id__in=partner_ids,
            approved_at__isnull=False,
            approved_at__lt=max(window.end for window in windows),
        )
        .values_list("partner_id")
        .annotate(**annotations)
        .order_by()
    )
    results: list[dict[int, Decimal]] = [{} for _window in windows]
    for partner_id, *counts in rows_read(rows):
        for number, count in enumerate(counts):
            if count:
                results[number][partner_id] = Decimal(count)
    return results


def deal_registrations_by_partner(*, partner_ids: list[int], window: Window) -> dict[int, Decimal]:
    """Registrations counted in the window per partner: one query."""
    return deal_registrations_by_window(partner_ids=partner_ids, windows=[window])[0]
