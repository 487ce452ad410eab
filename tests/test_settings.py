"""Settings per environment, each case in a fresh process whose environment holds only PATH, HOME and the
variables the case sets: nothing from the developer's shell (or CI's) can make a refusal pass or fail."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = "config.settings.production"
LOCAL = "config.settings.local"
GOOD_KEY = "k" * 20 + "-production-secret-key-with-enough-entropy-0123456789"
# A production environment that must start: every test of a refusal takes one thing away from it.
PRODUCTION_ENV = {
    "SECRET_KEY": GOOD_KEY,
    "ALLOWED_HOSTS": "mca.example.com",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "PARTNER_CENTER_MODE": "live",
    "PARTNER_CENTER_TENANT_ID": "00000000-0000-0000-0000-000000000001",
    "PARTNER_CENTER_CLIENT_ID": "00000000-0000-0000-0000-000000000002",
    "PARTNER_CENTER_CLIENT_SECRET": "client-secret",
    # The acceptance log's MAC key and checkpoint signing key (base64 of 32 bytes; test values, not the dev ones).
    "MCA_LOG_HMAC_KEYS": "k2026=" + "a2V5LWZvci10aGUtcHJvZHVjdGlvbi1zZXR0aW5ncy10ZXN0cw==",
    "MCA_LOG_HMAC_KEY_ID": "k2026",
    "MCA_CHECKPOINT_SIGNING_KEY": "c2VlZC1mb3ItdGhlLXByb2R1Y3Rpb24tc2V0dGluZ3M=",
    # Checkpoints: an S3 bucket with object lock is the default; this environment chooses the folder explicitly
    # (django-storages is an optional extra). tests/evidence/test_checkpoint_s3.py covers the bucket.
    "MCA_CHECKPOINT_STORAGE": "folder",
}
SETUP = "import django; django.setup()"


def bare_env(**env: str) -> dict[str, str]:
    """Only what a login shell would have, plus the case's own variables."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return {**base, **env}


def run(code: str, settings: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=bare_env(DJANGO_SETTINGS_MODULE=settings, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=bare_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_of(settings: str, *names: str, **env: str) -> dict:
    code = (
        f"{SETUP}; import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    result = run(code, settings, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def production_without(*names: str, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k not in names}
    return {**env, **changes}


def refusal(env: dict[str, str]) -> str:
    """The ImproperlyConfigured message production settings stop with."""
    result = run(SETUP, PRODUCTION, **env)
    assert result.returncode != 0, "production settings started"
    assert "ImproperlyConfigured" in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


# --- production refuses an unsafe environment ---


def test_production_starts_with_a_proper_environment():
    result = run(SETUP, PRODUCTION, **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "secret_key",
    [
        None,
        "",
        "short",
        "x" * 60,  # long enough, but one character
        "django-insecure-" + "abcdefghij" * 5,  # Django's marker for a generated development key
    ],
    ids=["missing", "empty", "short", "few-characters", "insecure-prefix"],
)
def test_production_refuses_a_missing_or_weak_secret_key(secret_key):
    env = production_without("SECRET_KEY") if secret_key is None else production_without(SECRET_KEY=secret_key)
    assert "SECRET_KEY must be set to a random value of at least 50 characters" in refusal(env)


def test_production_refuses_the_local_settings_default_key():
    local_key = settings_of(LOCAL, "SECRET_KEY")["SECRET_KEY"]
    assert "SECRET_KEY must be set" in refusal(production_without(SECRET_KEY=local_key))


def test_production_refuses_an_implicit_partner_center_mode():
    assert "PARTNER_CENTER_MODE must be set explicitly in production" in refusal(
        production_without("PARTNER_CENTER_MODE")
    )


@pytest.mark.parametrize(
    "missing", ["PARTNER_CENTER_TENANT_ID", "PARTNER_CENTER_CLIENT_ID", "PARTNER_CENTER_CLIENT_SECRET"]
)
def test_production_live_mode_refuses_missing_credentials(missing):
    message = refusal(production_without(missing))
    assert f"PARTNER_CENTER_MODE=live needs {missing}." in message


def test_production_refuses_to_run_tasks_without_a_broker():
    assert "CELERY_BROKER_URL must be set in production" in refusal(production_without("CELERY_BROKER_URL"))


def test_unknown_partner_center_mode_is_refused():
    assert "PARTNER_CENTER_MODE must be 'simulator' or 'live'" in refusal(
        production_without(PARTNER_CENTER_MODE="mock")
    )


def test_unknown_attestation_flow_is_refused():
    result = run(SETUP, LOCAL, MCA_ATTESTATION_FLOW="strict")
    assert result.returncode != 0
    assert "MCA_ATTESTATION_FLOW must be 'enhanced' or 'legacy', not 'strict'" in result.stderr


@pytest.mark.parametrize("flow", ["enhanced", "legacy"])
def test_attestation_flow_is_read_from_the_environment(flow):
    assert settings_of(LOCAL, "MCA_ATTESTATION_FLOW", MCA_ATTESTATION_FLOW=flow)["MCA_ATTESTATION_FLOW"] == flow


def test_production_settings_pass_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_SETTINGS_MODULE=PRODUCTION, **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_does_not_decide_the_environment():
    values = settings_of(
        PRODUCTION, "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", DEBUG="true", **PRODUCTION_ENV
    )
    assert values == {"DEBUG": False, "SECURE_SSL_REDIRECT": True, "SESSION_COOKIE_SECURE": True}


def test_production_reads_database_broker_cache_and_hosts_from_the_environment():
    values = settings_of(
        PRODUCTION,
        "DATABASES",
        "CELERY_BROKER_URL",
        "CELERY_TASK_ALWAYS_EAGER",
        "CACHES",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        **production_without(
            "ALLOWED_HOSTS",
            DATABASE_URL="postgres://app:pw@db.internal:5433/mca",
            CELERY_BROKER_URL="redis://redis:6379/0",
            REDIS_URL="redis://redis:6379/1",
            ALLOWED_HOSTS="a.example,b.example",
            CSRF_TRUSTED_ORIGINS="https://a.example",
        ),
    )
    db = values["DATABASES"]["default"]
    assert (db["ENGINE"], db["HOST"], db["PORT"], db["NAME"], db["USER"]) == (
        "django.db.backends.postgresql",
        "db.internal",
        5433,
        "mca",
        "app",
    )
    assert values["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False
    assert values["CACHES"]["default"]["BACKEND"] == "django_redis.cache.RedisCache"
    assert values["ALLOWED_HOSTS"] == ["a.example", "b.example"]
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://a.example"]


def test_redis_key_prefix_goes_before_the_cache_keys_and_the_broker_keys():
    env = production_without(REDIS_URL="redis://redis:6379/1", REDIS_KEY_PREFIX="shop-a:")
    values = settings_of(PRODUCTION, "CACHES", "CELERY_BROKER_TRANSPORT_OPTIONS", **env)
    assert values["CACHES"]["default"]["KEY_PREFIX"] == "shop-a:"
    assert values["CELERY_BROKER_TRANSPORT_OPTIONS"] == {"visibility_timeout": 3600, "global_keyprefix": "shop-a:"}


def test_without_redis_key_prefix_the_broker_keys_are_unprefixed():
    env = production_without(REDIS_URL="redis://redis:6379/1")
    values = settings_of(PRODUCTION, "CACHES", "CELERY_BROKER_TRANSPORT_OPTIONS", **env)
    assert values["CACHES"]["default"]["KEY_PREFIX"] == ""
    assert values["CELERY_BROKER_TRANSPORT_OPTIONS"] == {"visibility_timeout": 3600}


# --- the simulator and the demo are not part of production ---

SIMULATOR_URL = "/simulator/partner-center/_control/faults"
ASK = (
    f"{SETUP}; from django.apps import apps; from django.test import Client; "
    "print(apps.is_installed('partner_center.simulator'), apps.is_installed('demo'), "
    f"Client().get({SIMULATOR_URL!r}, secure=True, headers={{'host': 'mca.example.com'}}).status_code)"
)
RESOLVES = f"{SETUP}; from django.urls import resolve; print(resolve({SIMULATOR_URL!r}).func.__module__)"


def test_production_has_no_simulator_and_no_demo(tmp_path):
    # An empty database (not migrated): the styled 404 page cannot read it and falls back to Django's plain one,
    # as it must on a fresh clone or with the database down: an error page never fails in turn.
    result = run(ASK, PRODUCTION, **PRODUCTION_ENV, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["False", "False", "404"]


def test_a_deployment_that_chooses_the_simulator_explicitly_gets_it_routed_but_no_demo():
    env = production_without(
        *(k for k in PRODUCTION_ENV if k.startswith("PARTNER_CENTER_")), PARTNER_CENTER_MODE="simulator"
    )
    result = run(f"{RESOLVES}; from django.apps import apps; print(apps.is_installed('demo'))", PRODUCTION, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["partner_center.simulator.views", "False"]


def test_local_settings_serve_the_simulator_and_install_the_demo():
    result = run(f"{RESOLVES}; from django.apps import apps; print(apps.is_installed('demo'))", LOCAL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["partner_center.simulator.views", "True"]


# --- the local demo needs no variable at all ---


def test_local_defaults_are_the_demo():
    values = settings_of(
        LOCAL,
        "DEBUG",
        "DATABASES",
        "CELERY_TASK_ALWAYS_EAGER",
        "CACHES",
        "PARTNER_CENTER_MODE",
        "PARTNER_CENTER_BASE_URL",
        "MCA_CLOUD_AGREEMENT_CUTOFF",
        "MCA_ATTESTATION_FLOW",
    )
    assert values["DEBUG"] is True
    assert values["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert values["DATABASES"]["default"]["NAME"] == str(ROOT / "db.sqlite3")
    assert values["CELERY_TASK_ALWAYS_EAGER"] is True
    # `make run` is two processes (the server and seed_demo): without Redis they share a cache folder.
    assert values["CACHES"]["default"]["BACKEND"].endswith("FileBasedCache")
    assert str(values["CACHES"]["default"]["LOCATION"]) == str(ROOT / ".cache")
    assert values["PARTNER_CENTER_MODE"] == "simulator"
    assert values["PARTNER_CENTER_BASE_URL"] == "http://127.0.0.1:8000/simulator/partner-center"
    assert values["MCA_CLOUD_AGREEMENT_CUTOFF"] == "2020-02-01T00:00:00Z"
    assert values["MCA_ATTESTATION_FLOW"] == "enhanced"


def readme_manage_commands() -> list[str]:
    """The management commands the README and docs/ tell people to run with `manage.py`."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    names = re.findall(r"manage\.py ([a-z_]+)", "\n".join(page.read_text() for page in pages))
    assert names, "the README names no manage.py command"
    return sorted(set(names))


def test_readme_manage_py_commands_run_without_any_setting():
    for args in (["check"], ["showmigrations", "--plan"]):
        created = not (ROOT / "db.sqlite3").exists()
        result = manage(*args)
        if created and (ROOT / "db.sqlite3").exists() and (ROOT / "db.sqlite3").stat().st_size == 0:
            (ROOT / "db.sqlite3").unlink()  # showmigrations opened the default database: leave no empty file
        assert result.returncode == 0, f"manage.py {' '.join(args)}: {result.stdout}{result.stderr}"
    assert "[X]" in result.stdout or "[ ]" in result.stdout


@pytest.mark.parametrize("command", readme_manage_commands())
def test_every_management_command_the_readme_names_exists_under_the_default_settings(command):
    result = manage("help", command)
    assert result.returncode == 0, result.stdout + result.stderr
