"""Settings shared by every environment (cookiecutter-django's layout).

Everything that differs between a laptop and production comes from the environment (12-factor, read with
django-environ). The environment itself is chosen by DJANGO_SETTINGS_MODULE, never by DEBUG:
`config.settings.local` (manage.py's default: the demo with the built-in Partner Center simulator),
`config.settings.test` (pytest) and `config.settings.production` (wsgi, asgi, Celery and the container), which
refuses to start on an unsafe environment. This module alone is not meant to be loaded.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.broker import transport_for

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# An optional .env file for local overrides; the real environment always wins.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core ---
# DEBUG and SECRET_KEY are set by each environment's module: production never takes DEBUG from the environment
# and has no default key.
DEBUG = False
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_countries",
    "phonenumber_field",
    "pgtrigger",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "mca",
    "bss",
    "storefront",
    "partner_center",
    "api",
    "webhooks",
]
# Installed by the local and test settings only (and by a production-settings deployment that runs the
# simulator explicitly): the Partner Center stand-in and the demo data are not part of production.
SIMULATOR_APPS = ["partner_center.simulator"]
DEMO_APPS = ["demo"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.AccountLanguageMiddleware",
    # A second factor (config/mfa.py): django-otp marks the verified session, ours sends the unverified away.
    "django_otp.middleware.OTPMiddleware",
    "config.mfa.MfaRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page (docs/security.md).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes SQLite's write lock at BEGIN, so concurrent writers queue instead of failing with
    # "database is locked" halfway through a transaction; the timeout is how long they queue.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ---
REDIS_URL = env.str("REDIS_URL", default="")
# Every key this deployment writes to Redis (cache and broker) starts with it, so that deployments sharing a Redis
# database cannot read or consume each other's keys (each drill stack has its own; README "Settings").
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": REDIS_KEY_PREFIX}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "mca"}}

# --- Auth ---
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# --- Second factor (django-otp, TOTP; config/mfa.py, docs/security.md) ---
# Required of admins, staff and everyone who may confirm on a customer's behalf. On by default; the local demo
# (config/settings/local.py) turns it off unless MCA_REQUIRE_MFA=true is set.
MCA_REQUIRE_MFA = env.bool("MCA_REQUIRE_MFA", default=True)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="MCA acceptance")

# --- Sign-in lockout (django-axes; docs/security.md) ---
# Every path that checks a password goes through `authenticate(request=...)`: /accounts/login/, /admin/login/, the
# store's sign-in and the API's basic auth for tokens (api.authentication). Axes' backend refuses a locked user name
# before the password is even checked. Locked per user name (not per IP: behind a proxy every client shares one);
# the lock lifts after AXES_COOLOFF_HOURS, or at once by staff (`manage.py axes_reset_username <name>`, or deleting
# the attempt in the setup area's "Access attempts").
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"
# axes.W006 wants the IP in the lockout key against attackers rotating user agents or cookies; a key of the user name
# alone does not change with either, and an IP key would lock every client out together behind the proxy.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# --- I18N ---
LANGUAGE_CODE = "en-us"
# The interface languages: a customer's pages, the MCA step and its e-mails follow the account's language
# (config.middleware.AccountLanguageMiddleware); other users get their browser's choice among these.
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
# Compiled catalogues are committed beside their .po files, so a fresh machine needs no gettext tools.
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Production swaps in WhiteNoise's compressed, hashed storage (it needs `collectstatic` first).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Security (the HTTPS, cookie and HSTS protections are turned on in production.py) ---
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy (django-csp; docs/security.md) ---
# Scripts only from this site, or inline with the request's nonce (`<script nonce="{{ request.csp_nonce }}">`;
# tests/test_csp.py refuses an inline script without it). Styles likewise: the templates' <style> blocks carry the
# nonce and nothing uses a style attribute (no nonce can allow one), so no 'unsafe-inline'. The one exception is
# scoped to ReDoc's page (config/urls.py, csp_replace): its bundle adds <style> elements at run time. Frames: this
# site (the Partner Center simulator's page) and the origins in
# CSP_FRAME_SRC; the checkout adds the origin of the Microsoft page it embeds. ReDoc builds its search worker from a
# blob: URL.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-src": [SELF, *env.list("CSP_FRAME_SRC", default=[])],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    }
}

# --- REST API (the api app; README "API") ---
# Token first: an unauthenticated call answers 401 with `WWW-Authenticate: Token`. Session calls need CSRF.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["api.renderers.HtmlSafeJSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Cursor",
    "EXCEPTION_HANDLER": "api.errors.problem_exception_handler",
    # Per user (all its sessions and tokens) and per token; counted in the default cache (Redis in production).
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.PerUserThrottle", "api.throttling.PerTokenThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="1200/minute"),
        "token": env.str("API_THROTTLE_TOKEN", default="600/minute"),
        # The log's public witness endpoints (/.well-known/mca-log/), per client address: a witness's run reads the
        # publication, the list and each listed checkpoint file (up to 1,000), then a few pages of links.
        "mca-log": env.str("MCA_LOG_THROTTLE", default="6000/hour"),
        "mca-log-links": env.str("MCA_LOG_LINKS_THROTTLE", default="120/hour"),
    },
    # Client addresses for throttling: REMOTE_ADDR, or behind this many proxies the X-Forwarded-For entry they add.
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=None),
}
API_IDEMPOTENCY_TTL_HOURS = env.int("API_IDEMPOTENCY_TTL_HOURS", default=24)
# A key whose first request has not answered after this long was left by a request that died: the next takes it over.
API_IDEMPOTENCY_IN_PROGRESS_SECONDS = env.int("API_IDEMPOTENCY_IN_PROGRESS_SECONDS", default=120)
SPECTACULAR_SETTINGS = {
    "TITLE": "MCA acceptance API",
    "DESCRIPTION": "Microsoft Customer Agreement acceptance: status, confirmations, orders.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc are served from drf-spectacular-sidecar's static files, not a CDN: the docs work
    # offline and the pages load no third-party script.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["api.schema.only_api_paths"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums"],
    # Two fields are called "code": a problem's and a customer's MCA state (`mca_state.code`).
    "ENUM_NAME_OVERRIDES": {
        "CodeEnum": "api.schema.PROBLEM_CODES",
        "McaStateCodeEnum": "mca.state.McaState",
        "WebhookEventTypeEnum": "webhooks.models.EventType",
    },
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ---
# No broker configured = tasks run in-process (eager), which is what `make run` uses; production refuses it.
_CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not _CELERY_BROKER_URL
# Eager tasks still pass through a producer to serialise their arguments: an in-memory transport keeps that
# from looking for a broker. It names a host because kombu otherwise warns "No hostname was supplied.
# Reverting to default 'localhost'" on every first task of a process (the in-memory transport ignores it).
CELERY_BROKER_URL = _CELERY_BROKER_URL or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Plain Redis: kombu's Redis transport with one client per channel instead of one per message (config.broker).
CELERY_BROKER_TRANSPORT = transport_for(_CELERY_BROKER_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
if REDIS_KEY_PREFIX:
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = REDIS_KEY_PREFIX
CELERY_TIMEZONE = "UTC"

# --- Partner Center ---
PARTNER_CENTER_MODE = env.str("PARTNER_CENTER_MODE", default="simulator")
if PARTNER_CENTER_MODE not in {"simulator", "live"}:
    raise ImproperlyConfigured("PARTNER_CENTER_MODE must be 'simulator' or 'live'.")
# Whether this process installs and routes the built-in simulator: each environment's module decides.
PARTNER_CENTER_SIMULATOR_ENABLED = False
PARTNER_CENTER_BASE_URL = env.str(
    "PARTNER_CENTER_BASE_URL",
    default="http://127.0.0.1:8000/simulator/partner-center"
    if PARTNER_CENTER_MODE == "simulator"
    else "https://api.partnercenter.microsoft.com",
)
PARTNER_CENTER_TENANT_ID = env.str("PARTNER_CENTER_TENANT_ID", default="")
PARTNER_CENTER_CLIENT_ID = env.str("PARTNER_CENTER_CLIENT_ID", default="")
PARTNER_CENTER_CLIENT_SECRET = env.str("PARTNER_CENTER_CLIENT_SECRET", default="")
# The Secure Application Model refresh token (App+User calls); obtained once with `partner_center_login`.
PARTNER_CENTER_REFRESH_TOKEN = env.str("PARTNER_CENTER_REFRESH_TOKEN", default="")
PARTNER_CENTER_AUTHORITY_HOST = env.str("PARTNER_CENTER_AUTHORITY_HOST", default="https://login.microsoftonline.com")
PARTNER_CENTER_CONNECT_TIMEOUT = env.float("PARTNER_CENTER_CONNECT_TIMEOUT", default=3.05)
PARTNER_CENTER_READ_TIMEOUT = env.float("PARTNER_CENTER_READ_TIMEOUT", default=10.0)
# Total time one logical call may spend on retries (connection errors, 5xx, 429 with Retry-After).
PARTNER_CENTER_RETRY_BUDGET = env.float("PARTNER_CENTER_RETRY_BUDGET", default=20.0)
PARTNER_CENTER_CACHE_TTL = env.int("PARTNER_CENTER_CACHE_TTL", default=3600)
# Partner Center's shared health (docs/partner-center-health.md): after this many transport failures in a row the
# circuit opens, and every process's calls fail at once for the open time, then one trial call decides (0 = off).
# Shared across processes through the cache: set REDIS_URL wherever several processes run.
PARTNER_CENTER_BREAKER_FAILURES = env.int("PARTNER_CENTER_BREAKER_FAILURES", default=5)
PARTNER_CENTER_BREAKER_OPEN_SECONDS = env.float("PARTNER_CENTER_BREAKER_OPEN_SECONDS", default=30.0)
# The first open period; each failed trial doubles it up to PARTNER_CENTER_BREAKER_OPEN_SECONDS (partner_center.health).
PARTNER_CENTER_BREAKER_FIRST_OPEN_SECONDS = env.float("PARTNER_CENTER_BREAKER_FIRST_OPEN_SECONDS", default=5.0)
# Our own limit on calls to Partner Center, one moving window shared by every process (partner_center.ratelimit), in
# `limits`' notation: "50/second", "3000/minute". Empty: none (Microsoft's 429 and Retry-After still pause everyone).
PARTNER_CENTER_RATE_LIMIT = env.str("PARTNER_CENTER_RATE_LIMIT", default="")
# How much longer our window is than that limit's period (0.1: N calls per 1.1 s for "N/second"): the time between
# taking a slot and the call reaching Microsoft varies, and calls spread evenly here must not arrive bunched there.
PARTNER_CENTER_RATE_LIMIT_MARGIN = env.float("PARTNER_CENTER_RATE_LIMIT_MARGIN", default=0.1)
# Where that window lives: Redis wherever several processes run ("memory://" is per process).
PARTNER_CENTER_RATE_LIMIT_STORAGE = env.str("PARTNER_CENTER_RATE_LIMIT_STORAGE", default=REDIS_URL or "memory://")
# The simulator's own limit, playing Microsoft's (same notation; empty: unlimited). Calls over it get 429 with
# Retry-After and are counted as "over_limit" in its call counts.
PARTNER_CENTER_SIMULATOR_RATE_LIMIT = env.str("PARTNER_CENTER_SIMULATOR_RATE_LIMIT", default="")
# Token readiness (partner_center_check, the BSS banner): how long one check is reused before a new token is asked.
PARTNER_CENTER_TOKEN_CHECK_SECONDS = env.float("PARTNER_CENTER_TOKEN_CHECK_SECONDS", default=900.0)

# --- MCA rules ---
# R4: a Microsoft Cloud Agreement accepted before this moment still counts; after it only the MCA does.
MCA_CLOUD_AGREEMENT_CUTOFF = env.str("MCA_CLOUD_AGREEMENT_CUTOFF", default="2020-02-01T00:00:00Z")
# R4a: partner attestations dated before this day stop counting (empty = count every attestation).
MCA_ATTESTATION_MIN_DATE = env.str("MCA_ATTESTATION_MIN_DATE", default="2023-04-01")
# How long the checkout may wait for Partner Center before showing the form instead.
MCA_STATUS_TIME_BUDGET = env.float("MCA_STATUS_TIME_BUDGET", default=3.0)
# How long Partner Center's answer that a synced customer has not accepted is reused before asking it again
# ("Check now" asks at once; 0 = ask on every check). A positive answer is remembered for good instead.
MCA_NOT_ACCEPTED_TTL = env.int("MCA_NOT_ACCEPTED_TTL", default=300)
# Setup area: how long a filtered log page may spend counting before it shows an estimate instead.
MCA_ADMIN_COUNT_TIMEOUT_MS = env.int("MCA_ADMIN_COUNT_TIMEOUT_MS", default=50)
# A delivery left in "sending" this long was abandoned by a worker that died: the sweeper takes it over (it asks
# Partner Center first). Above the longest claim of a live worker: four calls of PARTNER_CENTER_RETRY_BUDGET.
MCA_DELIVERY_SENDING_LEASE_SECONDS = env.float("MCA_DELIVERY_SENDING_LEASE_SECONDS", default=120.0)
# With a broker: the deliveries committed within this many seconds are handed to the sender by one task, not a Celery
# message each (0: a message per delivery, at once). A delivery reaches Partner Center at most this much later.
MCA_DELIVERY_HANDOVER_SECONDS = env.float("MCA_DELIVERY_HANDOVER_SECONDS", default=1.0)
# mca_reconcile: questions to Partner Center in flight at once, and the pause after a throttled answer
# (doubling up to the maximum).
MCA_RECONCILE_CONCURRENCY = env.int("MCA_RECONCILE_CONCURRENCY", default=4)
MCA_RECONCILE_THROTTLE_PAUSE = env.float("MCA_RECONCILE_THROTTLE_PAUSE", default=2.0)
MCA_RECONCILE_THROTTLE_MAX_PAUSE = env.float("MCA_RECONCILE_THROTTLE_MAX_PAUSE", default=60.0)
# Re-checks on Celery workers (mca.recheck): customers verified at Partner Center longer ago than this many days are
# asked again along with the unknown and pending ones (0: only those).
MCA_RECHECK_MAX_AGE_DAYS = env.float("MCA_RECHECK_MAX_AGE_DAYS", default=30.0)
# Accounts per chunk task.
MCA_RECHECK_CHUNK_SIZE = env.int("MCA_RECHECK_CHUNK_SIZE", default=200)
# How long a worker holds an account it is asking about; a killed worker's account is asked again after it.
MCA_RECHECK_CLAIM_SECONDS = env.float("MCA_RECHECK_CLAIM_SECONDS", default=120.0)
# A run with nothing answered for this long while accounts are left is resumed (its chunks queued again).
MCA_RECHECK_STALL_SECONDS = env.float("MCA_RECHECK_STALL_SECONDS", default=300.0)
# Beat starts a re-check of stale customers this often (seconds; 0: never, run `mca_reconcile --workers` instead).
MCA_RECHECK_EVERY_SECONDS = env.float("MCA_RECHECK_EVERY_SECONDS", default=0.0)
# How Microsoft is told: "enhanced" (its enhanced attestation, the only partner path since 2026-01-05) or "legacy"
# (the one-step partner confirmation, for installations and records from before then). See mca/attestation/.
MCA_ATTESTATION_FLOW = env.str("MCA_ATTESTATION_FLOW", default="enhanced")
if MCA_ATTESTATION_FLOW not in ("enhanced", "legacy"):
    raise ImproperlyConfigured(f"MCA_ATTESTATION_FLOW must be 'enhanced' or 'legacy', not {MCA_ATTESTATION_FLOW!r}.")
# Enhanced flow: first wait before asking Microsoft whether a signatory accepted (doubling up to an hour).
# Acceptance campaigns (docs/campaigns.md): days before a reminder (a campaign may set its own), reminders per
# signatory, new links per account after expiry, a worker's hold on a send, attempts before "failed".
CAMPAIGN_REMINDER_DAYS = env.int("CAMPAIGN_REMINDER_DAYS", default=3)
CAMPAIGN_MAX_REMINDERS = env.int("CAMPAIGN_MAX_REMINDERS", default=2)
CAMPAIGN_MAX_REISSUES = env.int("CAMPAIGN_MAX_REISSUES", default=3)
CAMPAIGN_SEND_LEASE_SECONDS = env.float("CAMPAIGN_SEND_LEASE_SECONDS", default=300.0)
CAMPAIGN_MAX_ATTEMPTS = env.int("CAMPAIGN_MAX_ATTEMPTS", default=5)
CAMPAIGN_RETRY_SECONDS = env.float("CAMPAIGN_RETRY_SECONDS", default=60.0)
MCA_ATTESTATION_POLL_SECONDS = env.float("MCA_ATTESTATION_POLL_SECONDS", default=60.0)
# "Check now" and the checkout's light poll ask Microsoft about one link at most this often, however many pages ask.
MCA_ATTESTATION_MIN_CHECK_SECONDS = env.float("MCA_ATTESTATION_MIN_CHECK_SECONDS", default=5.0)

# --- Acceptance log evidence (R7: tamper-evident also against someone who can write the database) ---
# The keys live here, never in the database: the per-record MAC keys (HMAC-SHA256) and the Ed25519 seed that
# signs checkpoints of the chain head. Each environment's module decides what happens when they are missing:
# local and test use the fixed development keys below, production refuses to start.
# Development keys, public on purpose (they are in the source): production refuses them.
DEV_LOG_HMAC_KEYS = "dev=ZGV2LW9ubHktbWNhLWxvZy1obWFjLWtleS0wMDAwMDAwMDA="
DEV_CHECKPOINT_SIGNING_KEY = "ZGV2LW9ubHktbWNhLWNoZWNrcG9pbnQtc2VlZC0wMDA="
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,32}$")


def _base64_key(name: str, text: str, *, exact: int | None = None, minimum: int = 32) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if (exact is not None and len(key) != exact) or len(key) < minimum:
        size = f"exactly {exact}" if exact is not None else f"at least {minimum}"
        raise ImproperlyConfigured(
            f"{name} must be base64 of {size} random bytes "
            "(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')."
        )
    return key


def log_hmac_keys(raw: str) -> dict[str, bytes]:
    """MCA_LOG_HMAC_KEYS: "k2026=<base64 32 bytes>,k2025=<...>" -> {key id: key}. Old keys stay listed after a
    rotation so the records they sealed keep verifying."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key_id, sep, value = item.partition("=")
        key_id = key_id.strip()
        if not sep or not _KEY_ID.match(key_id):
            raise ImproperlyConfigured(
                "MCA_LOG_HMAC_KEYS must be comma-separated <key id>=<base64 key> pairs, the key id made of letters, "
                "digits, '.', '_' or '-' (e.g. k2026=...,k2025=...)."
            )
        if key_id in keys:
            raise ImproperlyConfigured(f"MCA_LOG_HMAC_KEYS names key id {key_id!r} twice.")
        keys[key_id] = _base64_key(f"MCA_LOG_HMAC_KEYS ({key_id})", value)
    return keys


def checkpoint_signing_seed(raw: str) -> bytes:
    return _base64_key("MCA_CHECKPOINT_SIGNING_KEY", raw, exact=32) if raw else b""


def require_log_keys(keys: dict[str, bytes], key_id: str) -> None:
    if not keys:
        raise ImproperlyConfigured(
            "MCA_LOG_HMAC_KEYS must be set: the acceptance log's records are sealed with a key kept outside the "
            "database (e.g. MCA_LOG_HMAC_KEYS=k2026=<base64 of 32 random bytes>, MCA_LOG_HMAC_KEY_ID=k2026)."
        )
    if key_id not in keys:
        raise ImproperlyConfigured(
            f"MCA_LOG_HMAC_KEY_ID must name one of MCA_LOG_HMAC_KEYS' key ids ({', '.join(sorted(keys))}), "
            f"not {key_id!r}: new records are sealed with it."
        )


# Per-record MAC keys and the id of the one new records are sealed with.
MCA_LOG_HMAC_KEYS = log_hmac_keys(env.str("MCA_LOG_HMAC_KEYS", default=""))
MCA_LOG_HMAC_KEY_ID = env.str("MCA_LOG_HMAC_KEY_ID", default="")
# Ed25519 seed (base64, 32 bytes) that signs checkpoints; older public keys (base64, 32 bytes each) still trusted
# after a rotation, so the checkpoints they signed keep verifying.
MCA_CHECKPOINT_SIGNING_KEY = checkpoint_signing_seed(env.str("MCA_CHECKPOINT_SIGNING_KEY", default=""))
MCA_CHECKPOINT_PUBLIC_KEYS = [
    _base64_key("MCA_CHECKPOINT_PUBLIC_KEYS", key, exact=32)
    for key in env.list("MCA_CHECKPOINT_PUBLIC_KEYS", default=[])
]
# Names this installation's log in its checkpoints (and their folder), so two logs never mix their checkpoints.
MCA_LOG_ID = env.str("MCA_LOG_ID", default="mca-acceptance-log")
if not re.match(r"^[A-Za-z0-9._-]{1,64}$", MCA_LOG_ID):
    raise ImproperlyConfigured("MCA_LOG_ID must be 1-64 letters, digits, '.', '_' or '-'.")
# Where checkpoints are written (write-once files): the `mca_checkpoints` storage below. Production should use an
# S3-compatible bucket with object lock instead (MCA_CHECKPOINT_S3_BUCKET, see production.py and the README).
MCA_CHECKPOINT_DIR = env.str("MCA_CHECKPOINT_DIR", default=str(BASE_DIR / "checkpoints"))
# A checkpoint follows every new record within this many seconds: the first record after a checkpoint schedules
# the next one (on commit, debounced through the cache, so a burst of records shares one checkpoint).
MCA_CHECKPOINT_MAX_LAG_SECONDS = env.float("MCA_CHECKPOINT_MAX_LAG_SECONDS", default=10.0)
# Whether appends schedule that checkpoint (off only where something else signs, e.g. the test settings).
MCA_CHECKPOINT_AFTER_COMMIT = env.bool("MCA_CHECKPOINT_AFTER_COMMIT", default=True)
# Beat's safety net: a checkpoint this often too (none when the head has not moved), should a scheduled one be lost.
MCA_CHECKPOINT_SECONDS = env.float("MCA_CHECKPOINT_SECONDS", default=60.0)
# Verification never trusts absence: a record that no checkpoint covers this long after it was written is a break
# (checkpoints deleted, or checkpointing stopped). Well above MCA_CHECKPOINT_MAX_LAG_SECONDS: workers may queue.
MCA_CHECKPOINT_OVERDUE_SECONDS = env.float("MCA_CHECKPOINT_OVERDUE_SECONDS", default=300.0)
# The daily checkpoint digest (mca.digest): the newest signed head and the public key, e-mailed at this hour (UTC)
# to these addresses (auditors, the customers' or another system's mailbox) so they hold a copy. Empty: off.
MCA_CHECKPOINT_WITNESS_EMAILS = env.list("MCA_CHECKPOINT_WITNESS_EMAILS", default=[])
MCA_CHECKPOINT_DIGEST_HOUR = env.int("MCA_CHECKPOINT_DIGEST_HOUR", default=6)
# The first sequence number from which every record is sealed (hash version 3). An installation that wrote
# version-1/2 records before it was keyed sets this to its first version-3 record; an unkeyed record at or after
# it is a break (a rewrite without the key). Every checkpoint carries it, and the lowest value seen wins.
MCA_LOG_KEYED_SINCE = env.int("MCA_LOG_KEYED_SINCE", default=1)
if MCA_LOG_KEYED_SINCE < 1:
    raise ImproperlyConfigured("MCA_LOG_KEYED_SINCE must be a sequence number (1 or more).")
STORAGES["mca_checkpoints"] = {
    "BACKEND": "mca.checkpoints.WriteOnceFileSystemStorage",
    "OPTIONS": {"location": MCA_CHECKPOINT_DIR, "file_permissions_mode": 0o444},
}

# Least privilege on PostgreSQL (mca.db_roles, `manage.py mca_db_roles`, run as the owner after migrate): the role
# web, worker and beat connect as, and its password (used only by `mca_db_roles --create` to create it).
MCA_RUNTIME_DB_ROLE = env.str("MCA_RUNTIME_DB_ROLE", default="")
MCA_RUNTIME_DB_PASSWORD = env.str("MCA_RUNTIME_DB_PASSWORD", default="")

# --- Logging ---
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # fpdf2's font subsetting (the evidence pack's PDF) logs every glyph at INFO.
    "loggers": {"fontTools": {"level": "WARNING"}},
}

# --- E-mail (acceptance links sent to customers' signatories from the BSS) ---
# SMTP by default (EMAIL_HOST, EMAIL_PORT, ... from Django's defaults); local settings print e-mails to the console.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="noreply@localhost")
# Where the file e-mail backend (EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend) writes: the campaign
# benchmark counts the messages there.
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "sent-mail"))

# --- Periodic tasks (celery beat) ---
# The readiness page's counts per state and owner are cached this long per scope (and until a refresh changes them).
MCA_READINESS_COUNTS_SECONDS = env.int("MCA_READINESS_COUNTS_SECONDS", default=60)

# Where staff open the app, for links in e-mails sent without a request (the daily readiness digest).
SITE_BASE_URL = env.str("SITE_BASE_URL", default="http://127.0.0.1:8000")

CELERY_BEAT_SCHEDULE = {
    "sweep-acceptance-deliveries": {
        "task": "mca.tasks.sweep_deliveries_task",
        "schedule": env.float("MCA_DELIVERY_SWEEP_SECONDS", default=60.0),
    },
    "poll-pending-attestations": {
        "task": "mca.tasks.poll_attestations_task",
        "schedule": env.float("MCA_ATTESTATION_SWEEP_SECONDS", default=30.0),
    },
    "retry-order-provisioning": {
        "task": "bss.tasks.retry_provisioning_task",
        "schedule": env.float("BSS_PROVISIONING_SWEEP_SECONDS", default=60.0),
    },
    "sweep-webhooks": {
        "task": "webhooks.tasks.sweep_webhooks_task",
        "schedule": env.float("WEBHOOKS_SWEEP_SECONDS", default=60.0),
    },
    "sweep-acceptance-campaigns": {
        "task": "bss.tasks.campaign_sweep_task",
        "schedule": env.float("CAMPAIGN_SWEEP_SECONDS", default=60.0),
    },
    "write-log-checkpoint": {
        "task": "mca.tasks.write_checkpoint_task",
        "schedule": MCA_CHECKPOINT_SECONDS,
    },
    "email-checkpoint-digest": {
        "task": "mca.tasks.send_checkpoint_digest_task",
        "schedule": crontab(minute=0, hour=MCA_CHECKPOINT_DIGEST_HOUR),
    },
    "resume-stalled-rechecks": {
        "task": "mca.tasks.resume_rechecks_task",
        "schedule": env.float("MCA_RECHECK_SWEEP_SECONDS", default=60.0),
    },
    "check-partner-center-tokens": {
        "task": "partner_center.tasks.check_tokens_task",
        "schedule": PARTNER_CENTER_TOKEN_CHECK_SECONDS,
    },
    # The readiness page counts and filters on the stored readiness: rewritten for every account this often.
    "refresh-mca-readiness": {
        "task": "mca.tasks.refresh_readiness_task",
        "schedule": env.float("MCA_READINESS_REFRESH_SECONDS", default=900.0),
    },
    # The daily digest of customers whose next order or change would be refused (CSP staff, each reseller).
    "mca-readiness-digest": {
        "task": "bss.tasks.send_readiness_digest_task",
        "schedule": crontab(hour=env.int("MCA_DIGEST_HOUR_UTC", default=6), minute=0),
    },
}

# --- Webhooks (issue 19, item 6; docs/api.md "Webhooks", docs/operations.md) ----------------------------------
# One POST's timeout; the first retry's wait (doubling on each, capped at 6 h); attempts before a message fails.
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
WEBHOOKS_BACKOFF_SECONDS = env.float("WEBHOOKS_BACKOFF_SECONDS", default=30.0)
WEBHOOKS_MAX_ATTEMPTS = env.int("WEBHOOKS_MAX_ATTEMPTS", default=8)
# E-mail CSP staff and the customer's reseller's staff at once when an order is held for MCA acceptance.
BSS_HOLD_NOTICE = env.bool("BSS_HOLD_NOTICE", default=True)
# Receivers must be https; plain http only for local development and tests.
WEBHOOKS_ALLOW_HTTP = env.bool("WEBHOOKS_ALLOW_HTTP", default=False)

if MCA_RECHECK_EVERY_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["recheck-stale-customers"] = {
        "task": "mca.tasks.start_recheck_task",
        "schedule": MCA_RECHECK_EVERY_SECONDS,
    }
