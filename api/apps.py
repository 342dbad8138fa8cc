"""The REST API app: API keys, idempotency records, and the /api/v1/ endpoints."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    verbose_name = _("API")

    def ready(self) -> None:
        # Deletes past the API keys' own delete (cascades; a key's author set to NULL when the user goes) bump the
        # cached keys as every cached model's do (loyalty.tenancy.caching.deletes_connect).
        from api import schema  # noqa: F401 - registers the API key scheme with drf-spectacular
