"""The Tierline project package: settings, URLs, the Celery app and the platform core."""

from loyalty.celery import app as celery_app

__all__ = ["celery_app"]
