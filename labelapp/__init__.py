"""Earmark's core: settings, the Celery app, projects, clips, annotations and imports."""

from labelapp.celery import app as celery_app

__all__ = ["celery_app"]
