"""Test settings: the real settings, configured for speed (not patched in tests)."""

import os

os.environ.setdefault("DEBUG", "true")

from mca.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The log's triggers refuse the DELETE/TRUNCATE a test flush does; these backends lift them for the flush only.
_TEST_BACKENDS = {
    "django.db.backends.sqlite3": "mca.testing.sqlite3",
    "django.db.backends.postgresql": "mca.testing.postgresql",
}
DATABASES["default"]["ENGINE"] = _TEST_BACKENDS.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])  # noqa: F405

# Nothing in a test reaches Partner Center unless it points the client at the simulator (the pc_simulator
# fixture); an accidental call fails fast on the discard port instead of hitting a dev server on :8000.
PARTNER_CENTER_BASE_URL = "http://127.0.0.1:9/no-partner-center-in-this-test"

if DATABASES["default"]["ENGINE"] == "mca.testing.sqlite3":  # noqa: F405
    # A file, not Django's default shared-cache in-memory database: threads in tests (reconcile's pool, the live
    # server) then get their own connections that queue on SQLite's lock for `timeout` seconds, as in
    # production, instead of failing at once with "database table is locked" (shared cache ignores the timeout).
    # WAL lets readers run beside the one writer; durability does not matter for a throwaway database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}  # noqa: F405
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"  # noqa: F405
