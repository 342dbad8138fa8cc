"""URLs of the bare platform host: the platform admin for superusers, and health."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from loyalty.tenancy.views import healthz
from portal import programs

urlpatterns = [
    path(
        "",
        TemplateView.as_view(template_name="platform/home.html", extra_context={"base_domain": settings.BASE_DOMAIN}),
    ),
    path("programs/", programs.my_programs, name="my_programs"),
    path("programs/<int:membership_id>/open/", programs.program_open, name="program_open"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]

# Any path under /api/ answers errors in the API's JSON shape; other paths get Django's pages (loyalty/api_shape.py).
handler400 = "loyalty.api_shape.bad_request"
handler403 = "loyalty.api_shape.permission_denied"
handler404 = "loyalty.api_shape.page_not_found"
handler500 = "loyalty.api_shape.server_error"
