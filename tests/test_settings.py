"""Settings come from the environment only: each case runs Django in a fresh process with its own env."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k" * 20 + "-production-secret-key-with-enough-entropy-0123456789"


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"}}
    clean.update(env, DJANGO_SETTINGS_MODULE="mca.settings")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def settings_of(*names: str, **env: str) -> dict:
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    result = run(code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_refuses_to_start_without_a_secret_key():
    result = run("from django.conf import settings; settings.DEBUG", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_a_short_secret_key():
    result = run("from django.conf import settings; settings.DEBUG", DEBUG="false", SECRET_KEY="short")
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_pass_check_deploy():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DATABASE_URL"}}
    env.update(DEBUG="false", SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="mca.example.com", DJANGO_SETTINGS_MODULE="")
    env.pop("DJANGO_SETTINGS_MODULE")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_defaults_are_the_local_demo():
    values = settings_of(
        "DATABASES",
        "CELERY_TASK_ALWAYS_EAGER",
        "CACHES",
        "PARTNER_CENTER_MODE",
        "PARTNER_CENTER_BASE_URL",
        "MCA_CLOUD_AGREEMENT_CUTOFF",
        DEBUG="true",
    )
    assert values["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert values["DATABASES"]["default"]["NAME"].endswith("db.sqlite3")
    assert values["CELERY_TASK_ALWAYS_EAGER"] is True
    assert values["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")
    assert values["PARTNER_CENTER_MODE"] == "simulator"
    assert values["PARTNER_CENTER_BASE_URL"] == "http://127.0.0.1:8000/simulator/partner-center"
    assert values["MCA_CLOUD_AGREEMENT_CUTOFF"] == "2020-02-01T00:00:00Z"


def test_environment_configures_database_broker_cache_and_hosts():
    values = settings_of(
        "DATABASES",
        "CELERY_BROKER_URL",
        "CELERY_TASK_ALWAYS_EAGER",
        "CACHES",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        DEBUG="false",
        SECRET_KEY=GOOD_KEY,
        DATABASE_URL="postgres://app:pw@db.internal:5433/mca",
        CELERY_BROKER_URL="redis://redis:6379/0",
        REDIS_URL="redis://redis:6379/1",
        ALLOWED_HOSTS="a.example,b.example",
        CSRF_TRUSTED_ORIGINS="https://a.example",
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


def test_unknown_partner_center_mode_is_refused():
    result = run("from django.conf import settings; settings.DEBUG", DEBUG="true", PARTNER_CENTER_MODE="mock")
    assert "PARTNER_CENTER_MODE must be" in result.stderr


def test_live_mode_in_production_needs_credentials_and_has_no_simulator():
    result = run(
        "from django.conf import settings; settings.DEBUG",
        DEBUG="false",
        SECRET_KEY=GOOD_KEY,
        PARTNER_CENTER_MODE="live",
    )
    assert "PARTNER_CENTER_CLIENT_SECRET" in result.stderr
    code = (
        "import django; django.setup(); from django.urls import resolve, Resolver404\n"
        "try:\n    resolve('/simulator/partner-center/v1/agreements'); print('ROUTED')\n"
        "except Resolver404:\n    print('NOT ROUTED')"
    )
    result = run(
        code,
        DEBUG="false",
        SECRET_KEY=GOOD_KEY,
        PARTNER_CENTER_MODE="live",
        PARTNER_CENTER_TENANT_ID="t",
        PARTNER_CENTER_CLIENT_ID="c",
        PARTNER_CENTER_CLIENT_SECRET="s",
    )
    assert result.stdout.strip() == "NOT ROUTED", result.stderr


@pytest.mark.parametrize("flag", ["true", "false"])
def test_debug_flag_is_parsed(flag):
    env = {"DEBUG": flag}
    if flag == "false":
        env["SECRET_KEY"] = GOOD_KEY
    assert settings_of("DEBUG", **env)["DEBUG"] is (flag == "true")
