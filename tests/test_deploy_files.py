"""The production files, checked by reading them: Docker is not available on the development machines or CI.

docker-compose.yml is parsed as YAML and held to the shape docs/operations.md promises; the Dockerfile,
.env.example and docs/settings.md are checked against the environment variables config/settings/*.py actually
read, so none of them drifts from the settings.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import subprocess
import sys
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
# The one variable compose decides for the app from its own: the database's address, with its password.
COMPOSE_ENVIRONMENT = {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}
# ... and for `migrate`, which connects as the owner: the runtime role it grants its rights to.
MIGRATE_ENVIRONMENT = {"MCA_RUNTIME_DB_ROLE"}
ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")
REQUIRED = re.compile(r"^\$\{([A-Z0-9_]+):\?[^}]+\}$")


def settings_variables() -> set[str]:
    """Every environment variable config/settings/*.py reads with django-environ (env.str, env.bool, env.db...)."""
    source = "\n".join(path.read_text() for path in sorted((ROOT / "config" / "settings").glob("*.py")))
    names = set(re.findall(r"\benv\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    assert names, 'found no env.<type>("NAME") calls in config/settings/'
    return names


def documented_variables() -> set[str]:
    """The variables in docs/settings.md's table (rows that start with a `NAME` cell)."""
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", (ROOT / "docs" / "settings.md").read_text(), re.MULTILINE))


def env_example_variables() -> set[str]:
    """Every variable .env.example sets or shows commented out."""
    return set(ASSIGNMENT.findall((ROOT / ".env.example").read_text()))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def service_env(compose: dict, name: str) -> dict:
    env = compose["services"][name].get("environment") or {}
    assert isinstance(env, dict), f"{name}: write environment as a mapping"
    return env


def test_settings_variables_are_found():
    expected = {
        "DATABASE_URL",
        "SECRET_KEY",
        "DEBUG",
        "CELERY_BROKER_URL",
        "PARTNER_CENTER_MODE",
        "MCA_ATTESTATION_FLOW",
    }
    assert expected <= settings_variables()
    assert expected <= documented_variables()


def test_compose_has_one_service_per_process(compose):
    assert set(compose["services"]) == {"migrate", "web", "worker", "beat", "db", "redis"}
    assert compose["services"]["db"]["image"].startswith("postgres:15")
    assert compose["services"]["redis"]["image"].startswith("redis:7")


def test_app_services_share_one_image_built_once_from_the_dockerfile(compose):
    services = compose["services"]
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    builders = [name for name in APP_SERVICES if "build" in services[name]]
    assert builders == ["migrate"] and services["migrate"]["build"] == "."
    for name in set(APP_SERVICES) - {"migrate"}:
        assert services[name]["pull_policy"] == "never", f"{name} must run the image migrate builds, not pull one"
    assert (ROOT / "Dockerfile").is_file()


def test_processes_run_the_documented_commands(compose):
    services = compose["services"]
    assert "command" not in services["web"]  # the image's CMD: gunicorn config.wsgi
    assert services["worker"]["command"][:5] == ["celery", "-A", "config", "worker", "-l"]
    assert services["beat"]["command"][:5] == ["celery", "-A", "config", "beat", "-l"]
    assert services["migrate"]["command"] == [
        "sh",
        "-c",
        "python manage.py migrate --no-input && python manage.py mca_db_roles --create",
    ]
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


def test_app_services_take_their_settings_from_the_env_file(compose):
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["env_file"] == ".env", name
        env = service_env(compose, name)
        # Only what compose knows better than .env: the addresses of its own db and redis services.
        assert set(env) - {"WEB_CONCURRENCY"} - (MIGRATE_ENVIRONMENT if name == "migrate" else set()) == (
            COMPOSE_ENVIRONMENT
        ), name
        assert env["DATABASE_URL"].startswith("postgres://") and "@db:5432/" in env["DATABASE_URL"], name
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/"), name
        assert env["REDIS_URL"].startswith("redis://redis:6379/"), name


def test_env_example_documents_every_setting_the_readme_documents():
    documented = env_example_variables()
    missing = sorted((documented_variables() | settings_variables()) - documented)
    assert not missing, f".env.example lacks {missing}"
    unknown = documented - settings_variables() - set(COMPOSE_ONLY_VARIABLES)
    assert not unknown, f".env.example sets {sorted(unknown)}, which no setting reads"


def test_env_example_holds_no_secret():
    lines = [line for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line]
    assignments = [line.split("=", 1) for line in lines if not line.startswith("#")]
    secrets = {name: value for name, value in assignments if is_secret(name)}
    # The secrets it must name (empty), so the check below cannot pass on a file that lists none.
    assert {"SECRET_KEY", "POSTGRES_PASSWORD"} <= set(secrets)
    filled = sorted(name for name, value in secrets.items() if value)
    assert not filled, f".env.example must leave {filled} empty"


def is_secret(name: str) -> bool:
    return any(word in name for word in SECRET_NAMES)


def test_env_file_is_ignored_and_its_example_is_not():
    patterns = [line.strip() for line in (ROOT / ".gitignore").read_text().splitlines() if line.strip()]
    assert ".env" in patterns and "evidence/" in patterns
    assert not any(fnmatch.fnmatch(".env.example", pattern) for pattern in patterns)
    assert (ROOT / ".env.example").is_file()


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
    for name in ("web", "migrate"):
        database_url = service_env(compose, name)["DATABASE_URL"]
        password = database_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert REQUIRED.match(password), "the database password in DATABASE_URL must come from the environment"


def test_the_application_connects_as_the_runtime_role_and_migrate_as_the_owner(compose):
    """Least privilege: the owner of the log's tables is not the role that serves requests (mca.db_roles)."""
    runtime = service_env(compose, "migrate")["MCA_RUNTIME_DB_ROLE"]
    for name in ("web", "worker", "beat"):
        assert service_env(compose, name)["DATABASE_URL"].startswith(f"postgres://{runtime}:"), name
    owner = service_env(compose, "migrate")["DATABASE_URL"].split("://", 1)[1].split(":", 1)[0]
    assert owner == compose["services"]["db"]["environment"]["POSTGRES_USER"] != runtime


def test_every_variable_the_app_sees_is_a_setting(compose):
    known = settings_variables()
    for name in APP_SERVICES:
        unknown = set(service_env(compose, name)) - known - set(COMPOSE_ONLY_VARIABLES)
        assert not unknown, f"{name} sets {sorted(unknown)}, which config/settings/ does not read"


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
    assert '"gunicorn", "config.wsgi"' in cmd and "0.0.0.0:8000" in cmd
    # `python manage.py migrate` (compose's migrate step) and every other process run production.
    assert re.search(r"^\s+DJANGO_SETTINGS_MODULE=config\.settings\.production\b", dockerfile, re.MULTILINE)


def test_dockerfile_collectstatic_environment_satisfies_the_production_settings():
    """The build's throwaway values must pass production's refusals, or the image does not build."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    step = re.search(r"^RUN ((?:.*\\\n)*.*collectstatic.*)$", dockerfile, re.MULTILINE)
    assert step, "no collectstatic step"
    values = dict(re.findall(r"\b([A-Z][A-Z0-9_]*)=(\"[^\"]*\"|\S+)", step.group(1)))
    assert "SECRET_KEY" in values
    values["SECRET_KEY"] = "collectstatic-only-" + "0123456789abcdefghijklmnopqrstuvwxyz" * 2  # the $(...) key
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env.update(values, DJANGO_SETTINGS_MODULE="config.settings.production")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_dockerignore_keeps_local_state_and_evidence_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env", "db.sqlite3", "evidence", "staticfiles"} <= ignored


def test_docs_document_every_setting():
    missing = sorted(settings_variables() - documented_variables())
    assert not missing, f"docs/settings.md's table lacks {missing}"


def test_operations_docs_say_how_to_log_in_to_partner_center_for_live_mode():
    readme = (ROOT / "docs" / "operations.md").read_text()
    assert "manage.py partner_center_login" in readme
    assert "PARTNER_CENTER_REFRESH_TOKEN" in readme


def test_app_services_keep_checkpoints_on_a_volume_of_their_own(compose):
    """Signed checkpoints live where the database cannot rewrite them, and survive a container's replacement."""
    for name in ("web", "worker", "beat"):
        assert "checkpoints:/app/checkpoints" in compose["services"][name]["volumes"], name
    assert "checkpoints" in compose["volumes"]
    assert "checkpoints" not in str(compose["services"]["db"].get("volumes", []))
    assert "chown app:app /app/checkpoints" in (ROOT / "Dockerfile").read_text()
