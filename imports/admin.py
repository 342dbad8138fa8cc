"""The CSV import of activities in the tenant admin: upload, dry-run report, import with progress, past imports."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from imports.services import (
    ERRORS_KEPT,
    IMPORT_COLUMNS,
    REQUIRED_COLUMNS,
    import_job_commit,
    import_job_create,
    import_template_csv,
)
from loyalty.exports import csv_download
from loyalty.tenancy.admin_sites import TenantModelAdmin, tenant_admin_site
from partners.models import ImportJob


class ImportUploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file"), help_text=_("UTF-8, comma-separated, with the header row."))
    approve = forms.BooleanField(
        required=False,
        initial=True,
        label=_("Approve and post points"),
        help_text=_("For data from your own systems. Unticked, the activities wait in the review queue."),
    )


@admin.register(ImportJob, site=tenant_admin_site)
class ImportJobAdmin(TenantModelAdmin):
    list_display = ["created_at", "original_name", "created_by", "status", "rows", "new", "skipped", "errors"]
    list_filter = ["status"]
    list_select_related = ["created_by"]
    search_fields = ["original_name"]

    # Short column titles: the list shares the page with the navigation and the filter.
    @admin.display(description=_("Rows"), ordering="total_rows")
    def rows(self, job: ImportJob) -> int:
        return job.total_rows

    @admin.display(description=_("New"), ordering="created_count")
    def new(self, job: ImportJob) -> int:
        return job.created_count

    @admin.display(description=_("Skipped"), ordering="duplicate_count")
    def skipped(self, job: ImportJob) -> int:
        return job.duplicate_count

    @admin.display(description=_("Errors"), ordering="error_count")
    def errors(self, job: ImportJob) -> int:
        return job.error_count

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("template.csv", view(self.template_view), name="partners_importjob_template"),
            path("<int:job_id>/import/", view(require_POST(self.commit_view)), name="partners_importjob_commit"),
            path("<int:job_id>/progress/", view(self.progress_view), name="partners_importjob_progress"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: object) -> dict:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.opts, **extra}

    def _job(self, request: HttpRequest, job_id: object) -> ImportJob:
        """This tenant's job (another tenant's id is a 404, like any unknown id)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            pk = int(job_id)
        except (TypeError, ValueError):
            raise Http404 from None
        return get_object_or_404(self.get_queryset(request).select_related("created_by"), pk=pk)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                job = import_job_create(
                    file=form.cleaned_data["file"], actor=request.user, approve=form.cleaned_data["approve"]
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                self.audit_action(request, job, f"Uploaded {job.original_name} ({job.total_rows} rows)")
                return redirect(reverse("admin:partners_importjob_change", args=[job.pk]))
        context = self._context(
            request,
            _("Import activities from a CSV file"),
            form=form,
            columns=IMPORT_COLUMNS,
            required_columns=REQUIRED_COLUMNS,
        )
        return TemplateResponse(request, "admin/partners/import_upload.html", context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        job = self._job(request, object_id)
        context = self._context(
            request, job.original_name, job=job, columns=IMPORT_COLUMNS, errors_kept=ERRORS_KEPT, original=job
        )
        return TemplateResponse(request, "admin/partners/import_job.html", context)

    def progress_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        """The progress bar, polled by htmx while the job runs; the whole page reloads once it has finished."""
        job = self._job(request, job_id)
        if request.htmx and not job.is_running:
            return HttpResponseClientRefresh()
        return TemplateResponse(request, "admin/partners/import_job.html#progress", {"job": job})

    def commit_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self._job(request, job_id)
        try:
            job = import_job_commit(job=job)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            self.audit_action(request, job, f"Imported {job.original_name}")
            if job.status == ImportJob.Status.DONE:
                self.message_user(
                    request,
                    _("Import done: %(created)s created, %(duplicates)s already there, %(errors)s with errors.")
                    % {"created": job.created_count, "duplicates": job.duplicate_count, "errors": job.error_count},
                    messages.SUCCESS,
                )
        return redirect(reverse("admin:partners_importjob_change", args=[job.pk]))

    def template_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return csv_download(import_template_csv(), filename="activities-template.csv")
