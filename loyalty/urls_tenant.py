"""URLs of a tenant's host: the API, the portal, sign-in, invitations, and the tenant's admin."""

from django.urls import include, path

from loyalty.tenancy.admin_sites import tenant_admin_site
from loyalty.tenancy.views import handoff_accept, healthz, invitation_detail, tenant_logo
from partners.views import activity_evidence

urlpatterns = [
    path("api/v1/", include("api.urls")),
    path("", include("portal.urls")),
    path("accounts/handoff/", handoff_accept, name="handoff_accept"),
    path("accounts/", include("allauth.urls")),
    path("admin/", tenant_admin_site.urls),
    path("invitations/<str:token>/", invitation_detail, name="invitation"),
    path("evidence/<int:activity_id>/", activity_evidence, name="activity_evidence"),
    path("branding/logo/", tenant_logo, name="tenant_logo"),
    path("healthz", healthz, name="healthz"),
]

# Any path under /api/ answers errors in the API's JSON shape; other paths get Django's pages (loyalty/api_shape.py).
handler400 = "loyalty.api_shape.bad_request"
handler403 = "loyalty.api_shape.permission_denied"
handler404 = "loyalty.api_shape.page_not_found"
handler500 = "loyalty.api_shape.server_error"
