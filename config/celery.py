"""The Celery application. Without CELERY_BROKER_URL tasks run in-process (eager)."""

import os

from celery import Celery

# Workers and beat run production unless told otherwise (the README sets local for a laptop).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("mca")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Celery's "current app" is thread-local: without a default, `shared_task.delay()` called from a thread other
# than the one that imported this module (a threaded web server, a worker pool) would use an unconfigured
# fallback app and try to publish to a broker on localhost.
app.set_default()
