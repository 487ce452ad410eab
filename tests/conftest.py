import os
import shutil

import pytest
from django.db import connection

from bss.demo import seed_demo_data


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests are skipped on SQLite (CI runs the suite on both)."""
    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL); CI runs it there")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def demo(db):
    """The pinned demo data, as `seed_demo` loads it; returns the demo accounts by key."""
    return seed_demo_data()


@pytest.fixture
def demo_user(demo, django_user_model):
    def get(username: str):
        return django_user_model.objects.select_related("membership").get(username=username)

    return get


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; `make test` installs it with apt")
        pytest.skip("chromium is not installed (make test installs it)")
    return path
