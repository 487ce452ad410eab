"""The project: settings per environment, URLs, WSGI/ASGI entry points and the Celery app."""

# Imported with the project so `shared_task` binds to this configured app in every process (web, worker, shell).
from config.celery import app as celery_app

__all__ = ["celery_app"]
