"""The library and the onboarding checklist in the tenant admin: program staff manage them here."""

from django.contrib import admin
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from enablement.forms import OnboardingForm, ResourceForm
from enablement.models import Course, CourseCompletion, Onboarding, PartnerProfile, QuizQuestion, Resource, WelcomeText
from loyalty.tenancy.admin_sites import ReadOnlyModelAdmin, TenantInlineMixin, TenantModelAdmin, tenant_admin_site
from tiers.forms import minimum_tier_field, minimum_tier_name


class GatedAdmin(TenantModelAdmin):
    """Resources and courses: gated by the lowest tier (chosen by name) and partner types."""

    filter_horizontal = ["partner_types"]
    list_filter = ["is_published", "partner_types"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(minimum_tier_name=minimum_tier_name())

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):  # noqa: ANN001, ANN201 - Django's
        if db_field.name == "minimum_tier_rank":
            return minimum_tier_field(label=_("Lowest tier that may open it"))
        if isinstance(db_field, models.URLField):
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=_("Lowest tier"), ordering="minimum_tier_rank")
    def minimum_tier(self, item: Resource | Course) -> str:
        if item.minimum_tier_rank is None:
            return _("Any tier")
        return item.minimum_tier_name or _("Rank %(rank)s") % {"rank": item.minimum_tier_rank}


@admin.register(Resource, site=tenant_admin_site)
class ResourceAdmin(GatedAdmin):
    form = ResourceForm
    list_display = ["title", "kind", "minimum_tier", "is_published", "position"]
    search_fields = ["title", "description"]
    fields = ["title", "description", "file", "url", "minimum_tier_rank", "partner_types", "is_published", "position"]

    @admin.display(description=_("Kind"))
    def kind(self, resource: Resource) -> str:
        return _("File") if resource.is_file else _("Link")


class QuizQuestionInline(TenantInlineMixin, admin.StackedInline):
    model = QuizQuestion
    extra = 1
    fields = ["prompt", "choices", "correct_choice", "position"]


@admin.register(Course, site=tenant_admin_site)
class CourseAdmin(GatedAdmin):
    list_display = ["title", "code", "minimum_tier", "questions_count", "completions_count", "is_published"]
    search_fields = ["title", "code"]
    fields = [
        "title",
        "code",
        "description",
        "material_url",
        "pass_percent",
        "minimum_tier_rank",
        "partner_types",
        "is_published",
        "position",
    ]
    inlines = [QuizQuestionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                questions_count=Count("questions", distinct=True), completions_count=Count("completions", distinct=True)
            )
        )

    @admin.display(description=_("Questions"), ordering="questions_count")
    def questions_count(self, course: Course) -> int:
        return course.questions_count

    @admin.display(description=_("Completions"), ordering="completions_count")
    def completions_count(self, course: Course) -> int:
        return course.completions_count

    def has_delete_permission(self, request: HttpRequest, obj: Course | None = None) -> bool:
        # A completed course keeps its history: unpublish it instead.
        return super().has_delete_permission(request, obj) and (obj is None or not obj.completions.exists())


@admin.register(CourseCompletion, site=tenant_admin_site)
class CourseCompletionAdmin(ReadOnlyModelAdmin):
    list_display = ["completed_at", "course", "partner", "user", "score_percent", "activity"]
    list_filter = ["course"]
    search_fields = ["partner__name", "user__email", "course__title"]
    list_select_related = ["course", "partner", "user", "activity__partner"]


class WelcomeTextInline(TenantInlineMixin, admin.StackedInline):
    model = WelcomeText
    extra = 0
    fields = ["language", "text"]


@admin.register(Onboarding, site=tenant_admin_site)
class OnboardingAdmin(TenantModelAdmin):
    form = OnboardingForm
    list_display = ["__str__", "is_active", "window_days"]
    inlines = [WelcomeTextInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One onboarding per program. Every admin page's sidebar asks; one query per request answers them all.
        if not hasattr(request, "_onboarding_exists"):
            request._onboarding_exists = Onboarding.objects.exists()
        return super().has_add_permission(request) and not request._onboarding_exists


@admin.register(PartnerProfile, site=tenant_admin_site)
class PartnerProfileAdmin(ReadOnlyModelAdmin):
    list_display = ["partner", "website", "phone", "updated_at", "updated_by"]
    search_fields = ["partner__name", "website"]
    list_select_related = ["partner", "updated_by"]
