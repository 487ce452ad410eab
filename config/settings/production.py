"""Production (wsgi, asgi, Celery and the container's default): refuses to start on an unsafe environment.

Every refusal is an ImproperlyConfigured raised while the settings load, so a bad deployment fails at start-up
with one clear message instead of serving with a guessable key, a silently chosen Partner Center, or tasks that
a restart would lose.
"""

import importlib.util
import os

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import (
    _CELERY_BROKER_URL,
    DEV_CHECKPOINT_SIGNING_KEY,
    DEV_LOG_HMAC_KEYS,
    INSTALLED_APPS,
    MCA_CHECKPOINT_DIR,
    MCA_CHECKPOINT_SIGNING_KEY,
    MCA_LOG_HMAC_KEY_ID,
    MCA_LOG_HMAC_KEYS,
    PARTNER_CENTER_CLIENT_ID,
    PARTNER_CENTER_CLIENT_SECRET,
    PARTNER_CENTER_MODE,
    PARTNER_CENTER_TENANT_ID,
    SIMULATOR_APPS,
    checkpoint_signing_seed,
    env,
    log_hmac_keys,
    require_log_keys,
)

# Not read from the environment: a debug page in production leaks settings and data.
DEBUG = False

# --- Secret key: the same bar as Django's own deploy check (security.W009), enforced at start-up ---
SECRET_KEY = env.str("SECRET_KEY", default="")
if (
    len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
    or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
    or SECRET_KEY.startswith(SECRET_KEY_INSECURE_PREFIX)
):
    raise ImproperlyConfigured(
        f"SECRET_KEY must be set to a random value of at least {SECRET_KEY_MIN_LENGTH} characters, not starting "
        f"with {SECRET_KEY_INSECURE_PREFIX!r} (generate one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )

# --- Partner Center: chosen on purpose, never by default ---
# os.environ also holds what an optional .env file set (base.py reads it into the environment).
if not os.environ.get("PARTNER_CENTER_MODE"):
    raise ImproperlyConfigured(
        "PARTNER_CENTER_MODE must be set explicitly in production: 'live' (Microsoft Partner Center) or "
        "'simulator' (the built-in stand-in, for a non-production deployment only)."
    )
if PARTNER_CENTER_MODE == "live":
    _missing = [
        name
        for name, value in (
            ("PARTNER_CENTER_TENANT_ID", PARTNER_CENTER_TENANT_ID),
            ("PARTNER_CENTER_CLIENT_ID", PARTNER_CENTER_CLIENT_ID),
            ("PARTNER_CENTER_CLIENT_SECRET", PARTNER_CENTER_CLIENT_SECRET),
        )
        if not value
    ]
    if _missing:
        raise ImproperlyConfigured(f"PARTNER_CENTER_MODE=live needs {', '.join(_missing)}.")
else:
    # A staging deployment that chose the simulator explicitly gets it installed and routed; live never does.
    INSTALLED_APPS = [*INSTALLED_APPS, *SIMULATOR_APPS]
    PARTNER_CENTER_SIMULATOR_ENABLED = True

# --- Celery: a broker is required ---
# Without one, tasks run in-process: a delivery to Partner Center that is queued when the process restarts is lost.
if not _CELERY_BROKER_URL:
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL must be set in production (e.g. redis://redis:6379/0): without a broker, tasks run "
        "in the web process and deliveries in flight are lost on a restart."
    )

# --- Acceptance log keys: required, never the development ones (they are in the source) ---
require_log_keys(MCA_LOG_HMAC_KEYS, MCA_LOG_HMAC_KEY_ID)
_dev_keys = set(log_hmac_keys(DEV_LOG_HMAC_KEYS).values())
if any(key in _dev_keys for key in MCA_LOG_HMAC_KEYS.values()):
    raise ImproperlyConfigured("MCA_LOG_HMAC_KEYS holds the development key from the source: generate a real one.")
if not MCA_CHECKPOINT_SIGNING_KEY:
    raise ImproperlyConfigured(
        "MCA_CHECKPOINT_SIGNING_KEY must be set: checkpoints of the acceptance log are signed with it (base64 of a "
        "32-byte Ed25519 seed: python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32))"
        ".decode())')."
    )
if checkpoint_signing_seed(DEV_CHECKPOINT_SIGNING_KEY) == MCA_CHECKPOINT_SIGNING_KEY:
    raise ImproperlyConfigured("MCA_CHECKPOINT_SIGNING_KEY is the development key from the source: generate one.")

# Checkpoints go where neither the database nor the application can rewrite them: an S3-compatible bucket with
# Object Lock, each object locked in COMPLIANCE mode for MCA_CHECKPOINT_RETENTION_DAYS (django-storages,
# `pip install "mca-acceptance[s3]"`). Write-once files in MCA_CHECKPOINT_DIR only when chosen explicitly
# (MCA_CHECKPOINT_STORAGE=folder): the application's OS user can delete them.
MCA_CHECKPOINT_STORAGE = env.str("MCA_CHECKPOINT_STORAGE", default="s3")
MCA_CHECKPOINT_S3_BUCKET = env.str("MCA_CHECKPOINT_S3_BUCKET", default="")
MCA_CHECKPOINT_S3_ENDPOINT_URL = env.str("MCA_CHECKPOINT_S3_ENDPOINT_URL", default="")
MCA_CHECKPOINT_RETENTION_DAYS = env.int("MCA_CHECKPOINT_RETENTION_DAYS", default=3650)
if MCA_CHECKPOINT_STORAGE not in ("s3", "folder"):
    raise ImproperlyConfigured(f"MCA_CHECKPOINT_STORAGE must be 's3' or 'folder', not {MCA_CHECKPOINT_STORAGE!r}.")
if MCA_CHECKPOINT_STORAGE == "s3":
    if not MCA_CHECKPOINT_S3_BUCKET:
        raise ImproperlyConfigured(
            "MCA_CHECKPOINT_S3_BUCKET must be set: checkpoints of the acceptance log go to an S3 bucket with Object "
            "Lock (compliance mode), out of the application's reach. Set MCA_CHECKPOINT_STORAGE=folder to keep them "
            "in MCA_CHECKPOINT_DIR instead (the application's own user can delete those)."
        )
    if importlib.util.find_spec("storages") is None or importlib.util.find_spec("boto3") is None:
        raise ImproperlyConfigured(
            "MCA_CHECKPOINT_S3_BUCKET needs django-storages with boto3: pip install 'mca-acceptance[s3]'."
        )
    _CHECKPOINT_STORAGE = {
        "BACKEND": "mca.checkpoint_s3.ObjectLockS3Storage",
        "OPTIONS": {
            "bucket_name": MCA_CHECKPOINT_S3_BUCKET,
            "endpoint_url": MCA_CHECKPOINT_S3_ENDPOINT_URL or None,
            "retention_days": MCA_CHECKPOINT_RETENTION_DAYS,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    _CHECKPOINT_STORAGE = {
        "BACKEND": "mca.checkpoints.WriteOnceFileSystemStorage",
        "OPTIONS": {"location": MCA_CHECKPOINT_DIR, "file_permissions_mode": 0o444},
    }

# --- Static files: compressed, with hashed names (collected into the image by the Dockerfile) ---
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "mca_checkpoints": _CHECKPOINT_STORAGE,
}

# --- Security (a TLS-terminating proxy in front sets X-Forwarded-Proto) ---
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
