"""The REST API app: API keys, idempotency records, and the /api/v1/ endpoints."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    verbose_name = _("API")

    def ready(self) -> None:
        from django.conf import settings
        from django.db.models.signals import post_delete

        from api import schema  # noqa: F401 - registers the API key scheme with drf-spectacular
        from api.models import ApiKey

        # Deletes that bypass the models' own delete (cascades; a key's author set to NULL when the user goes) bump
        # the cached keys too, so no request acts with a deleted key or as a deleted author.
        post_delete.connect(_api_keys_changed, sender=ApiKey, dispatch_uid="api_keys_deleted")
        post_delete.connect(_api_keys_changed, sender=settings.AUTH_USER_MODEL, dispatch_uid="api_key_author_deleted")


def _api_keys_changed(sender: type, using: str, **kwargs: object) -> None:
    from api.models import ApiKey
    from loyalty.tenancy.caching import generation_bump

    generation_bump(using=using, family=ApiKey.cache_family)
