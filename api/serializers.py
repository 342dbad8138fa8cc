"""Shapes of the API's requests and responses. Validation of form only: the services decide what is allowed."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Model, QuerySet
from django_countries import countries
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deals.models import DealRegistration
from loyalty.inputs import date_range_message
from loyalty.ledger.models import AdjustmentRequest, LedgerEntry
from loyalty.ledger.services import ADJUSTMENT_MAX_POINTS
from loyalty.tenancy.models import User
from partners.currency import MAX_RATE_LINES, RateLine, rate_errors
from partners.models import Activity, ActivityKind, ExchangeRate, Partner, PartnerType, account_manager_choices
from rewards.models import Redemption, Reward
from tiers.models import BenefitKind, Criterion, Pathway, Tier, TierBenefit, TierGate, TierModel
from tiers.wording import entitlement_label


def _date_in_range(value: date | datetime) -> None:
    if message := date_range_message(value):
        raise serializers.ValidationError(message)


class DateField(serializers.DateField):
    """A date within the product's range (loyalty/inputs.py): year 0001 or 9999 is a field error."""

    default_validators = [_date_in_range]  # noqa: RUF012 - DRF's own attribute


class DateTimeField(serializers.DateTimeField):
    """ISO 8601 in, within the product's range; RFC 3339 out, always (issue 17, item 28).

    A moment is shown in the current (the program's) time zone unless that zone's offset then was not whole minutes
    (local mean time before standard time: "-04:56:02" is not RFC 3339) or the conversion overflows; then in UTC.
    """

    default_validators = [_date_in_range]  # noqa: RUF012 - DRF's own attribute

    def to_representation(self, value: Any) -> Any:
        if not isinstance(value, datetime):
            return super().to_representation(value)
        try:
            moment = self.enforce_timezone(value)
        except serializers.ValidationError:  # DRF's "overflow" (a moment within hours of year 1 or 9999)
            moment = value
        offset = moment.utcoffset()
        if offset is None or offset % timedelta(minutes=1):
            moment = moment.replace(tzinfo=UTC) if offset is None else moment.astimezone(UTC)
        text = moment.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text


class ModelSerializer(serializers.ModelSerializer):
    """The API's model serializers: dates and moments through the fields above."""

    serializer_field_mapping = {  # noqa: RUF012 - DRF's own attribute
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateField: DateField,
        models.DateTimeField: DateTimeField,
    }


@extend_schema_field(OpenApiTypes.STR)
class ScopedSlugRelatedField(serializers.SlugRelatedField):
    """A slug lookup through the tenant-scoped manager, evaluated per request (never at import)."""

    def __init__(self, model: type[Model], **kwargs: Any) -> None:
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet:
        return self.model.objects.all()


# --- Errors ------------------------------------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=[
            "validation_error",
            "authentication_error",
            "permission_error",
            "not_found",
            "method_not_allowed",
            "not_acceptable",
            "conflict",
            "unsupported_media_type",
            "idempotency_error",
            "rate_limit_error",
            "api_error",
        ]
    )
    code = serializers.CharField(help_text="Machine-readable reason, e.g. `missing_scope`, `idempotency_key_reused`.")
    message = serializers.CharField(help_text="What went wrong, in words for the developer.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors per field (dotted paths for nested fields).",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


# --- Partners ----------------------------------------------------------------------------------------------------


class PartnerSerializer(ModelSerializer):
    partner_type = serializers.SlugRelatedField(slug_field="code", read_only=True)
    account_manager = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = Partner
        fields = [
            "id",
            "external_id",
            "name",
            "partner_type",
            "region",
            "segment",
            "account_manager",
            "joined_at",
            "status",
        ]


class PartnerUpsertSerializer(serializers.Serializer):
    """PUT body: `name` and `partner_type` always; omitted optional fields keep their current value."""

    name = serializers.CharField(max_length=200)
    partner_type = ScopedSlugRelatedField(PartnerType, slug_field="code", help_text="A partner type code.")
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    segment = serializers.CharField(max_length=100, required=False, allow_blank=True)
    account_manager = serializers.EmailField(
        required=False, allow_null=True, help_text="Email of an account manager of the program; null clears it."
    )
    joined_at = DateField(required=False)
    status = serializers.ChoiceField(choices=Partner.Status.choices, required=False)

    def validate_account_manager(self, email: str | None) -> User | None:
        if email is None:
            return None
        manager = User.objects.filter(account_manager_choices(), email__iexact=email).first()
        if manager is None:
            raise serializers.ValidationError("No account manager of this program has that email.")
        return manager


# --- Partner status ----------------------------------------------------------------------------------------------


class TierRefSerializer(ModelSerializer):
    class Meta:
        model = Tier
        fields = ["id", "name", "rank", "minimum_score", "colour"]


class ScoreSerializer(serializers.Serializer):
    value = serializers.DecimalField(max_digits=5, decimal_places=2, source="score")
    evaluated_on = DateField()
    computed_at = DateTimeField()
    source = serializers.CharField()
    tier_model = serializers.IntegerField(source="tier_model_id")
    pathway = serializers.CharField(source="pathway.name", allow_null=True, default=None)
    qualified_tier = TierRefSerializer(allow_null=True)
    breakdown = serializers.ListField(
        child=serializers.DictField(), help_text="Per criterion: label, value, target, weight, contribution."
    )
    gaps = serializers.DictField(help_text="What each criterion alone needs to reach the next tier, and unmet gates.")
    forecast = serializers.DictField(
        help_text="At the pace of the last 90 days: when the next tier is reached (`reaches_on`, null when not within "
        "the horizon), gates still unmet, per criterion the pace and the next roll-off; and `rolloff`: without new "
        "activity, when the score falls below the held tier, to what score, and the tier after the grace period. "
        "A forecast, never a promise (method: docs/forecasts.md)."
    )


class PointsSerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    lifetime_earned = serializers.IntegerField()
    lifetime_redeemed = serializers.IntegerField()
    expiring_soon = serializers.IntegerField(help_text="Points that expire within 90 days.")
    first_expiry = DateTimeField(allow_null=True)


class EntitlementSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=BenefitKind.choices)
    value = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    currency = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
    label = serializers.CharField()


class PartnerStatusSerializer(serializers.Serializer):
    partner = PartnerSerializer()
    tier = TierRefSerializer(allow_null=True)
    tier_since = DateField(allow_null=True)
    next_tier = TierRefSerializer(allow_null=True)
    downgrade_on = DateField(allow_null=True, help_text="When a pending downgrade applies.")
    score = ScoreSerializer(allow_null=True)
    forecast_sentences = serializers.ListField(
        child=serializers.CharField(), help_text="The score's forecast in words, in the request's language."
    )
    points = PointsSerializer()
    entitlements = EntitlementSerializer(
        many=True, help_text="What the current tier grants: typed benefits an ERP can apply (rates in %)."
    )


# --- Activities --------------------------------------------------------------------------------------------------


class ActivitySerializer(ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="external_id", read_only=True)

    class Meta:
        model = Activity
        fields = [
            "id",
            "partner",
            "kind",
            "occurred_at",
            "amount",
            "currency",
            "quantity",
            "product_sku",
            "product_category",
            "code",
            "valid_until",
            "source",
            "external_id",
            "status",
            "metadata",
            "created_at",
        ]


class ActivityRowSerializer(serializers.Serializer):
    """One activity of a bulk request (documentation of the row; each row is checked by the ingestion service)."""

    partner = serializers.CharField(max_length=100, help_text="The partner's external_id.")
    external_id = serializers.CharField(max_length=200, help_text="Your id for the activity: repeats are duplicates.")
    kind = serializers.ChoiceField(choices=ActivityKind.choices)
    occurred_at = DateTimeField(help_text="ISO 8601 with a time zone.")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, required=False, allow_null=True)
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True)
    quantity = serializers.IntegerField(min_value=1, required=False)
    product_sku = serializers.CharField(max_length=100, required=False, allow_blank=True)
    product_category = serializers.CharField(max_length=100, required=False, allow_blank=True)
    code = serializers.CharField(max_length=100, required=False, allow_blank=True)
    valid_until = DateField(required=False, allow_null=True)
    metadata = serializers.DictField(required=False)
    member = serializers.EmailField(
        required=False,
        allow_blank=True,
        help_text="The email of the partner's member credited with it (the team's leaderboard counts it for them).",
    )


class RowListField(serializers.ListField):
    """A list of JSON objects, checked for shape only: the ingestion service checks each row's fields, and running
    a DictField per row costs more than ingesting the row (bench/api_ingest.py)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(child=serializers.DictField(), **kwargs)

    def run_child_validation(self, data: list) -> list:
        message = self.child.error_messages["not_a_dict"]
        errors = {
            index: [message.format(input_type=type(row).__name__)]
            for index, row in enumerate(data)
            if not isinstance(row, dict)
        }
        if errors:
            raise serializers.ValidationError(errors)
        return list(data)


class ActivityBulkSerializer(serializers.Serializer):
    activities = RowListField(min_length=1, max_length=1000)
    approve = serializers.BooleanField(
        default=True, help_text="Approve (and earn points for) each created activity at once; false leaves it pending."
    )


class ActivityBulkRequestSerializer(ActivityBulkSerializer):
    """The documented shape of a bulk request: up to 1,000 rows."""

    activities = serializers.ListField(child=ActivityRowSerializer(), min_length=1, max_length=1000)


class IngestResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the row in the request.")
    external_id = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=["created", "duplicate", "error"])
    activity_id = serializers.IntegerField(allow_null=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ActivityBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = IngestResultSerializer(many=True)


class ActivityReviewSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    reason = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, default="", help_text="Required to reject."
    )

    def validate(self, data: dict) -> dict:
        if data["decision"] == "reject" and not data["reason"].strip():
            raise serializers.ValidationError({"reason": "Say why the activity is rejected."})
        return data


# --- Ledger ------------------------------------------------------------------------------------------------------


class LedgerEntrySerializer(ModelSerializer):
    partner = serializers.CharField(source="account.partner.external_id", read_only=True)
    actor = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "partner",
            "kind",
            "points",
            "balance_after",
            "created_at",
            "effective_at",
            "actor",
            "memo",
            "activity",
            "earning_rule",
            "redemption",
            "reverses",
        ]


class PendingAdjustmentSerializer(ModelSerializer):
    """An adjustment above the program's four-eyes limit: it waits for a second program manager or owner."""

    partner = serializers.CharField(source="account.partner.external_id", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="email", read_only=True)

    class Meta:
        model = AdjustmentRequest
        fields = ["id", "partner", "points", "reason", "status", "requested_by", "requested_at"]


class ActivityReviewResultSerializer(serializers.Serializer):
    activity = ActivitySerializer()
    entries = LedgerEntrySerializer(many=True, help_text="Ledger entries the decision posted (or had posted).")


class AdjustmentSerializer(serializers.Serializer):
    partner = ScopedSlugRelatedField(Partner, slug_field="external_id", help_text="The partner's external_id.")
    points = serializers.IntegerField(
        min_value=-ADJUSTMENT_MAX_POINTS, max_value=ADJUSTMENT_MAX_POINTS, help_text="Signed, not zero."
    )
    reason = serializers.CharField(max_length=1000)

    def validate_points(self, points: int) -> int:
        if points == 0:
            raise serializers.ValidationError("Points must be a whole number other than zero.")
        return points


# --- Exchange rates ----------------------------------------------------------------------------------------------


class ExchangeRateSerializer(ModelSerializer):
    class Meta:
        model = ExchangeRate
        fields = ["id", "currency", "day", "rate", "source", "updated_at"]


class ExchangeRateLineSerializer(serializers.Serializer):
    currency = serializers.CharField(max_length=3, help_text="ISO 4217 code of the foreign currency, e.g. EUR.")
    day = DateField(help_text="The day the rate applies to, in the program's time zone.")
    rate = serializers.DecimalField(
        max_digits=18,
        decimal_places=8,
        help_text="Units of the program's currency for one unit of this currency (EUR→USD 1.08 is 1.08).",
    )

    def validate(self, data: dict) -> RateLine:
        currency = data["currency"].strip().upper()
        if errors := rate_errors(currency=currency, day=data["day"], rate=data["rate"]):
            raise serializers.ValidationError(errors)
        return RateLine(currency, data["day"], data["rate"])


class ExchangeRatesSetSerializer(serializers.Serializer):
    rates = ExchangeRateLineSerializer(many=True, allow_empty=False, max_length=MAX_RATE_LINES)


class ExchangeRateChangeSerializer(serializers.Serializer):
    rate = ExchangeRateSerializer()
    created = serializers.BooleanField(help_text="A new rate, rather than a correction or a repeat.")
    previous = serializers.DecimalField(max_digits=18, decimal_places=8, allow_null=True)
    activities_reconverted = serializers.IntegerField(source="activities")
    partners_rescored = serializers.SerializerMethodField()

    def get_partners_rescored(self, change: object) -> int:
        return len(change.partners)


class ExchangeRatesSetResultSerializer(serializers.Serializer):
    results = ExchangeRateChangeSerializer(many=True)


# --- Rewards and redemptions -------------------------------------------------------------------------------------


class RewardSerializer(ModelSerializer):
    class Meta:
        model = Reward
        fields = [
            "id",
            "sku",
            "name",
            "description",
            "kind",
            "points_cost",
            "minimum_tier_rank",
            "stock",
            "limit_per_partner",
            "limit_period",
            "available_from",
            "available_until",
            "requires_approval",
            "fulfilment",
            "status",
        ]


class RewardRefSerializer(ModelSerializer):
    class Meta:
        model = Reward
        fields = ["id", "sku", "name", "kind"]


class RedemptionSerializer(ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    reward = RewardRefSerializer(read_only=True)

    class Meta:
        model = Redemption
        fields = [
            "id",
            "partner",
            "reward",
            "quantity",
            "points",
            "status",
            "review_reasons",
            "option",
            "shipping_address",
            "tracking",
            "credit_note",
            "created_at",
            "updated_at",
        ]


class RedemptionCreateSerializer(serializers.Serializer):
    partner = ScopedSlugRelatedField(Partner, slug_field="external_id", help_text="The partner's external_id.")
    reward = ScopedSlugRelatedField(Reward, slug_field="sku", help_text="The reward's SKU.")
    quantity = serializers.IntegerField(min_value=1, max_value=100, default=1)
    option = serializers.CharField(
        max_length=50, required=False, allow_blank=True, default="", help_text="One of the reward's options, if any."
    )
    shipping_address = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default="", help_text="Required for merchandise."
    )


class RedemptionTransitionSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, default="", help_text="Required to reject."
    )
    tracking = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="Fulfil: shipment tracking."
    )

    def validate(self, data: dict) -> dict:
        if self.context.get("transition") == "reject" and not data["reason"].strip():
            raise serializers.ValidationError({"reason": "Say why the redemption is rejected."})
        return data


# --- Tier models -------------------------------------------------------------------------------------------------


class TierGateSerializer(ModelSerializer):
    class Meta:
        model = TierGate
        fields = ["id", "label", "metric", "activity_kind", "code", "minimum"]


class TierBenefitSerializer(ModelSerializer):
    label = serializers.SerializerMethodField(help_text="The benefit in words, in the request's language.")

    class Meta:
        model = TierBenefit
        fields = ["kind", "value", "currency", "text", "label"]

    def get_label(self, benefit: TierBenefit) -> str:
        return entitlement_label(kind=benefit.kind, value=benefit.value, currency=benefit.currency, text=benefit.text)


class TierSerializer(ModelSerializer):
    gates = TierGateSerializer(many=True, read_only=True)
    benefits = TierBenefitSerializer(many=True, read_only=True)

    class Meta:
        model = Tier
        fields = ["id", "name", "rank", "minimum_score", "point_multiplier", "benefits", "colour", "gates"]


class CriterionSerializer(ModelSerializer):
    class Meta:
        model = Criterion
        fields = ["id", "label", "metric", "activity_kind", "code", "weight", "target", "cap"]


class PathwaySerializer(ModelSerializer):
    partner_types = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    criteria = CriterionSerializer(many=True, read_only=True)

    class Meta:
        model = Pathway
        fields = ["id", "name", "partner_types", "criteria"]


class TierModelSerializer(ModelSerializer):
    tiers = TierSerializer(many=True, read_only=True)
    pathways = PathwaySerializer(many=True, read_only=True)

    class Meta:
        model = TierModel
        fields = [
            "id",
            "name",
            "version",
            "status",
            "effective_from",
            "window",
            "fiscal_year_start_month",
            "downgrade",
            "grace_days",
            "published_at",
            "tiers",
            "pathways",
        ]


class TierOverrideSerializer(serializers.Serializer):
    """A tier of the model as it would be: its id, and what changes (a field left out keeps the saved value)."""

    id = serializers.IntegerField()
    name = serializers.CharField(max_length=100, required=False)
    minimum_score = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False)
    point_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2, min_value=0, required=False)


class CriterionOverrideSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    weight = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0.01"), required=False)
    target = serializers.DecimalField(max_digits=16, decimal_places=2, min_value=Decimal("0.01"), required=False)
    cap = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=Decimal("0.01"), required=False)


class TierModelSimulateSerializer(serializers.Serializer):
    """What-if changes to simulate, none saved: `tiers` in ladder order (lowest first) reorders the ranks."""

    tiers = TierOverrideSerializer(many=True, required=False)
    criteria = CriterionOverrideSerializer(many=True, required=False)


class SimulationMoverSerializer(serializers.Serializer):
    partner = serializers.IntegerField(source="partner_id")
    name = serializers.CharField(source="partner_name")
    now = serializers.CharField(source="current")
    then = serializers.CharField(source="simulated")
    score = serializers.DecimalField(max_digits=5, decimal_places=2)
    direction = serializers.CharField()


class SimulationProblemSerializer(serializers.Serializer):
    message = serializers.CharField()
    where = serializers.CharField()
    blocking = serializers.BooleanField()


class SimulationSerializer(serializers.Serializer):
    """A simulation over today's active partners: who moves, the distribution now and then, the migration matrix
    (rows: the tier held now), the yearly cost of multipliers and the suggested minimum scores."""

    model = serializers.IntegerField()
    evaluated_on = DateField()
    partners = serializers.IntegerField()
    moving_up = serializers.IntegerField()
    moving_down = serializers.IntegerField()
    held_by_pin = serializers.IntegerField(help_text="Partners the model would move whom a pin holds at their rank.")
    distribution = serializers.ListField(child=serializers.DictField())
    matrix = serializers.ListField(child=serializers.DictField())
    movers = SimulationMoverSerializer(many=True)
    multiplier_cost_points = serializers.IntegerField()
    multiplier_cost_value = serializers.DecimalField(max_digits=16, decimal_places=2)
    currency = serializers.CharField()
    suggested_minimum_scores = serializers.DictField()
    problems = SimulationProblemSerializer(many=True)


class TierModelPublishSerializer(serializers.Serializer):
    effective_from = DateField(help_text="Today (active at once) or later (scheduled).")
    publication_downgrades = serializers.ChoiceField(choices=TierModel.PublicationDowngrades.choices)
    version = serializers.IntegerField(help_text="The draft's version, as a check that it is the one meant.")


# --- Deal registrations ------------------------------------------------------------------------------------------


class DealCustomerSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, help_text="The customer company's name.")
    domain = serializers.CharField(max_length=253, required=False, allow_blank=True, default="")
    country = serializers.ChoiceField(choices=list(countries), required=False, allow_blank=True, default="")
    tax_id = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")


class DealConflictSerializer(serializers.Serializer):
    deal = serializers.IntegerField(source="other_id", help_text="The other registration's id.")
    rule = serializers.CharField(help_text="tax_id, domain, name or similar_name: the rule that matched.")
    score = serializers.DecimalField(max_digits=4, decimal_places=3, help_text="Similarity from 0 to 1.")
    same_partner = serializers.BooleanField(source="is_same_partner")


class DealSerializer(ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    reference = serializers.CharField(read_only=True)
    customer = serializers.SerializerMethodField()
    conflicts = DealConflictSerializer(many=True, read_only=True)
    sale_activity = serializers.IntegerField(source="sale_activity_id", read_only=True, allow_null=True)

    class Meta:
        model = DealRegistration
        fields = [
            "id",
            "reference",
            "partner",
            "external_id",
            "source",
            "status",
            "customer",
            "contact_name",
            "contact_email",
            "products",
            "amount",
            "currency",
            "expected_close",
            "notes",
            "submitted_at",
            "approved_at",
            "protection_days",
            "protected_until",
            "extended_at",
            "closed_at",
            "sale_activity",
            "conflicts",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(DealCustomerSerializer)
    def get_customer(self, deal: DealRegistration) -> dict:
        return {
            "name": deal.customer_name,
            "domain": deal.customer_domain,
            "country": str(deal.customer_country or ""),
            "tax_id": deal.customer_tax_id,
        }


class DealCreateSerializer(serializers.Serializer):
    partner = ScopedSlugRelatedField(Partner, slug_field="external_id", help_text="The partner's external_id.")
    external_id = serializers.CharField(
        max_length=200, help_text="The opportunity's id in your CRM: the same id again returns the first registration."
    )
    customer = DealCustomerSerializer()
    contact_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    contact_email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    products = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    currency = serializers.RegexField(r"^[A-Z]{3}$", help_text="ISO 4217, e.g. USD.")
    expected_close = DateField()
    notes = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class DealWonSerializer(serializers.Serializer):
    invoice_number = serializers.CharField(max_length=100)
    invoice_date = DateField()
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01"), help_text="In the program's currency."
    )


class DealLostSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)
