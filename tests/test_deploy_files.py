"""The production files, checked by reading them: Docker is not available on the development machines or CI.

docker-compose.yml is parsed as YAML and held to the shape the README promises; the Dockerfile and the README
are checked against the environment variables mca/settings.py actually reads, so neither drifts from them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrate", "web", "worker", "beat")
# Variables the compose file may use that are not Django settings, and why.
COMPOSE_ONLY_VARIABLES = {
    "POSTGRES_PASSWORD": "the database service's password, also part of DATABASE_URL",
    "MCA_IMAGE": "the image tag to build or run",
    "WEB_PORT": "the host port published for web",
    "WEB_CONCURRENCY": "gunicorn's worker count, read by gunicorn itself",
}
SECRET_NAMES = ("SECRET", "PASSWORD", "TOKEN")
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")
REQUIRED = re.compile(r"^\$\{([A-Z0-9_]+):\?[^}]+\}$")


def settings_variables() -> set[str]:
    """Every environment variable mca/settings.py reads with django-environ (env.str, env.bool, env.db...)."""
    source = (ROOT / "mca" / "settings.py").read_text()
    names = set(re.findall(r"\benv\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    assert names, 'found no env.<type>("NAME") calls in mca/settings.py'
    return names


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def service_env(compose: dict, name: str) -> dict:
    env = compose["services"][name].get("environment") or {}
    assert isinstance(env, dict), f"{name}: write environment as a mapping"
    return env


def test_settings_variables_are_found():
    expected = {"DATABASE_URL", "SECRET_KEY", "DEBUG", "CELERY_BROKER_URL", "PARTNER_CENTER_MODE"}
    assert expected <= settings_variables()


def test_compose_has_one_service_per_process(compose):
    assert set(compose["services"]) == {"migrate", "web", "worker", "beat", "db", "redis"}
    assert compose["services"]["db"]["image"].startswith("postgres:15")
    assert compose["services"]["redis"]["image"].startswith("redis:7")


def test_app_services_share_one_image_built_from_the_dockerfile(compose):
    services = compose["services"]
    images = {services[name]["image"] for name in APP_SERVICES}
    builds = {str(services[name]["build"]) for name in APP_SERVICES}
    assert len(images) == 1 and builds == {"."}
    assert (ROOT / "Dockerfile").is_file()


def test_processes_run_the_documented_commands(compose):
    services = compose["services"]
    assert "command" not in services["web"]  # the image's CMD: gunicorn mca.wsgi
    assert services["worker"]["command"][:5] == ["celery", "-A", "mca", "worker", "-l"]
    assert services["beat"]["command"][:5] == ["celery", "-A", "mca", "beat", "-l"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--no-input"]
    assert services["migrate"]["restart"] == "no"


def test_migrations_run_once_before_web_worker_and_beat(compose):
    services = compose["services"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_database_and_redis_have_healthchecks_and_volumes(compose):
    services = compose["services"]
    for name in ("db", "redis"):
        assert services[name]["healthcheck"]["test"], name
        volume = services[name]["volumes"][0].split(":")[0]
        assert volume in compose["volumes"], name


def test_app_services_are_configured_for_production(compose):
    for name in APP_SERVICES:
        env = service_env(compose, name)
        assert env["DEBUG"] == "false", name
        assert env["PARTNER_CENTER_MODE"] == "live", name
        assert env["DATABASE_URL"].startswith("postgres://") and "@db:5432/" in env["DATABASE_URL"], name
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/"), name
        assert env["REDIS_URL"].startswith("redis://redis:6379/"), name
        for required in (
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "CSRF_TRUSTED_ORIGINS",
            "PARTNER_CENTER_TENANT_ID",
            "PARTNER_CENTER_CLIENT_ID",
            "PARTNER_CENTER_CLIENT_SECRET",
        ):
            match = REQUIRED.match(env[required] or "")
            assert match and match.group(1) == required, f"{name}: {required} must be ${{{required}:?...}}"


def test_web_healthcheck_is_valid_python(compose):
    test = compose["services"]["web"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    ast.parse(test[3])


def test_no_secret_is_written_into_the_compose_file(compose):
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if value is None or not any(word in key for word in SECRET_NAMES):
                continue
            assert REQUIRED.match(value), f"{name}: {key} must come from the environment, not the file"
    database_url = service_env(compose, "web")["DATABASE_URL"]
    password = database_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert REQUIRED.match(password), "the database password in DATABASE_URL must come from the environment"


def test_every_variable_the_app_sees_is_a_setting(compose):
    known = settings_variables()
    for name in APP_SERVICES:
        unknown = set(service_env(compose, name)) - known - set(COMPOSE_ONLY_VARIABLES)
        assert not unknown, f"{name} sets {sorted(unknown)}, which mca/settings.py does not read"


def test_every_interpolated_variable_is_a_setting_or_a_documented_compose_variable():
    used = set(INTERPOLATION.findall((ROOT / "docker-compose.yml").read_text()))
    assert used, "expected ${...} references"
    unknown = used - settings_variables() - set(COMPOSE_ONLY_VARIABLES)
    assert not unknown, f"docker-compose.yml interpolates {sorted(unknown)}"


def test_dockerfile_builds_a_non_root_gunicorn_image():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert "collectstatic" in dockerfile
    assert not re.search(r"^ENV\s.*SECRET_KEY", dockerfile, re.MULTILINE), "no secret key kept in the image"
    cmd = re.findall(r"^CMD\s+(.+)$", dockerfile, re.MULTILINE)[-1]
    assert '"gunicorn", "mca.wsgi"' in cmd and "0.0.0.0:8000" in cmd


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env", "db.sqlite3"} <= ignored


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = sorted(name for name in settings_variables() if f"`{name}`" not in readme)
    assert not missing, f"README.md's settings table lacks {missing}"
