from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from loyalty.tenancy.admin_sites import HistoryInline, ReviewActions, TenantModelAdmin, tenant_admin_site
from loyalty.tenancy.models import User
from rewards.forms import CodesForm, RewardForm
from rewards.models import Redemption, RedemptionEvent, Reward
from rewards.services import codes_load, redemption_approve, redemption_fulfil, redemption_reject
from tiers.forms import minimum_tier_field, minimum_tier_name


@admin.register(Reward, site=tenant_admin_site)
class RewardAdmin(TenantModelAdmin):
    form = RewardForm
    list_display = ["name", "sku", "kind", "points_cost", "minimum_tier", "stock", "fulfilment", "status", "codes"]
    list_filter = ["status", "kind", "fulfilment"]
    search_fields = ["name", "sku"]
    fieldsets = [
        (None, {"fields": ["sku", "name", "description", "kind", "image", "status"]}),
        (
            _("Price and eligibility"),
            {"fields": ["points_cost", "minimum_tier_rank", "available_from", "available_until"]},
        ),
        (_("Stock and limits"), {"fields": ["stock", "limit_per_partner", "limit_period", "monthly_cap_points"]}),
        (_("Fulfilment"), {"fields": ["fulfilment", "requires_approval"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Reward]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                free_codes=Count("codes", filter=Q(codes__redemption__isnull=True)),
                minimum_tier_name=minimum_tier_name(),
            )
        )

    def formfield_for_dbfield(self, db_field: models.Field, request: HttpRequest, **kwargs) -> forms.Field | None:
        """The lowest tier is chosen by name from the program's tiers, not typed as a rank (issue 17, item 23)."""
        if db_field.name == "minimum_tier_rank":
            return minimum_tier_field(label=_("Lowest tier that may redeem"))
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=_("Lowest tier"), ordering="minimum_tier_rank")
    def minimum_tier(self, reward: Reward) -> str:
        if reward.minimum_tier_rank is None:
            return _("Any tier")
        return reward.minimum_tier_name or _("Rank %(rank)s") % {"rank": reward.minimum_tier_rank}

    @admin.display(description=_("Codes"))
    def codes(self, reward: Reward) -> str:
        if reward.fulfilment != Reward.Fulfilment.CODE_POOL:
            return "—"
        url = reverse("admin:rewards_reward_load_codes", args=[reward.pk])
        return format_html(_('{} free · <a href="{}">Load codes</a>'), reward.free_codes, url)

    def has_delete_permission(self, request: HttpRequest, obj: Reward | None = None) -> bool:
        # Rewards with history are retired, never deleted.
        return super().has_delete_permission(request, obj) and (obj is None or not obj.redemptions.exists())

    def get_urls(self) -> list:
        return [
            path(
                "<int:reward_id>/codes/",
                self.admin_site.admin_view(self.load_codes_view),
                name="rewards_reward_load_codes",
            ),
            *super().get_urls(),
        ]

    def load_codes_view(self, request: HttpRequest, reward_id: int) -> HttpResponse:
        """Paste gift-card codes into the pool: they are encrypted at once and never shown here again."""
        reward = get_object_or_404(Reward, pk=reward_id)
        form = CodesForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                loaded = codes_load(reward=reward, codes=form.cleaned_data["codes"].splitlines())
            except ValidationError as error:
                form.add_error("codes", error)
            else:
                self.audit_action(request, reward, f"Loaded {loaded} codes")
                self.message_user(
                    request,
                    _("%(count)s codes loaded into %(reward)s.") % {"count": loaded, "reward": reward},
                    messages.SUCCESS,
                )
                return redirect("admin:rewards_reward_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Load codes into %(reward)s") % {"reward": reward},
            "opts": self.opts,
            "form": form,
        }
        return TemplateResponse(request, "admin/rewards/load_codes.html", context)


class RedemptionEventInline(HistoryInline):
    model = RedemptionEvent


@admin.register(Redemption, site=tenant_admin_site)
class RedemptionAdmin(ReviewActions, TenantModelAdmin):
    """The review queue: filter on Requested, then approve, reject (with a reason) or mark as fulfilled."""

    list_display = [
        "created_at",
        "partner",
        "reward",
        "quantity",
        "points",
        "status",
        "waited",
        "waits_because",
        "credit_note",
    ]
    list_filter = ["status", "reward__kind"]
    search_fields = ["partner__name", "reward__name", "idempotency_key"]
    list_select_related = ["partner", "reward"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Redemption._meta.fields if field.name != "tenant"]
    inlines = [RedemptionEventInline]
    actions = ["approve", "reject", "fulfil"]
    review_title = _("Reject redemptions (the points are refunded)")
    pending_status = Redemption.Status.REQUESTED

    @staticmethod
    def approve_service(redemption: Redemption, actor: User) -> object:
        return redemption_approve(redemption=redemption, actor=actor)

    @staticmethod
    def reject_service(redemption: Redemption, actor: User, reason: str) -> object:
        return redemption_reject(redemption=redemption, actor=actor, reason=reason)

    @admin.display(description=_("Waits because"))
    def waits_because(self, redemption: Redemption) -> str:
        labels = {
            "approval_required": "the reward needs approval",
            "monthly_budget": "over the monthly budget",
            "reward_cap": "over the reward's monthly cap",
        }
        return ", ".join(labels.get(reason, reason) for reason in redemption.review_reasons) or "—"

    @admin.action(description=_("Mark the selected approved redemptions as fulfilled"))
    def fulfil(self, request: HttpRequest, queryset: QuerySet[Redemption]) -> None:
        self._apply(request, queryset, "fulfilled", lambda row: redemption_fulfil(redemption=row, actor=request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
