"""Filters of the API's lists (django-filter): by the ids integrators know (external ids, SKUs) and by time.

Every filter is declared: django-filter would otherwise resolve model fields through the default manager at
import time, which the tenant scoping refuses (no tenant is active then).
"""

import django_filters

from loyalty.ledger.models import EntryKind, LedgerEntry
from partners.models import Activity, ActivityKind, Partner
from rewards.models import Redemption, Reward

PARTNER_HELP = "The partner's external_id."


class PartnerFilter(django_filters.FilterSet):
    external_id = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=Partner.Status.choices)
    partner_type = django_filters.CharFilter(field_name="partner_type__code", help_text="Partner type code.")
    region = django_filters.CharFilter()
    segment = django_filters.CharFilter()

    class Meta:
        model = Partner
        fields: list[str] = []


class ActivityFilter(django_filters.FilterSet):
    partner = django_filters.CharFilter(field_name="partner__external_id", help_text=PARTNER_HELP)
    kind = django_filters.ChoiceFilter(choices=ActivityKind.choices)
    status = django_filters.ChoiceFilter(choices=Activity.Status.choices)
    source = django_filters.ChoiceFilter(choices=Activity.Source.choices)
    external_id = django_filters.CharFilter()
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Activity
        fields: list[str] = []


class LedgerEntryFilter(django_filters.FilterSet):
    partner = django_filters.CharFilter(field_name="account__partner__external_id", help_text=PARTNER_HELP)
    kind = django_filters.ChoiceFilter(choices=EntryKind.choices)
    activity = django_filters.NumberFilter(field_name="activity_id", help_text="Entries caused by this activity.")
    redemption = django_filters.NumberFilter(field_name="redemption_id", help_text="Entries of this redemption.")
    effective_after = django_filters.IsoDateTimeFilter(field_name="effective_at", lookup_expr="gte")
    effective_before = django_filters.IsoDateTimeFilter(field_name="effective_at", lookup_expr="lt")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = LedgerEntry
        fields: list[str] = []


class RewardFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter()
    kind = django_filters.ChoiceFilter(choices=Reward.Kind.choices)
    status = django_filters.ChoiceFilter(choices=Reward.Status.choices)
    fulfilment = django_filters.ChoiceFilter(choices=Reward.Fulfilment.choices)
    points_cost_max = django_filters.NumberFilter(field_name="points_cost", lookup_expr="lte")

    class Meta:
        model = Reward
        fields: list[str] = []


class RedemptionFilter(django_filters.FilterSet):
    partner = django_filters.CharFilter(field_name="partner__external_id", help_text=PARTNER_HELP)
    reward = django_filters.CharFilter(field_name="reward__sku", help_text="The reward's SKU.")
    status = django_filters.ChoiceFilter(choices=Redemption.Status.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Redemption
        fields: list[str] = []
