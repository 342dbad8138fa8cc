"""Admin registrations: tenants and users on the platform admin; memberships and invitations per tenant."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import HttpResponse, TemplateResponse
from django.utils.translation import gettext_lazy as _
from django_celery_beat.models import PeriodicTask

from loyalty.tenancy.admin_sites import ReadOnlyModelAdmin, TenantModelAdmin, action_confirm, tenant_admin_site
from loyalty.tenancy.forms import TenantLogoForm
from loyalty.tenancy.models import (
    SECURITY_CATEGORIES,
    AuditEntry,
    Domain,
    Invitation,
    Membership,
    ProgramSettings,
    SecurityEvent,
    Tenant,
    User,
)
from loyalty.tenancy.services import invitation_create, invitation_resend, invitation_revoke, invitation_validate


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    form = TenantLogoForm
    list_display = ["name", "slug", "currency", "time_zone", "language", "is_active", "created_at"]
    list_filter = ["is_active", "currency", "language"]
    search_fields = ["name", "slug", "domains__domain"]
    inlines = [DomainInline]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_active", "is_superuser", "last_login"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Personal info"), {"fields": ["first_name", "last_name"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser"]}),
        (_("Important dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(Membership, site=tenant_admin_site)
class MembershipAdmin(TenantModelAdmin):
    """Members join by invitation; here staff change a member's role or partner, or deactivate them."""

    audit_category = AuditEntry.Category.ROLES

    list_display = ["user", "role", "partner", "is_active", "created_at"]
    list_filter = ["role", "is_active"]
    search_fields = ["user__email", "user__first_name", "user__last_name", "partner__name"]
    list_select_related = ["user", "partner"]
    readonly_fields = ["user", "created_at"]
    fields = ["user", "role", "partner", "is_active", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class InvitationForm(forms.ModelForm):
    """Checks the service's business rules; the admin builds the fields (scoped choices need a request)."""

    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.errors:
            invitation_validate(email=cleaned["email"], role=cleaned["role"], partner=cleaned.get("partner"))
        return cleaned


@admin.register(Invitation, site=tenant_admin_site)
class InvitationAdmin(TenantModelAdmin):
    form = InvitationForm
    audit_category = AuditEntry.Category.ROLES
    list_display = ["email", "role", "partner", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role"]
    search_fields = ["email", "partner__name"]
    list_select_related = ["partner", "invited_by"]
    fields = ["email", "role", "partner"]
    actions = ["resend", "revoke"]

    def has_change_permission(self, request: HttpRequest, obj: Invitation | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Invitation, form: forms.ModelForm, change: bool) -> None:
        obj.pk = invitation_create(email=obj.email, role=obj.role, partner=obj.partner, invited_by=request.user).pk

    def log_addition(self, request: HttpRequest, obj: models.Model, message: object) -> None:
        """invitation_create records the invitation, as it does for partner admins inviting from the portal."""

    @admin.action(description=_("Send the selected invitations again"))
    def resend(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        sent = 0
        for invitation in queryset:
            if invitation.is_pending:
                invitation_resend(invitation=invitation)
                self.audit_action(request, invitation, "Sent again")
                sent += 1
        self.message_user(request, _("%(count)s invitation(s) sent again.") % {"count": sent}, messages.SUCCESS)

    @admin.action(description=_("Revoke the selected invitations"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> TemplateResponse | None:
        if page := action_confirm(
            request,
            queryset,
            action="revoke",
            title=_("Revoke invitations"),
            consequences=[_("The links in their emails stop working; the same addresses can be invited again.")],
        ):
            return page
        for invitation in queryset:
            invitation_revoke(invitation=invitation, actor=request.user)  # the service records it
        self.message_user(request, _("Invitations revoked."), messages.SUCCESS)
        return None


@admin.register(ProgramSettings, site=tenant_admin_site)
class ProgramSettingsAdmin(TenantModelAdmin):
    """Program staff edit their own tenant's settings, and only those."""

    form = TenantLogoForm

    fieldsets = [
        (_("Program"), {"fields": ["name", "slug", "currency", "time_zone", "language", "brand_colour", "logo"]}),
        (
            _("Points"),
            {"fields": ["point_value", "points_expiry", "points_expiry_months", "monthly_redemption_budget"]},
        ),
        (
            _("Claims"),
            {
                "fields": [
                    "activity_max_age_days",
                    "activity_max_amount",
                    "claim_review_threshold",
                    "claims_auto_approve",
                ]
            },
        ),
        (_("Points adjustments"), {"fields": ["adjustment_approval_points"]}),
        (_("Joining"), {"fields": ["applications_open"]}),
        (
            _("Finance journal"),
            {
                "fields": [
                    "journal_expense_account",
                    "journal_liability_account",
                    "journal_redemption_account",
                    "journal_breakage_account",
                ]
            },
        ),
    ]
    # The address and the currency of recorded amounts are fixed once the program runs.
    readonly_fields = ["slug", "currency"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProgramSettings]:
        return ProgramSettings.objects.filter(pk=request.tenant.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ProgramSettings | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return redirect("admin:tenancy_programsettings_change", request.tenant.pk)


@admin.register(AuditEntry, site=tenant_admin_site)
class AuditEntryAdmin(ReadOnlyModelAdmin):
    """The tenant's audit log: every change made in this admin, with values before and after, and security events."""

    list_display = ["created_at", "actor", "category", "action", "target_type", "target_repr", "summary"]
    list_filter = ["category", "action", "target_type", "created_at"]
    search_fields = ["target_repr", "summary", "actor__email"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = [
        "created_at",
        "actor",
        "category",
        "action",
        "target_type",
        "target_id",
        "target_repr",
        "summary",
        "ip_address",
        "user_agent",
        "details",
    ]
    readonly_fields = fields

    @admin.display(description=_("Changes"))
    def details(self, entry: AuditEntry) -> str:
        return render_to_string("admin/includes/audit_changes.html", {"entry": entry})


class SignInMethodFilter(admin.SimpleListFilter):
    """Who signed in how: the method the sign-in entry keeps (loyalty/tenancy/signals.py)."""

    title = _("sign-in method")
    parameter_name = "sign_in"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("password", _("Password")),
            ("sso", _("Single sign-on")),
            ("handoff", _("Hand-off from My programs")),
            ("mfa", _("With a second factor")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "mfa":
            return queryset.filter(changes__sign_in__mfa=True)
        if self.value() in {"password", "sso", "handoff"}:
            return queryset.filter(changes__sign_in__method=self.value())
        return queryset


@admin.register(SecurityEvent, site=tenant_admin_site)
class SecurityLogAdmin(AuditEntryAdmin):
    """The security log: sign-ins (and failures), passwords and MFA, roles, API keys, adjustments, tier overrides,
    webhook endpoints; read-only, for program managers and owners, this tenant's entries only."""

    list_display = ["created_at", "category", "actor", "summary", "target_repr", "ip_address"]
    list_filter = ["category", SignInMethodFilter, ("actor", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["summary", "target_repr", "actor__email", "ip_address", "user_agent"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SecurityEvent]:
        return super().get_queryset(request).filter(category__in=SECURITY_CATEGORIES)


@admin.register(PeriodicTask, site=tenant_admin_site)
class ScheduleAdmin(ReadOnlyModelAdmin):
    """The platform's schedules (nightly evaluation, expiry…), shown to program staff; operators edit them
    in the platform admin, since one schedule serves every tenant."""

    list_display = ["name", "task", "schedule", "enabled", "last_run_at"]
    list_select_related = ["crontab", "interval", "solar", "clocked"]
    fields = ["name", "task", "schedule", "enabled", "last_run_at", "description"]
    readonly_fields = fields
    ordering = ["name"]

    @admin.display(description=_("When"))
    def schedule(self, task: PeriodicTask) -> str:
        return str(task.crontab or task.interval or task.solar or task.clocked or "—")
