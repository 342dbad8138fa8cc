from django.contrib.admin.apps import AdminConfig


class PlatformAdminConfig(AdminConfig):
    """Django's default admin site, restricted to platform operators (superusers)."""

    default_site = "loyalty.tenancy.admin_sites.PlatformAdminSite"
