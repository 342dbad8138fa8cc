"""The REST API app: API keys, idempotency records, and the /api/v1/ endpoints."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from api import schema  # noqa: F401 - registers the API key scheme with drf-spectacular
