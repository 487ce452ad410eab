"""The project package and the shared MCA acceptance app."""

from mca.celery import app as celery_app

__all__ = ["celery_app"]
