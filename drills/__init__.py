"""Drills: failure scenarios run against the real stack (PostgreSQL, Redis, gunicorn, Celery worker and beat),
started and stopped by the runner itself on this machine (`make drill`, `python -m drills`)."""
