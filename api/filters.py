"""Filters of the API's lists (django-filter): by the ids integrators know (external ids, SKUs) and by time.

Every filter is declared: django-filter would otherwise resolve model fields through the default manager at
import time, which the tenant scoping refuses (no tenant is active then).
"""

from datetime import UTC, datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from drf_spectacular.drainage import set_override

from deals.models import DealRegistration
from loyalty.inputs import ascii_whole_number
from loyalty.ledger.models import EntryKind, LedgerEntry
from partners.models import Activity, ActivityKind, ExchangeRate, Partner
from rewards.models import Redemption, Reward

PARTNER_HELP = "The partner's external_id."
MAX_ID = 2**63 - 1


class AsciiIntegerField(forms.IntegerField):
    """Django's IntegerField, but only the digits 0-9: `int()` would read "٣" as 3 (issue 17, item 29)."""

    def to_python(self, value: object) -> int | None:
        if isinstance(value, str) and value.strip() and ascii_whole_number(value.strip().removeprefix("-")) is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class IntegerFilter(django_filters.NumberFilter):
    """A whole number within bounds (an id, a points cost): out-of-range values are refused, never sent to the
    database, and the schema states the bounds."""

    field_class = AsciiIntegerField

    def __init__(self, *, minimum: int, maximum: int, **kwargs: object) -> None:
        super().__init__(min_value=minimum, max_value=maximum, **kwargs)
        set_override(self, "field", {"type": "integer", "minimum": minimum, "maximum": maximum})


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, turned into UTC here: PostgreSQL refuses offsets beyond ±15:59 that ISO allows."""

    def to_python(self, value: object) -> datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError as error:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from error


class MomentFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class StrictFilterSet(django_filters.FilterSet):
    """An empty value for a typed filter (date, number, choice) is an error rather than "no filter": the schema
    says what a valid value is, and a client sending `occurred_before=` has a bug worth hearing about."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name, field_filter in self.filters.items():
            if not isinstance(field_filter, django_filters.CharFilter) and self.data.get(name) == "":
                self.form.add_error(name, "Give a value, or leave the parameter out.")
                valid = False
        return valid


class PartnerFilter(StrictFilterSet):
    external_id = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=Partner.Status.choices)
    partner_type = django_filters.CharFilter(field_name="partner_type__code", help_text="Partner type code.")
    region = django_filters.CharFilter()
    segment = django_filters.CharFilter()

    class Meta:
        model = Partner
        fields: list[str] = []


class ActivityFilter(StrictFilterSet):
    partner = django_filters.CharFilter(field_name="partner__external_id", help_text=PARTNER_HELP)
    kind = django_filters.ChoiceFilter(choices=ActivityKind.choices)
    status = django_filters.ChoiceFilter(choices=Activity.Status.choices)
    source = django_filters.ChoiceFilter(choices=Activity.Source.choices)
    external_id = django_filters.CharFilter()
    occurred_after = MomentFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = MomentFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Activity
        fields: list[str] = []


class LedgerEntryFilter(StrictFilterSet):
    partner = django_filters.CharFilter(field_name="account__partner__external_id", help_text=PARTNER_HELP)
    kind = django_filters.ChoiceFilter(choices=EntryKind.choices)
    activity = IntegerFilter(field_name="activity_id", minimum=1, maximum=MAX_ID, help_text="Caused by this activity.")
    redemption = IntegerFilter(field_name="redemption_id", minimum=1, maximum=MAX_ID, help_text="Of this redemption.")
    effective_after = MomentFilter(field_name="effective_at", lookup_expr="gte")
    effective_before = MomentFilter(field_name="effective_at", lookup_expr="lt")
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = LedgerEntry
        fields: list[str] = []


class RewardFilter(StrictFilterSet):
    sku = django_filters.CharFilter()
    kind = django_filters.ChoiceFilter(choices=Reward.Kind.choices)
    status = django_filters.ChoiceFilter(choices=Reward.Status.choices)
    fulfilment = django_filters.ChoiceFilter(choices=Reward.Fulfilment.choices)
    points_cost_max = IntegerFilter(field_name="points_cost", lookup_expr="lte", minimum=0, maximum=2**31 - 1)

    class Meta:
        model = Reward
        fields: list[str] = []


class DealFilter(StrictFilterSet):
    partner = django_filters.CharFilter(field_name="partner__external_id", help_text=PARTNER_HELP)
    external_id = django_filters.CharFilter(help_text="The opportunity's id in the CRM.")
    status = django_filters.ChoiceFilter(choices=DealRegistration.Status.choices)
    updated_after = MomentFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = DealRegistration
        fields: list[str] = []


class ExchangeRateFilter(StrictFilterSet):
    currency = django_filters.CharFilter(help_text="ISO 4217 code, e.g. EUR.", method="currency_filter")
    day_from = django_filters.DateFilter(field_name="day", lookup_expr="gte", help_text="First day, inclusive.")
    day_until = django_filters.DateFilter(field_name="day", lookup_expr="lte", help_text="Last day, inclusive.")

    class Meta:
        model = ExchangeRate
        fields: list[str] = []

    def currency_filter(self, rows: QuerySet, name: str, value: str) -> QuerySet:
        return rows.filter(currency=value.strip().upper())


class RedemptionFilter(StrictFilterSet):
    partner = django_filters.CharFilter(field_name="partner__external_id", help_text=PARTNER_HELP)
    reward = django_filters.CharFilter(field_name="reward__sku", help_text="The reward's SKU.")
    status = django_filters.ChoiceFilter(choices=Redemption.Status.choices)
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Redemption
        fields: list[str] = []
