"""The Django project: settings, root URLs, the Celery app, and the kernel (`core`) every app builds on."""

from lifecycle.celery import app as celery_app

__all__ = ["celery_app"]
