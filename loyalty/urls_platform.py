"""URLs of the bare platform host: the platform admin for superusers, and health."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from loyalty.tenancy.views import healthz

urlpatterns = [
    path(
        "",
        TemplateView.as_view(template_name="platform/home.html", extra_context={"base_domain": settings.BASE_DOMAIN}),
    ),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
