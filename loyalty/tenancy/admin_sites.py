"""The two admin sites: the platform admin (superusers, bare host) and each tenant's admin (its staff)."""

from collections.abc import Callable
from functools import wraps
from typing import ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Count, Min, QuerySet
from django.db.models.fields.files import FieldFile
from django.forms.models import model_to_dict
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from loyalty.inputs import JSONFormField
from loyalty.tenancy.context import platform_context
from loyalty.tenancy.models import PROGRAM_ROLES, AuditEntry, StatusChange
from loyalty.tenancy.services import audit_record


class AllauthLoginMixin:
    """The admin's sign-in is allauth's, on the same host: one form, with its rate limits and MFA."""

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if request.user.is_authenticated:
            raise PermissionDenied
        return redirect_to_login(request.GET.get("next", reverse("admin:index")), reverse("account_login"))


class PlatformAdminSite(AllauthLoginMixin, admin.AdminSite):
    site_header = _("Tierline platform")
    site_title = _("Tierline platform")
    index_title = _("Tenants and platform settings")

    def has_permission(self, request: HttpRequest) -> bool:
        return getattr(request, "tenant", None) is None and request.user.is_active and request.user.is_superuser

    def admin_view(self, view: Callable, cacheable: bool = False) -> Callable:
        """Superusers' views run in platform mode: deleting a user or a tenant reaches every tenant's rows."""
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def in_platform_mode(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            with platform_context(is_active=self.has_permission(request)):
                return inner(request, *args, **kwargs)

        return in_platform_mode


class TenantAdminSite(AllauthLoginMixin, admin.AdminSite):
    """A tenant's admin at `<tenant host>/admin/`, for its program managers and owners.

    Every model registered here uses its scoped default manager, so lists, forms and foreign-key
    choices only ever show the current tenant's rows.
    """

    site_title = "Tierline"
    index_title = _("Program administration")
    index_template = "admin/tenant_index.html"

    def has_permission(self, request: HttpRequest) -> bool:
        membership = getattr(request, "membership", None)
        return (
            getattr(request, "tenant", None) is not None
            and request.user.is_active
            and membership is not None
            and membership.role in PROGRAM_ROLES
        )

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        context["site_header"] = f"{request.tenant.name} · Tierline" if getattr(request, "tenant", None) else "Tierline"
        return context

    def admin_view(self, view: Callable, cacheable: bool = False) -> Callable:
        """A signed-in user without a staff role here gets 403, not the admin's login form."""
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied
            return inner(request, *args, **kwargs)

        return guarded

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        """The index leads with what waits for a decision, then the tenant's recent changes."""
        context = {
            "review_queues": self.review_queues(request),
            "recent_changes": self.recent_changes(),
            **(extra_context or {}),
        }
        return super().index(request, context)

    def recent_changes(self) -> QuerySet[AuditEntry]:
        """The ten latest audit entries; sign-ins are not changes (the security log lists them)."""
        return AuditEntry.objects.exclude(category=AuditEntry.Category.SIGN_IN).select_related("actor")[:10]

    def review_queues(self, request: HttpRequest) -> list[dict]:
        """Each registered review admin's waiting rows: a count, the oldest's age and a link (one query per queue)."""
        queues = []
        for model, model_admin in self._registry.items():
            if isinstance(model_admin, ReviewActions) and model_admin.has_view_permission(request):
                opts = model._meta
                waiting = model.objects.filter(status=model_admin.pending_status).aggregate(
                    count=Count("pk"), oldest=Min(model_admin.waiting_since)
                )
                queues.append(
                    {
                        "label": opts.verbose_name_plural.capitalize(),
                        "count": waiting["count"],
                        "oldest": waiting["oldest"],
                        "url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
                        + f"?status__exact={model_admin.pending_status}",
                    }
                )
        return sorted(queues, key=lambda queue: queue["label"])


# Named "admin" like the platform site: each lives in its own URLconf, and admin templates reverse "admin:…".
tenant_admin_site = TenantAdminSite(name="admin")


# Values of fields whose name contains one of these words are never written to the audit log.
SECRET_WORDS = ("secret", "password", "token", "hash")


def _audit_value(field: forms.Field | None, value: object) -> object:
    """A field's value as the audit log keeps it: JSON, and readable (names rather than ids)."""
    if isinstance(field, forms.ModelMultipleChoiceField):
        return sorted(str(item) for item in value or [])
    if isinstance(field, forms.ModelChoiceField) and value not in (None, "") and not isinstance(value, models.Model):
        value = field.queryset.filter(pk=value).first()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, FieldFile):
        return value.name or None
    if isinstance(value, list | tuple):
        return [_audit_value(None, item) for item in value]
    return str(value)


def _form_changes(form: forms.BaseForm) -> dict:
    changes = {}
    for name in form.changed_data:
        if any(word in name for word in SECRET_WORDS):
            changes[name] = {"before": "(hidden)", "after": "(hidden)"}
            continue
        field = form.fields.get(name)
        before = _audit_value(field, form.initial.get(name))
        after = _audit_value(field, form.cleaned_data.get(name))
        if before != after:  # fields with callable defaults report a change when their hidden initial is missing
            changes[name] = {"before": before, "after": after}
    return changes


def audit_changes(form: forms.BaseForm, formsets: list) -> dict:
    """What a change form changed: its own fields, and each inline row added, changed or deleted."""
    inlines = []
    for formset in formsets:
        label = str(formset.model._meta.verbose_name)
        deleted = set(map(id, getattr(formset, "deleted_forms", [])))
        for inline_form in formset.forms:
            if id(inline_form) in deleted:
                inlines.append({"model": label, "object": str(inline_form.instance), "action": "deleted"})
            elif inline_form.has_changed():
                action = "added" if inline_form.instance._state.adding or not inline_form.initial else "changed"
                inlines.append(
                    {
                        "model": label,
                        "object": str(inline_form.instance),
                        "action": action,
                        "fields": _form_changes(inline_form),
                    }
                )
    return {"fields": _form_changes(form), "inlines": inlines}


def _snapshot(obj: models.Model) -> dict:
    """Every editable value of a row about to be deleted, as `before` values."""
    values = model_to_dict(obj)
    return {
        name: {"before": "(hidden)" if any(word in name for word in SECRET_WORDS) else _audit_value(None, value)}
        for name, value in values.items()
    }


class ColourInput(forms.TextInput):
    """The browser's colour picker (it always sends #rrggbb) instead of a hex code typed by hand (issue 17, 23)."""

    input_type = "color"


def _friendlier_widgets(db_field: models.Field, kwargs: dict) -> dict:
    """Widgets the tenant admins share: a colour picker for every `…colour` text field."""
    if isinstance(db_field, models.CharField) and db_field.name.endswith("colour"):
        kwargs.setdefault("widget", ColourInput)
    return kwargs


class TenantModelAdmin(admin.ModelAdmin):
    """ModelAdmin for tenant-owned models: permission comes from the member's role, not Django perms.

    Changes go to the tenant's audit log (with values before and after) instead of Django's global LogEntry,
    and an object's history page reads that log.
    """

    object_history_template = "admin/audit_history.html"
    # JSON typed in a form is refused with a field error when PostgreSQL could not store it (issue 17, item 26).
    formfield_overrides: ClassVar = {models.JSONField: {"form_class": JSONFormField}}
    # The audit log's category for this admin's changes and actions (security-relevant admins override it).
    audit_category = AuditEntry.Category.CHANGE

    def formfield_for_dbfield(self, db_field: models.Field, request: HttpRequest, **kwargs) -> forms.Field | None:
        return super().formfield_for_dbfield(db_field, request, **_friendlier_widgets(db_field, kwargs))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.admin_site.has_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.admin_site.has_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        """Django prefills an add form from the query string as given, and a value its widget cannot show
        (`?expires_at=0` for a split date-time) was a 500. Only values their field accepts are kept, as cleaned."""
        initial = super().get_changeform_initial_data(request)
        fields = self.get_form(request).base_fields
        kept = {}
        for name, value in initial.items():
            if name not in fields:
                continue
            try:
                kept[name] = fields[name].clean(value)
            except ValidationError:
                continue
        return kept

    def construct_change_message(self, request: HttpRequest, form: forms.BaseForm, formsets: list, add: bool = False):  # noqa: ANN201
        # Django builds its message from the bound forms just before log_addition/log_change; the values are
        # only there, so they are kept on the request for the log call that follows.
        request.audit_changes = audit_changes(form, formsets)
        return super().construct_change_message(request, form, formsets, add)

    def log_addition(self, request: HttpRequest, obj: models.Model, message: object) -> AuditEntry:
        changes = getattr(request, "audit_changes", {})
        return self._audit(request, obj, action=AuditEntry.Action.CREATE, changes=changes)

    def log_change(self, request: HttpRequest, obj: models.Model, message: object) -> AuditEntry:
        changes = getattr(request, "audit_changes", {})
        return self._audit(request, obj, action=AuditEntry.Action.CHANGE, changes=changes)

    def log_deletions(self, request: HttpRequest, queryset: QuerySet) -> list[AuditEntry]:
        return [
            self._audit(request, obj, action=AuditEntry.Action.DELETE, changes={"fields": _snapshot(obj)})
            for obj in queryset
        ]

    def audit_action(self, request: HttpRequest, obj: models.Model, summary: str) -> AuditEntry:
        """Record an admin action (approve, publish, adjust…) that changed `obj` through a service."""
        return self._audit(request, obj, action=AuditEntry.Action.ACTION, summary=summary)

    def _audit(self, request: HttpRequest, obj: models.Model, **entry: object) -> AuditEntry:
        return audit_record(actor=request.user, target=obj, category=self.audit_category, request=request, **entry)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("History: %(object)s") % {"object": obj},
            "subtitle": None,
            "object": obj,
            "opts": self.opts,
            "entries": AuditEntry.objects.filter(target_type=self.opts.label_lower, target_id=str(obj.pk))
            .select_related("actor")
            .order_by("created_at", "pk"),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.object_history_template, context)


def action_reason(request: HttpRequest, queryset: QuerySet, *, action: str, title: str) -> str | TemplateResponse:
    """For admin actions that need a reason: the reason once confirmed, else the page that asks for it."""
    reason = request.POST.get("reason", "").strip()
    if request.POST.get("confirmed") and reason:
        return reason
    return _action_page(
        request,
        queryset,
        action=action,
        title=title,
        needs_reason=True,
        missing_reason=bool(request.POST.get("confirmed")),
    )


def action_confirm(
    request: HttpRequest, queryset: QuerySet, *, action: str, title: str, consequences: list[str]
) -> TemplateResponse | None:
    """For destructive admin actions (issue 17, item 19): None once confirmed, else the page that asks first."""
    if request.POST.get("confirmed"):
        return None
    return _action_page(request, queryset, action=action, title=title, consequences=consequences)


def _action_page(
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    needs_reason: bool = False,
    missing_reason: bool = False,
    consequences: list[str] | None = None,
) -> TemplateResponse:
    context = {
        **tenant_admin_site.each_context(request),
        "title": title,
        "objects": queryset,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "needs_reason": needs_reason,
        "missing_reason": missing_reason,
        "consequences": consequences or [],
        "opts": queryset.model._meta,
    }
    return TemplateResponse(request, "admin/action_reason.html", context)


class TenantInlineMixin:
    """Inlines of tenant admins: permission comes from the member's role, like TenantModelAdmin."""

    formfield_overrides: ClassVar = {models.JSONField: {"form_class": JSONFormField}}

    def formfield_for_dbfield(self, db_field: models.Field, request: HttpRequest, **kwargs) -> forms.Field | None:
        return super().formfield_for_dbfield(db_field, request, **_friendlier_widgets(db_field, kwargs))

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.admin_site.has_permission(request)


# A decision's success message by its verb (the verb itself goes to the audit log as it is).
DECISIONS_DONE = {
    "approved": _("%(count)s approved."),
    "rejected": _("%(count)s rejected."),
    "fulfilled": _("%(count)s fulfilled."),
}


class ReviewActions:
    """Review queues: approve and reject (with a reason) in bulk from the list, or one row from its page.

    Refusals are reported per row; every decision goes to the audit log. The index counts the rows
    waiting in `pending_status`.
    """

    actions = ["approve", "reject"]
    approve_service: Callable[..., object]
    reject_service: Callable[..., object]
    review_title: str
    pending_status: str
    waiting_since = "created_at"  # the field a waiting row's age counts from
    change_form_template = "admin/review_change_form.html"

    @admin.display(description=_("Waiting"))
    def waited(self, row: models.Model) -> str:
        """How long a row has waited for a decision (the queue's age); blank once decided."""
        return timesince(getattr(row, self.waiting_since)) if row.status == self.pending_status else "—"

    def get_urls(self) -> list:
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/review/",
                self.admin_site.admin_view(require_POST(self.review_view)),
                name=f"{opts.app_label}_{opts.model_name}_review",
            ),
            *super().get_urls(),
        ]

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        # Reviewed rows change only through decisions, so their page has no Save buttons.
        context = {
            "review_pending_status": self.pending_status,
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            **(extra_context or {}),
        }
        return super().changeform_view(request, object_id, form_url, context)

    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """One decision from the row's own page: approve, or reject with a reason."""
        row = get_object_or_404(self.get_queryset(request), pk=object_id)
        decision, reason = request.POST.get("decision"), request.POST.get("reason", "").strip()
        if decision == "approve":
            self._apply(request, [row], "approved", lambda item: self.approve_service(item, request.user))
        elif decision == "reject" and reason:
            reject = self.reject_service
            self._apply(request, [row], "rejected", lambda item: reject(item, request.user, reason), note=reason)
        elif decision == "reject":
            self.message_user(request, _("Give a reason to reject; it is shown to the partner."), messages.ERROR)
        else:
            return HttpResponseBadRequest(_("Unknown decision."))
        opts = self.model._meta
        return redirect(f"admin:{opts.app_label}_{opts.model_name}_change", row.pk)

    def _apply(
        self, request: HttpRequest, queryset: QuerySet, verb: str, service: Callable[[object], object], note: str = ""
    ) -> None:
        done = 0
        for row in queryset:
            try:
                with transaction.atomic():
                    service(row)
                    self.audit_action(request, row, f"{verb.capitalize()}{': ' + note if note else ''}")
                done += 1
            except ValidationError as error:
                self.message_user(request, f"{row}: {' '.join(error.messages)}", messages.ERROR)
        self.message_user(request, DECISIONS_DONE[verb] % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Approve the selected rows"))
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, "approved", lambda row: self.approve_service(row, request.user))

    @admin.action(description=_("Reject the selected rows, with a reason"))
    def reject(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        reason = action_reason(request, queryset, action="reject", title=self.review_title)
        if isinstance(reason, TemplateResponse):
            return reason
        self._apply(
            request, queryset, "rejected", lambda row: self.reject_service(row, request.user, reason), note=reason
        )
        return None


class ReadOnlyModelAdmin(TenantModelAdmin):
    """Rows written only by services (ledger, scores, runs): the admin shows them and never edits them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyInline(TenantInlineMixin, admin.TabularInline):
    """Rows shown under their object and changed elsewhere (by services, or on their own page)."""

    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class HistoryInline(ReadOnlyInline):
    """A read-only status history (who moved it, from what, to what, why, when) under its object."""

    fields = ["created_at", "from_status", "to_status", "actor", "reason_in_words"]
    readonly_fields = fields

    @admin.display(description=_("reason"))
    def reason_in_words(self, obj: StatusChange) -> str:
        return obj.reason_shown
