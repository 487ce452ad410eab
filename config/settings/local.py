"""The local demo (manage.py's default, `make run`): debug on, SQLite, in-process tasks, the built-in Partner
Center simulator and the demo data. Every variable is optional here, so the README's commands run as written."""

from config.settings.base import *  # noqa: F403
from config.settings.base import (
    BASE_DIR,
    DEMO_APPS,
    DEV_CHECKPOINT_SIGNING_KEY,
    DEV_LOG_HMAC_KEYS,
    INSTALLED_APPS,
    MCA_CHECKPOINT_SIGNING_KEY,
    MCA_LOG_HMAC_KEY_ID,
    MCA_LOG_HMAC_KEYS,
    REDIS_URL,
    SIMULATOR_APPS,
    checkpoint_signing_seed,
    env,
    log_hmac_keys,
    require_log_keys,
)

DEBUG = env.bool("DEBUG", default=True)
# A fixed key for a laptop only: its prefix is Django's insecure marker, which production settings refuse.
# `or`: an empty SECRET_KEY= line (as in .env.example) means "not set" here too.
SECRET_KEY = env.str("SECRET_KEY", default="") or "django-insecure-local-only-key-never-use-in-production"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [*INSTALLED_APPS, *SIMULATOR_APPS, *DEMO_APPS]
PARTNER_CENTER_SIMULATOR_ENABLED = True

# The demo signs in with a password only; MCA_REQUIRE_MFA=true asks staff and resellers for an authenticator code
# as production does (docs/security.md, "Second factor").
MCA_REQUIRE_MFA = env.bool("MCA_REQUIRE_MFA", default=False)

# `make run` is two processes: `seed_demo` asks Partner Center (the simulator) about the demo customers, and the
# server shows the answers. Without Redis they share a cache on disk, so the readiness page and a campaign see what
# the seed learned (e.g. Fourth Coffee's confirmation from before the refresh: stale); and a "not accepted" answer
# is reused for a day instead of 5 minutes, so the demo does not fall back to "not checked yet" while it is shown.
if not REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": BASE_DIR / ".cache"}
    }
MCA_NOT_ACCEPTED_TTL = env.int("MCA_NOT_ACCEPTED_TTL", default=86400)

# Signatories' acceptance links and the like are printed where `make run` runs, not sent.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")

# The acceptance log's keys: the environment's if set, else the fixed development keys (production refuses them).
if not MCA_LOG_HMAC_KEYS:
    MCA_LOG_HMAC_KEYS = log_hmac_keys(DEV_LOG_HMAC_KEYS)
    MCA_LOG_HMAC_KEY_ID = MCA_LOG_HMAC_KEY_ID or "dev"
require_log_keys(MCA_LOG_HMAC_KEYS, MCA_LOG_HMAC_KEY_ID)
MCA_CHECKPOINT_SIGNING_KEY = MCA_CHECKPOINT_SIGNING_KEY or checkpoint_signing_seed(DEV_CHECKPOINT_SIGNING_KEY)

# A webhook receiver on this machine (e.g. http://127.0.0.1:9000/hook) while developing.
WEBHOOKS_ALLOW_HTTP = env.bool("WEBHOOKS_ALLOW_HTTP", default=True)
