"""Shapes of the API's requests and responses. Validation of form only: the services decide what is allowed."""

from typing import Any

from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.models import User
from partners.models import Activity, ActivityKind, Partner, PartnerType, account_manager_choices
from rewards.models import Redemption, Reward
from tiers.models import BenefitKind, Criterion, Pathway, Tier, TierBenefit, TierGate, TierModel
from tiers.wording import entitlement_label

MAX_POINTS = 10**9


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


class PartnerSerializer(serializers.ModelSerializer):
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
    joined_at = serializers.DateField(required=False)
    status = serializers.ChoiceField(choices=Partner.Status.choices, required=False)

    def validate_account_manager(self, email: str | None) -> User | None:
        if email is None:
            return None
        manager = User.objects.filter(account_manager_choices(), email__iexact=email).first()
        if manager is None:
            raise serializers.ValidationError("No account manager of this program has that email.")
        return manager


# --- Partner status ----------------------------------------------------------------------------------------------


class TierRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tier
        fields = ["id", "name", "rank", "minimum_score", "colour"]


class ScoreSerializer(serializers.Serializer):
    value = serializers.DecimalField(max_digits=5, decimal_places=2, source="score")
    evaluated_on = serializers.DateField()
    computed_at = serializers.DateTimeField()
    source = serializers.CharField()
    tier_model = serializers.IntegerField(source="tier_model_id")
    pathway = serializers.CharField(source="pathway.name", allow_null=True, default=None)
    qualified_tier = TierRefSerializer(allow_null=True)
    breakdown = serializers.ListField(
        child=serializers.DictField(), help_text="Per criterion: label, value, target, weight, contribution."
    )
    gaps = serializers.DictField(help_text="What each criterion alone needs to reach the next tier, and unmet gates.")


class PointsSerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    lifetime_earned = serializers.IntegerField()
    lifetime_redeemed = serializers.IntegerField()
    expiring_soon = serializers.IntegerField(help_text="Points that expire within 90 days.")
    first_expiry = serializers.DateTimeField(allow_null=True)


class EntitlementSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=BenefitKind.choices)
    value = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    currency = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
    label = serializers.CharField()


class PartnerStatusSerializer(serializers.Serializer):
    partner = PartnerSerializer()
    tier = TierRefSerializer(allow_null=True)
    tier_since = serializers.DateField(allow_null=True)
    next_tier = TierRefSerializer(allow_null=True)
    downgrade_on = serializers.DateField(allow_null=True, help_text="When a pending downgrade applies.")
    score = ScoreSerializer(allow_null=True)
    points = PointsSerializer()
    entitlements = EntitlementSerializer(
        many=True, help_text="What the current tier grants: typed benefits an ERP can apply (rates in %)."
    )


# --- Activities --------------------------------------------------------------------------------------------------


class ActivitySerializer(serializers.ModelSerializer):
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
    occurred_at = serializers.DateTimeField(help_text="ISO 8601 with a time zone.")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, required=False, allow_null=True)
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True)
    quantity = serializers.IntegerField(min_value=1, required=False)
    product_sku = serializers.CharField(max_length=100, required=False, allow_blank=True)
    product_category = serializers.CharField(max_length=100, required=False, allow_blank=True)
    code = serializers.CharField(max_length=100, required=False, allow_blank=True)
    valid_until = serializers.DateField(required=False, allow_null=True)
    metadata = serializers.DictField(required=False)


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


class LedgerEntrySerializer(serializers.ModelSerializer):
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


class ActivityReviewResultSerializer(serializers.Serializer):
    activity = ActivitySerializer()
    entries = LedgerEntrySerializer(many=True, help_text="Ledger entries the decision posted (or had posted).")


class AdjustmentSerializer(serializers.Serializer):
    partner = ScopedSlugRelatedField(Partner, slug_field="external_id", help_text="The partner's external_id.")
    points = serializers.IntegerField(min_value=-MAX_POINTS, max_value=MAX_POINTS, help_text="Signed, not zero.")
    reason = serializers.CharField(max_length=1000)

    def validate_points(self, points: int) -> int:
        if points == 0:
            raise serializers.ValidationError("Points must be a whole number other than zero.")
        return points


# --- Rewards and redemptions -------------------------------------------------------------------------------------


class RewardSerializer(serializers.ModelSerializer):
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


class RewardRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Reward
        fields = ["id", "sku", "name", "kind"]


class RedemptionSerializer(serializers.ModelSerializer):
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
            "tracking",
            "credit_note",
            "created_at",
            "updated_at",
        ]


class RedemptionCreateSerializer(serializers.Serializer):
    partner = ScopedSlugRelatedField(Partner, slug_field="external_id", help_text="The partner's external_id.")
    reward = ScopedSlugRelatedField(Reward, slug_field="sku", help_text="The reward's SKU.")
    quantity = serializers.IntegerField(min_value=1, max_value=100, default=1)


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


class TierGateSerializer(serializers.ModelSerializer):
    class Meta:
        model = TierGate
        fields = ["id", "label", "metric", "activity_kind", "code", "minimum"]


class TierBenefitSerializer(serializers.ModelSerializer):
    label = serializers.SerializerMethodField(help_text="The benefit in words, in the request's language.")

    class Meta:
        model = TierBenefit
        fields = ["kind", "value", "currency", "text", "label"]

    def get_label(self, benefit: TierBenefit) -> str:
        return entitlement_label(kind=benefit.kind, value=benefit.value, currency=benefit.currency, text=benefit.text)


class TierSerializer(serializers.ModelSerializer):
    gates = TierGateSerializer(many=True, read_only=True)
    benefits = TierBenefitSerializer(many=True, read_only=True)

    class Meta:
        model = Tier
        fields = ["id", "name", "rank", "minimum_score", "point_multiplier", "benefits", "colour", "gates"]


class CriterionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Criterion
        fields = ["id", "label", "metric", "activity_kind", "code", "weight", "target", "cap"]


class PathwaySerializer(serializers.ModelSerializer):
    partner_types = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    criteria = CriterionSerializer(many=True, read_only=True)

    class Meta:
        model = Pathway
        fields = ["id", "name", "partner_types", "criteria"]


class TierModelSerializer(serializers.ModelSerializer):
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
