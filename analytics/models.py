"""The nightly rollup the analytics read for closed months: a partner's running totals per month, and its freshness."""

from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loyalty.tenancy.models import TenantOwnedModel
from partners.models import ActivityKind, Partner

# The per-kind count column of each activity kind (a new kind needs its column: tests/analytics check the map).
KIND_COLUMNS = {
    ActivityKind.SALE: "sales_count",
    ActivityKind.DEAL_REGISTRATION: "deal_registrations",
    ActivityKind.TRAINING: "trainings",
    ActivityKind.CERTIFICATION: "certifications",
    ActivityKind.MARKETING: "marketing",
    ActivityKind.REFERRAL: "referrals",
    ActivityKind.CUSTOM: "customs",
}


class PartnerMonth(TenantOwnedModel):
    """A partner's approved activities from its first one up to the end of one calendar month of the tenant's time
    zone (running totals), as of the last refresh.

    Every month from the partner's first approved activity to the last closed month has a row, with or without
    activity that month, so a period's sums are two rows' difference (the month before it and its last month).
    Written only by `analytics.services` (`INSERT … SELECT` with window sums), read only by `analytics.selectors`;
    docs/analytics.md says when it is fresh.
    """

    # Looked up through partner_month_unique, which leads with the tenant.
    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="+", db_index=False, verbose_name=_("partner")
    )
    month = models.DateField(help_text=_("The month's first day, in the tenant's time zone."), verbose_name=_("month"))
    # Every count and sum is up to and including the month.
    activities = models.PositiveIntegerField(verbose_name=_("activities"))
    # Σ amount_converted of the approved sales (the program's currency, docs/currencies.md).
    sales = models.DecimalField(max_digits=18, decimal_places=2, verbose_name=_("sales"))
    sales_count = models.PositiveIntegerField(verbose_name=_("sales count"))
    deal_registrations = models.PositiveIntegerField(verbose_name=_("deal registrations"))
    trainings = models.PositiveIntegerField(verbose_name=_("trainings"))
    certifications = models.PositiveIntegerField(verbose_name=_("certifications"))
    marketing = models.PositiveIntegerField(verbose_name=_("marketing"))
    referrals = models.PositiveIntegerField(verbose_name=_("referrals"))
    customs = models.PositiveIntegerField(verbose_name=_("customs"))
    # The last approved activity up to the month's end.
    last_occurred_at = models.DateTimeField(verbose_name=_("last occurred at"))
    refreshed_at = models.DateTimeField(verbose_name=_("refreshed at"))  # the refresh that wrote the row

    class Meta:
        verbose_name = _("partner month")
        verbose_name_plural = _("partner months")
        constraints = [
            # The page reads one month of every partner, in partner order (to merge with the partners): with every
            # column included, PostgreSQL answers from the index alone.
            models.UniqueConstraint(
                fields=["tenant", "month", "partner"],
                include=["activities", "sales", *KIND_COLUMNS.values(), "last_occurred_at"],
                name="partner_month_unique",
            ),
            models.CheckConstraint(condition=Q(activities__gt=0), name="partner_month_has_activities"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.month:%Y-%m}: {self.activities}"


class RollupState(TenantOwnedModel):
    """How far the tenant's rollup goes: months before `covered_until` are in it, as of `refreshed_at`."""

    covered_until = models.DateField(
        help_text=_("First day of the first month not in the rollup (the open month)."), verbose_name=_("covered until")
    )
    time_zone = models.CharField(
        max_length=64, help_text=_("The time zone the months were cut in."), verbose_name=_("time zone")
    )
    refreshed_at = models.DateTimeField(
        help_text=_("When the last refresh started: later changes are not in it."), verbose_name=_("refreshed at")
    )
    months_rebuilt = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Empty: every month (a full rebuild)."), verbose_name=_("months rebuilt")
    )
    rows_written = models.PositiveIntegerField(default=0, verbose_name=_("rows written"))
    duration = models.DurationField(
        default=timedelta(0), help_text=_("How long the last refresh took."), verbose_name=_("duration")
    )

    class Meta:
        verbose_name = _("rollup state")
        verbose_name_plural = _("rollup states")
        constraints = [models.UniqueConstraint(fields=["tenant"], name="rollup_state_one_per_tenant")]

    def __str__(self) -> str:
        return f"rollup up to {self.covered_until} as of {self.refreshed_at:%Y-%m-%d %H:%M}"
