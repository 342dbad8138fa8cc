"""The /api/v1/ endpoints: parse, call one service or selector, shape the answer. Access rules in permissions.py."""

from collections import Counter
from typing import ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Model, Prefetch, QuerySet
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response

from api import filters, serializers
from api.errors import ApiError
from api.idempotency import HEADER, HEADER_PATTERN, idempotent
from api.permissions import request_actor, request_api_key, request_partner_id
from deals.models import DealRegistration
from deals.services import deal_mark_lost, deal_register
from earning.services import activity_approve, activity_reject, deal_win_record, exchange_rates_set
from imports.ingest import IngestStatus, activities_ingest
from loyalty.api_shape import api_not_found
from loyalty.inputs import NUL, has_nul, nul_message
from loyalty.ledger.models import AdjustmentRequest, LedgerEntry
from loyalty.ledger.selectors import partner_points_get
from loyalty.ledger.services import points_adjust_or_request
from loyalty.tenancy.models import AuditEntry, User
from loyalty.tenancy.services import audit_record
from partners.models import Activity, ExchangeRate, Partner
from partners.services import partner_upsert
from rewards.models import Redemption, Reward
from rewards.services import (
    redemption_approve,
    redemption_cancel,
    redemption_fulfil,
    redemption_reject,
    reward_redeem_in_transaction,
)
from tiers.designer import model_simulate
from tiers.models import Pathway, TierModel
from tiers.selectors import partner_status_get
from tiers.services import tier_model_draft_schedule, tier_model_draft_start, tier_model_publish
from tiers.wording import forecast_sentences

EXTERNAL_ID = r"[^/]+"


def idempotency_parameter(*, required: bool) -> OpenApiParameter:
    return OpenApiParameter(
        HEADER,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=required,
        pattern=HEADER_PATTERN,
        description="Makes the request safe to retry: a replay returns the first response (see docs/api.md).",
    )


class ApiView(generics.GenericAPIView):
    """Base of every endpoint: scopes per method, and which partner a portal session may see."""

    required_scopes: ClassVar[dict[str, tuple[str, ...]]] = {}
    session_readable = False  # partner members may GET it with their portal session, for their own partner
    partner_field: str | None = "partner"  # the path from the model to its partner, for session callers
    filter_backends: ClassVar[list] = [DjangoFilterBackend, OrderingFilter]
    metadata_class = None  # OPTIONS answers 405: the schema at /api/v1/schema/ describes every endpoint
    model: ClassVar[type[Model]]  # what the view reads or acts on (the pk or external_id in its path names one)

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        """After authentication: a NUL character in the path or a query parameter is a field error (issue 17,
        item 26), checked once here for every endpoint rather than discovered by the database. Bodies are checked
        by the parser (api/parsers.py)."""
        super().initial(request, *args, **kwargs)
        for name, value in [*kwargs.items(), *request.query_params.lists()]:
            values = value if isinstance(value, list) else [value]
            if has_nul(name) or any(has_nul(item) for item in values):
                raise ValidationError({name.replace(NUL, ""): [nul_message()]})
            if len(values) > 1:  # no parameter is a list: `?limit=5&limit=500` is a mistake, not the last one wins
                raise ValidationError({name: [_("Give this parameter once.")]})

    def rows(self) -> QuerySet:
        """The rows this view lists or retrieves, with what their serializer reads joined in."""
        return self.model.objects.all()

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no tenant, no request
            return self.model.all_tenants.none()
        rows = self.rows()
        partner_id = request_partner_id(self.request)
        if partner_id is None or self.partner_field is None:
            return rows
        return rows.filter(**{f"{self.partner_field}_id": partner_id})

    def partner_from_path(self, external_id: str) -> Partner:
        """The partner named in the URL, if this caller may see it (another tenant's or partner's: 404)."""
        partners = Partner.objects.select_related("partner_type", "account_manager")
        partner_id = request_partner_id(self.request)
        if partner_id is not None:
            partners = partners.filter(pk=partner_id)
        return get_object_or_404(partners, external_id=external_id)

    def actor_required(self) -> User:
        """The person a points-moving write is recorded under: the key's author."""
        actor = request_actor(self.request)
        if actor is None:
            raise ApiError(
                "This key has no author, and this write is recorded under a person: use a key created in the "
                "program admin (or with create_api_key --created-by).",
                status_code=403,
                code="key_has_no_author",
            )
        return actor

    def via(self, text: str) -> str:
        """A reason or memo that also says it came through the API, and with which key."""
        label = f"via {request_api_key(self.request).label}"
        return f"{text} ({label})" if text.strip() else label[0].upper() + label[1:]


# --- Partners ----------------------------------------------------------------------------------------------------


class Partners(ApiView):
    required_scopes: ClassVar = {"GET": ("partners:read",)}
    serializer_class = serializers.PartnerSerializer
    filterset_class = filters.PartnerFilter
    ordering_fields: ClassVar = ["id", "name", "joined_at"]
    model = Partner

    def rows(self) -> QuerySet[Partner]:
        return Partner.objects.select_related("partner_type", "account_manager")


class PartnerList(Partners, generics.ListAPIView):
    pass


class PartnerById(Partners, generics.RetrieveAPIView):
    pass


class PartnerDetail(ApiView):
    """A partner by its external_id: read it, or create/update it (upsert) from your CRM."""

    required_scopes: ClassVar = {"GET": ("partners:read",), "PUT": ("partners:write",)}
    serializer_class = serializers.PartnerSerializer
    model = Partner

    def get(self, request: Request, external_id: str) -> Response:
        return Response(serializers.PartnerSerializer(self.partner_from_path(external_id)).data)

    @extend_schema(
        request=serializers.PartnerUpsertSerializer,
        responses={200: serializers.PartnerSerializer, 201: serializers.PartnerSerializer},
    )
    def put(self, request: Request, external_id: str) -> Response:
        form = serializers.PartnerUpsertSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        upserted = partner_upsert(
            external_id=external_id,
            name=data["name"],
            partner_type=data["partner_type"],
            region=data.get("region"),
            segment=data.get("segment"),
            account_manager=data.get("account_manager"),
            clear_account_manager="account_manager" in data and data["account_manager"] is None,
            joined_at=data.get("joined_at"),
            status=data.get("status"),
        )
        code = status.HTTP_201_CREATED if upserted.created else status.HTTP_200_OK
        return Response(serializers.PartnerSerializer(upserted.partner).data, status=code)


class PartnerStatus(ApiView):
    """Tier, score with its breakdown and gaps, next tier, balance and points expiring soon."""

    required_scopes: ClassVar = {"GET": ("partners:read",)}
    session_readable = True
    serializer_class = serializers.PartnerStatusSerializer
    model = Partner

    def get(self, request: Request, external_id: str) -> Response:
        partner = self.partner_from_path(external_id)
        tier_status = partner_status_get(partner=partner, months=0)
        body = {
            "partner": partner,
            "tier": tier_status.tier,
            "tier_since": tier_status.state.since if tier_status.state else None,
            "next_tier": tier_status.next_tier,
            "downgrade_on": tier_status.downgrade_on,
            "score": tier_status.score,
            "forecast_sentences": forecast_sentences(
                forecast=tier_status.score.forecast, currency=request.tenant.currency
            )
            if tier_status.score
            else [],
            "points": partner_points_get(partner_id=partner.pk),
            "entitlements": tier_status.entitlements,
        }
        return Response(serializers.PartnerStatusSerializer(body).data)


# --- Activities --------------------------------------------------------------------------------------------------


class Activities(ApiView):
    required_scopes: ClassVar = {"GET": ("activities:read",)}
    serializer_class = serializers.ActivitySerializer
    filterset_class = filters.ActivityFilter
    ordering_fields: ClassVar = ["id", "occurred_at", "created_at"]

    model = Activity

    def rows(self) -> QuerySet[Activity]:
        return Activity.objects.select_related("partner")


class ActivityList(Activities, generics.ListAPIView):
    """List activities, or record up to 1,000 at once with a result per row."""

    required_scopes: ClassVar = {"GET": ("activities:read",), "POST": ("activities:write",)}

    @extend_schema(
        request=serializers.ActivityBulkRequestSerializer,
        responses={200: serializers.ActivityBulkResultSerializer},
        parameters=[idempotency_parameter(required=False)],
        description="Rows are checked one by one: good rows are recorded even when others fail (partial success "
        "answers 200; read each row's `status`). A row whose `external_id` is already recorded is a `duplicate`, "
        "so a batch can be resent safely. With `approve` (the default) activities earn their points at once.",
    )
    @idempotent(required=False)
    def post(self, request: Request) -> Response:
        form = serializers.ActivityBulkSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        results = activities_ingest(
            rows=form.validated_data["activities"],
            source=Activity.Source.API,
            actor=request_actor(request),
            approve=form.validated_data["approve"],
        )
        counts = Counter(result.status for result in results)
        body = {
            "created": counts[IngestStatus.CREATED],
            "duplicates": counts[IngestStatus.DUPLICATE],
            "errors": counts[IngestStatus.ERROR],
            # Built by hand: dataclasses.asdict deep-copies every value, ~0.1 ms a row.
            "results": [
                {
                    "index": result.index,
                    "external_id": result.external_id,
                    "status": result.status,
                    "activity_id": result.activity_id,
                    "errors": result.errors,
                }
                for result in results
            ],
        }
        return Response(body)


class ActivityDetail(Activities, generics.RetrieveAPIView):
    pass


class ActivityReview(ApiView):
    """Approve a pending activity (it earns its points) or reject it with a reason (an approved one is reversed)."""

    required_scopes: ClassVar = {"POST": ("activities:review",)}
    serializer_class = serializers.ActivityReviewSerializer
    model = Activity

    @extend_schema(
        request=serializers.ActivityReviewSerializer,
        responses={200: serializers.ActivityReviewResultSerializer},
        parameters=[idempotency_parameter(required=False)],
    )
    @idempotent(required=False)
    def post(self, request: Request, pk: int) -> Response:
        activity = get_object_or_404(Activity.objects.select_related("partner"), pk=pk)
        form = serializers.ActivityReviewSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        decision, reason = form.validated_data["decision"], self.via(form.validated_data["reason"])
        actor = request_actor(request)
        if decision == "approve":
            entries = activity_approve(activity=activity, actor=actor, reason=reason)
        else:
            entries = activity_reject(activity=activity, actor=actor, reason=reason)
        entries = LedgerEntry.objects.filter(pk__in=[entry.pk for entry in entries]).select_related(
            "account__partner", "actor"
        )
        body = {"activity": activity, "entries": entries.order_by("pk")}
        return Response(serializers.ActivityReviewResultSerializer(body).data)


# --- Ledger ------------------------------------------------------------------------------------------------------


class LedgerEntries(ApiView):
    required_scopes: ClassVar = {"GET": ("ledger:read",)}
    session_readable = True
    partner_field = "account__partner"
    serializer_class = serializers.LedgerEntrySerializer
    filterset_class = filters.LedgerEntryFilter
    ordering_fields: ClassVar = ["id", "created_at", "effective_at"]

    model = LedgerEntry

    def rows(self) -> QuerySet[LedgerEntry]:
        return LedgerEntry.objects.select_related("account__partner", "actor")


class LedgerEntryList(LedgerEntries, generics.ListAPIView):
    pass


class LedgerEntryDetail(LedgerEntries, generics.RetrieveAPIView):
    pass


class Adjustments(ApiView):
    """Post a manual correction to a partner's points, with a reason; recorded under the key's author. Above the
    program's four-eyes limit it is not posted: it waits (202) for a second program manager or owner."""

    required_scopes: ClassVar = {"POST": ("ledger:write",)}
    serializer_class = serializers.AdjustmentSerializer

    @extend_schema(
        request=serializers.AdjustmentSerializer,
        responses={201: serializers.LedgerEntrySerializer, 202: serializers.PendingAdjustmentSerializer},
        parameters=[idempotency_parameter(required=True)],
    )
    @idempotent(required=True)
    def post(self, request: Request, idempotency_key: str) -> Response:
        form = serializers.AdjustmentSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        # One transaction: a refused adjustment must not leave the account it created on the way.
        with transaction.atomic():
            result = points_adjust_or_request(
                partner=form.validated_data["partner"],
                points=form.validated_data["points"],
                reason=self.via(form.validated_data["reason"]),
                actor=self.actor_required(),
                idempotency_key=idempotency_key,
            )
            if isinstance(result, AdjustmentRequest):
                summary, account = f"Asked to adjust by {result.points:+d} points: {result.reason}", result.account
            else:
                summary, account = f"Adjusted by {result.points:+d} points: {result.memo}", result.account
            audit_record(
                actor=self.actor_required(),
                action=AuditEntry.Action.ACTION,
                target=account,
                category=AuditEntry.Category.POINTS,
                summary=summary,
                request=request,
            )
        if isinstance(result, AdjustmentRequest):
            pending = AdjustmentRequest.objects.select_related("account__partner", "requested_by").get(pk=result.pk)
            return Response(serializers.PendingAdjustmentSerializer(pending).data, status=status.HTTP_202_ACCEPTED)
        entry = LedgerEntry.objects.select_related("account__partner", "actor").get(pk=result.pk)
        return Response(serializers.LedgerEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


# --- Rewards and redemptions -------------------------------------------------------------------------------------


class Rewards(ApiView):
    required_scopes: ClassVar = {"GET": ("rewards:read",)}
    session_readable = True
    serializer_class = serializers.RewardSerializer
    filterset_class = filters.RewardFilter
    ordering_fields: ClassVar = ["id", "points_cost", "name"]

    model = Reward
    partner_field = None  # the catalog is the program's, the same for every partner


class RewardList(Rewards, generics.ListAPIView):
    pass


class RewardDetail(Rewards, generics.RetrieveAPIView):
    pass


class Redemptions(ApiView):
    required_scopes: ClassVar = {"GET": ("redemptions:read",)}
    session_readable = True
    serializer_class = serializers.RedemptionSerializer
    filterset_class = filters.RedemptionFilter
    ordering_fields: ClassVar = ["id", "created_at", "updated_at"]

    model = Redemption

    def rows(self) -> QuerySet[Redemption]:
        return Redemption.objects.select_related("partner", "reward")


class RedemptionList(Redemptions, generics.ListAPIView):
    """List redemptions, or redeem a reward for a partner (its points are debited at once)."""

    required_scopes: ClassVar = {"GET": ("redemptions:read",), "POST": ("redemptions:write",)}

    @extend_schema(
        request=serializers.RedemptionCreateSerializer,
        responses={201: serializers.RedemptionSerializer},
        parameters=[idempotency_parameter(required=True)],
    )
    @idempotent(required=True, atomic=True)  # the redemption and its stored answer commit together
    def post(self, request: Request, idempotency_key: str) -> Response:
        form = serializers.RedemptionCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        # In the decorator's transaction, which rolls back whole on any error: no savepoint of the service's own.
        redemption = reward_redeem_in_transaction(
            partner=form.validated_data["partner"],
            requested_by=self.actor_required(),
            reward=form.validated_data["reward"],
            quantity=form.validated_data["quantity"],
            idempotency_key=idempotency_key,
            option=form.validated_data["option"],
            shipping_address=form.validated_data["shipping_address"],
            reward_read_in_transaction=True,  # by the serializer, above, in the decorator's transaction
        )
        # As written, with its partner and reward: no re-read.
        return Response(serializers.RedemptionSerializer(redemption).data, status=status.HTTP_201_CREATED)


class RedemptionDetail(Redemptions, generics.RetrieveAPIView):
    pass


class RedemptionTransition(ApiView):
    """Move a redemption along its workflow; rejection and cancellation refund the points."""

    transition: ClassVar[str]
    serializer_class = serializers.RedemptionTransitionSerializer
    model = Redemption

    @extend_schema(
        request=serializers.RedemptionTransitionSerializer,
        responses={200: serializers.RedemptionSerializer},
        parameters=[idempotency_parameter(required=False)],
    )
    @idempotent(required=False)
    def post(self, request: Request, pk: int) -> Response:
        redemption = get_object_or_404(Redemption.objects.select_related("partner", "reward"), pk=pk)
        form = serializers.RedemptionTransitionSerializer(data=request.data, context={"transition": self.transition})
        form.is_valid(raise_exception=True)
        reason, actor = form.validated_data["reason"], self.actor_required()
        if self.transition == "approve":
            redemption_approve(redemption=redemption, actor=actor, reason=self.via(reason))
        elif self.transition == "fulfil":
            redemption_fulfil(redemption=redemption, actor=actor, tracking=form.validated_data["tracking"])
        elif self.transition == "reject":
            redemption_reject(redemption=redemption, actor=actor, reason=self.via(reason))
        else:
            redemption_cancel(redemption=redemption, actor=actor)
        redemption.refresh_from_db()
        return Response(serializers.RedemptionSerializer(redemption).data)


class RedemptionApprove(RedemptionTransition):
    transition = "approve"
    required_scopes: ClassVar = {"POST": ("redemptions:review",)}


class RedemptionFulfil(RedemptionTransition):
    transition = "fulfil"
    required_scopes: ClassVar = {"POST": ("redemptions:review",)}


class RedemptionReject(RedemptionTransition):
    transition = "reject"
    required_scopes: ClassVar = {"POST": ("redemptions:review",)}


class RedemptionCancel(RedemptionTransition):
    transition = "cancel"
    required_scopes: ClassVar = {"POST": ("redemptions:write",)}


# --- Deal registrations ------------------------------------------------------------------------------------------


class Deals(ApiView):
    required_scopes: ClassVar = {"GET": ("deals:read",)}
    session_readable = True
    serializer_class = serializers.DealSerializer
    filterset_class = filters.DealFilter
    ordering_fields: ClassVar = ["id", "created_at", "updated_at", "expected_close"]

    model = DealRegistration

    def rows(self) -> QuerySet[DealRegistration]:
        return DealRegistration.objects.select_related("partner").prefetch_related("conflicts")


class DealList(Deals, generics.ListAPIView):
    """List deal registrations, or register one for a partner (submitted for review, conflicts detected)."""

    required_scopes: ClassVar = {"GET": ("deals:read",), "POST": ("deals:write",)}

    @extend_schema(
        request=serializers.DealCreateSerializer,
        responses={201: serializers.DealSerializer, 200: serializers.DealSerializer},
        parameters=[idempotency_parameter(required=False)],
        description="The registration is submitted for review at once; `conflicts` lists the registrations it "
        "resembles (rule and score). The same `external_id` for the same partner answers 200 with the first "
        "registration, so a CRM may resend.",
    )
    @idempotent(required=False)
    def post(self, request: Request) -> Response:
        form = serializers.DealCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data, customer = form.validated_data, form.validated_data["customer"]
        known = DealRegistration.objects.filter(partner=data["partner"], external_id=data["external_id"].strip())
        existed = known.exists()
        deal = deal_register(
            partner=data["partner"],
            registered_by=request_actor(request),
            source=DealRegistration.Source.API,
            external_id=data["external_id"],
            customer_name=customer["name"],
            customer_domain=customer["domain"],
            customer_country=customer["country"],
            customer_tax_id=customer["tax_id"],
            contact_name=data["contact_name"],
            contact_email=data["contact_email"],
            products=data["products"],
            amount=data["amount"],
            currency=data["currency"],
            expected_close=data["expected_close"],
            notes=data["notes"],
        )
        body = serializers.DealSerializer(self.rows().get(pk=deal.pk)).data
        return Response(body, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)


class DealDetail(Deals, generics.RetrieveAPIView):
    pass


class DealClose(ApiView):
    """Close an approved registration from the CRM: won (with its invoice: one approved sale, earning points) or
    lost (with a reason). A repeat finds it closed and changes nothing."""

    outcome: ClassVar[str]
    required_scopes: ClassVar = {"POST": ("deals:write",)}
    model = DealRegistration

    def post(self, request: Request, pk: int) -> Response:
        deal = get_object_or_404(DealRegistration.objects.select_related("partner"), pk=pk)
        form = self.get_serializer(data=request.data)
        form.is_valid(raise_exception=True)
        actor = request_actor(request)
        if self.outcome == "won":
            deal_win_record(deal=deal, actor=actor, source=Activity.Source.API, **form.validated_data)
        else:
            deal_mark_lost(deal=deal, actor=actor, reason=self.via(form.validated_data["reason"]))
        return Response(serializers.DealSerializer(Deals.rows(self).get(pk=deal.pk)).data)


class DealWon(DealClose):
    outcome = "won"
    serializer_class = serializers.DealWonSerializer

    @extend_schema(
        request=serializers.DealWonSerializer,
        responses={200: serializers.DealSerializer},
        parameters=[idempotency_parameter(required=False)],
    )
    @idempotent(required=False)
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)


class DealLost(DealClose):
    outcome = "lost"
    serializer_class = serializers.DealLostSerializer

    @extend_schema(
        request=serializers.DealLostSerializer,
        responses={200: serializers.DealSerializer},
        parameters=[idempotency_parameter(required=False)],
    )
    @idempotent(required=False)
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)


# --- Tier models -------------------------------------------------------------------------------------------------


class TierModels(ApiView):
    required_scopes: ClassVar = {"GET": ("tiers:read",)}
    serializer_class = serializers.TierModelSerializer
    ordering_fields: ClassVar = ["id", "version", "effective_from"]

    model = TierModel

    def rows(self) -> QuerySet[TierModel]:
        return TierModel.objects.prefetch_related(
            "tiers__gates",
            "tiers__benefits",
            Prefetch("pathways", queryset=Pathway.objects.prefetch_related("partner_types", "criteria")),
        )


class TierModelList(TierModels, generics.ListAPIView):
    pass


class TierModelDetail(TierModels, generics.RetrieveAPIView):
    pass


class TierModelDraftStart(ApiView):
    """Copy a published model (usually the one in force) into a draft to change: the designer's "start a draft",
    for programs managed as code. One working draft per source: a repeat returns the same draft (200)."""

    required_scopes: ClassVar = {"POST": ("tiers:write",)}
    serializer_class = serializers.TierModelSerializer
    model = TierModel

    @extend_schema(request=None, responses={201: serializers.TierModelSerializer, 200: serializers.TierModelSerializer})
    def post(self, request: Request, pk: int) -> Response:
        source = get_object_or_404(TierModel, pk=pk)
        if source.status == TierModel.Status.DRAFT:
            raise ValidationError({"model": [_("Copy a published model; a draft is changed where it is.")]})
        existing = TierModel.objects.filter(status=TierModel.Status.DRAFT, copied_from=source).exists()
        draft = tier_model_draft_start(source=source)
        data = serializers.TierModelSerializer(TierModels.rows(self).get(pk=draft.pk)).data
        return Response(data, status=status.HTTP_200_OK if existing else status.HTTP_201_CREATED)


class TierModelSimulate(ApiView):
    """The designer's what-if: a model over today's active partners, as saved or with the changes in the body
    (thresholds, multipliers, names, rank order, weights, targets, caps); nothing is saved."""

    required_scopes: ClassVar = {"POST": ("tiers:read",)}
    serializer_class = serializers.TierModelSimulateSerializer
    model = TierModel

    @extend_schema(request=serializers.TierModelSimulateSerializer, responses={200: serializers.SimulationSerializer})
    def post(self, request: Request, pk: int) -> Response:
        model = get_object_or_404(TierModel, pk=pk)
        form = self.get_serializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            result, problems = model_simulate(model=model, **form.validated_data)
        except ValueError as error:
            raise ValidationError({"tiers": [str(error)]}) from error
        columns = result.matrix_columns()
        body = {
            "model": model.pk,
            "evaluated_on": result.evaluated_on,
            "partners": result.partners,
            "moving_up": result.moving_up,
            "moving_down": result.moving_down,
            "held_by_pin": result.held_by_pin,
            "distribution": [
                {"now": now_name, "then": then_name, "partners_now": now, "partners_then": then}
                for now_name, then_name, now, then in result.distribution_rows()
            ],
            "matrix": [
                {"now": name, "then": dict(zip(columns, counts, strict=True)), "total": total}
                for name, counts, total in result.matrix_rows()
            ],
            "movers": result.movers,
            "multiplier_cost_points": result.multiplier_cost_points,
            "multiplier_cost_value": result.multiplier_cost_value,
            "currency": request.tenant.currency,
            "suggested_minimum_scores": {
                "ranks": result.ranks[1:],  # every rank above the entry tier, lowest first
                "percentiles": result.percentile_thresholds,
                "natural_breaks": result.natural_break_thresholds,
            },
            "problems": [
                {"message": problem.message, "where": problem.where, "blocking": problem.blocking}
                for problem in problems
            ],
        }
        return Response(serializers.SimulationSerializer(body).data)


class TierModelPublish(ApiView):
    """Publish a draft: effective today (active at once) or later (scheduled), with the policy for partners it
    places lower; recorded in the audit log. The version in the body must be the draft's. A repeat finds it
    published and says so (400) unless sent with the same Idempotency-Key (the first answer again)."""

    required_scopes: ClassVar = {"POST": ("tiers:write",)}
    serializer_class = serializers.TierModelPublishSerializer
    model = TierModel

    @extend_schema(
        request=serializers.TierModelPublishSerializer,
        responses={200: serializers.TierModelSerializer},
        parameters=[idempotency_parameter(required=False)],
    )
    @idempotent(required=False)
    def post(self, request: Request, pk: int) -> Response:
        model = get_object_or_404(TierModel, pk=pk)
        form = self.get_serializer(data=request.data)
        form.is_valid(raise_exception=True)
        if form.validated_data["version"] != model.version:
            raise ValidationError({"version": [_("This is version %(version)s.") % {"version": model.version}]})
        actor = self.actor_required()
        try:
            with transaction.atomic():
                tier_model_draft_schedule(
                    model=model,
                    effective_from=form.validated_data["effective_from"],
                    publication_downgrades=form.validated_data["publication_downgrades"],
                )
                published = tier_model_publish(model=model, actor=actor)
                audit_record(
                    actor=actor,
                    action=AuditEntry.Action.ACTION,
                    target=published,
                    summary=self.via(
                        f"Published {published.name} v{published.version}, effective "
                        f"{published.effective_from.isoformat()}, placed lower: {published.publication_downgrades}"
                    ),
                    request=request,
                )
        except DjangoValidationError as error:
            raise ValidationError({"model": error.messages}) from error
        return Response(serializers.TierModelSerializer(TierModels.rows(self).get(pk=published.pk)).data)


# --- Exchange rates ----------------------------------------------------------------------------------------------


class ExchangeRates(ApiView):
    required_scopes: ClassVar = {"GET": ("rates:read",)}
    serializer_class = serializers.ExchangeRateSerializer
    filterset_class = filters.ExchangeRateFilter
    ordering_fields: ClassVar = ["day", "currency", "updated_at"]
    partner_field = None  # the program's rates, the same for every partner
    model = ExchangeRate


class ExchangeRateList(ExchangeRates, generics.ListAPIView):
    """The program's dated exchange rates (newest day first), or enter and correct several at once."""

    required_scopes: ClassVar = {"GET": ("rates:read",), "POST": ("rates:write",)}

    @extend_schema(
        request=serializers.ExchangeRatesSetSerializer,
        responses={200: serializers.ExchangeRatesSetResultSerializer},
        parameters=[idempotency_parameter(required=False)],
        description="All or none: every line is checked first. A day that has a rate is corrected: the activities "
        "in that currency on that day are re-converted and the partners with an approved one among them re-scored "
        "(points already posted stay). The same rate again changes nothing, so a resend is harmless.",
    )
    @idempotent(required=False)
    def post(self, request: Request) -> Response:
        form = serializers.ExchangeRatesSetSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        changes = exchange_rates_set(
            lines=form.validated_data["rates"], actor=request_actor(request), source=ExchangeRate.Source.API
        )
        return Response(serializers.ExchangeRatesSetResultSerializer({"results": changes}).data)


class ExchangeRateDetail(ExchangeRates, generics.RetrieveAPIView):
    pass


# --- Anything else under /api/v1/ ---------------------------------------------------------------------------------


@csrf_exempt  # any method may end up here; the answer is a 404 whatever the CSRF state
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown API paths answer in the API's error shape, not with an HTML page."""
    return api_not_found()
