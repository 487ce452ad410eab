"""Test settings (pytest's DJANGO_SETTINGS_MODULE): the shared settings, configured for speed and isolation,
not patched in tests. The simulator and the demo data are installed as in local."""

import os
import tempfile
from pathlib import Path

from config.settings.base import *  # noqa: F403
from config.settings.base import (
    BASE_DIR,
    DATABASES,
    DEMO_APPS,
    DEV_CHECKPOINT_SIGNING_KEY,
    DEV_LOG_HMAC_KEYS,
    INSTALLED_APPS,
    SIMULATOR_APPS,
    STORAGES,
    checkpoint_signing_seed,
    log_hmac_keys,
)

DEBUG = False
SECRET_KEY = "django-insecure-test-only-key"
# Tests sign users in with force_login; the second factor's own tests turn it on (tests/setup/test_mfa.py).
MCA_REQUIRE_MFA = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

INSTALLED_APPS = [*INSTALLED_APPS, *SIMULATOR_APPS, *DEMO_APPS]
# Tests run against the simulator whatever a developer's shell or .env says about Partner Center.
PARTNER_CENTER_MODE = "simulator"
PARTNER_CENTER_SIMULATOR_ENABLED = True
# Nothing in a test reaches Partner Center unless it points the client at the simulator (the pc_simulator
# fixture); an accidental call fails fast on the discard port instead of hitting a dev server on :8000.
PARTNER_CENTER_BASE_URL = "http://127.0.0.1:9/no-partner-center-in-this-test"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True

# The log's triggers refuse the DELETE/TRUNCATE a test flush does; these backends lift them for the flush only.
_TEST_BACKENDS = {
    "django.db.backends.sqlite3": "mca.testing.sqlite3",
    "django.db.backends.postgresql": "mca.testing.postgresql",
}
DATABASES["default"]["ENGINE"] = _TEST_BACKENDS.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])

if DATABASES["default"]["ENGINE"] == "mca.testing.sqlite3":
    # A file, not Django's default shared-cache in-memory database: threads in tests (reconcile's pool, the live
    # server) then get their own connections that queue on SQLite's lock for `timeout` seconds, as in
    # production, instead of failing at once with "database table is locked" (shared cache ignores the timeout).
    # WAL lets readers run beside the one writer; durability does not matter for a throwaway database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"

# The acceptance log's keys are the fixed development keys, whatever the shell says, so hashes and MACs in tests
# are reproducible; checkpoints go to a temporary folder of this test session (tests that write checkpoints
# give themselves a folder of their own).
MCA_LOG_HMAC_KEYS = log_hmac_keys(DEV_LOG_HMAC_KEYS)
MCA_LOG_HMAC_KEY_ID = "dev"
MCA_CHECKPOINT_SIGNING_KEY = checkpoint_signing_seed(DEV_CHECKPOINT_SIGNING_KEY)
MCA_CHECKPOINT_PUBLIC_KEYS = []
MCA_LOG_ID = "mca-test-log"
# Tests sign checkpoints themselves (or turn this on): an eager task after each confirmation would sign in every one.
MCA_CHECKPOINT_AFTER_COMMIT = False
MCA_CHECKPOINT_DIR = str(Path(tempfile.gettempdir()) / f"mca-test-checkpoints-{os.getpid()}")
STORAGES = {
    **STORAGES,
    "mca_checkpoints": {**STORAGES["mca_checkpoints"], "OPTIONS": {"location": MCA_CHECKPOINT_DIR}},
}

# Tests accept a signatory's link and check at once; the one test of the rate limit sets it itself.
MCA_ATTESTATION_MIN_CHECK_SECONDS = 0.0

# Webhook receivers in tests are played by `responses` on plain http.
WEBHOOKS_ALLOW_HTTP = True
# Tests that count the e-mails of a flow count the signatory's; the hold notice's own tests turn it on
# (tests/webhooks/test_hold_notice.py).
BSS_HOLD_NOTICE = False
