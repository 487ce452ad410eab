import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from demo.accounts import seed_demo_data


def pytest_addoption(parser):
    parser.addoption(
        "--screenshots",
        metavar="DIR",
        default=None,
        help="where the browser tests save their screenshots (default: a temporary folder); "
        "`make screenshots` passes docs/screenshots to refresh the README's",
    )


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests are skipped on SQLite (CI runs the suite on both)."""
    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL); CI runs it there")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache: Partner Center's shared health (a circuit opened by one test's
    unreachable Partner Center, a Retry-After pause) and its cached answers must not meet another test."""
    from django.core.cache import cache

    from mca.checkpoints import scheduled_checkpoint_due
    from mca.outbox import drain_started
    from mca.templates import forget_stored_templates
    from webhooks.events import forget_cached_routes

    cache.clear()
    forget_stored_templates()  # the process's memo of what the (now emptied) database holds
    scheduled_checkpoint_due()  # and its memo of a checkpoint task still to fire (the cache's key is gone)
    drain_started()  # and of a delivery drain still to start
    forget_cached_routes()  # and its copy of the webhook subscriptions


@pytest.fixture(autouse=True)
def checkpoint_dir(tmp_path_factory, settings):
    """Each test gets its own folder for the acceptance log's checkpoints: a checkpoint written by one test (an
    evidence export signs one) must not meet another test's database."""
    location = tmp_path_factory.mktemp("checkpoints")
    settings.STORAGES = {
        **settings.STORAGES,
        "mca_checkpoints": {
            "BACKEND": "mca.checkpoints.WriteOnceFileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    return location


@pytest.fixture
def legacy(settings):
    """Microsoft's legacy attestation: the partner records the customer's acceptance itself."""
    settings.MCA_ATTESTATION_FLOW = "legacy"


@pytest.fixture
def enhanced(settings):
    """Microsoft's enhanced attestation (the signatory accepts on Microsoft's page), polled without waiting."""
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    settings.MCA_ATTESTATION_POLL_SECONDS = 0


@pytest.fixture
def demo(db):
    """The pinned demo data, as `seed_demo` loads it (the simulator's customers too); the accounts by key."""
    from demo.simulator import seed_simulator

    accounts = seed_demo_data()
    seed_simulator()
    return accounts


@pytest.fixture
def demo_user(demo, django_user_model):
    def get(username: str):
        return django_user_model.objects.select_related("membership").get(username=username)

    return get


@pytest.fixture(scope="module")
def allow_async_unsafe() -> Iterator[None]:
    """Playwright's sync API runs an event loop in the test thread, which makes Django refuse ORM calls from it
    (seeding, flushing) while the browser is open: lifted for the browser test modules only, per module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(chromium_path: str, live_server, allow_async_unsafe):
    """Debian's chromium through Playwright, one per module; live_server starts before Playwright's event loop."""
    from playwright.sync_api import sync_playwright

    from tests.browser_support import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def screenshot_dir(request, tmp_path_factory) -> Path:
    """Where browser tests save screenshots: a temporary folder, so a test run never rewrites tracked files; the
    README's own (docs/screenshots/) only when asked for with --screenshots (`make screenshots`)."""
    chosen = request.config.getoption("--screenshots")
    if chosen is None:
        return tmp_path_factory.mktemp("screenshots")
    folder = Path(chosen)
    if not folder.is_absolute():
        folder = Path(request.config.rootpath) / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def save_screenshot(screenshot_dir: Path) -> Callable[..., Path]:
    """save_screenshot(page, "name", full_page=True) writes <screenshot_dir>/name.png and returns its path."""

    def save(page, name: str, *, full_page: bool = True) -> Path:
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return save


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; `make test` installs it with apt")
        pytest.skip("chromium is not installed (make test installs it)")
    return path


class SimulatorHandle:
    """The simulator's control API over real HTTP, for tests that drive the client against it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._control = f"{base_url}/_control"

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        import requests

        response = requests.request(method, f"{self._control}/{path}", json=body, timeout=10)
        if response.status_code >= 400:
            raise AssertionError(f"simulator control {method} {path} -> {response.status_code}: {response.text}")
        return response.json() if response.content else {}

    def set_fault(self, **body) -> dict:
        """mode="down"|"slow"|"throttle"|"error", count=N, latency_ms, retry_after, status, paths="v1/..."."""
        return self._call("POST", "faults", body)["fault"]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def calls(self) -> dict:
        return self._call("GET", "faults")["calls"]

    def reset_calls(self) -> None:
        self._call("DELETE", "calls")

    def publish_template(self, version_rank: int, agreement_type: str = "MicrosoftCustomerAgreement") -> dict:
        return self._call("POST", "templates", {"versionRank": version_rank, "agreementType": agreement_type})

    def add_customer(self, tenant_id, company_name: str = "Simulated Customer", direct_signed: bool = False) -> dict:
        body = {"tenantId": str(tenant_id), "companyName": company_name, "directSigned": direct_signed}
        return self._call("POST", "customers", body)

    def set_direct_signed(self, tenant_id, is_signed: bool) -> dict:
        return self._call("POST", f"customers/{tenant_id}/direct-signed", {"isSigned": is_signed})

    def attestations(self, email: str | None = None) -> list[dict]:
        query = f"?email={email}" if email else ""
        return self._call("GET", f"attestations{query}")["items"]

    def accept_attestation(self, attestation_id: str) -> dict:
        return self._call("POST", f"attestations/{attestation_id}/accept")

    def expire_attestation(self, attestation_id: str) -> dict:
        return self._call("POST", f"attestations/{attestation_id}/expire")


@pytest.fixture
def pc_simulator(transactional_db, live_server, settings):
    """The built-in simulator served over real HTTP; the client points at it for this test."""
    import gc
    import importlib

    from django.core.cache import cache

    settings.PARTNER_CENTER_BASE_URL = f"{live_server.url}/simulator/partner-center"
    cache.clear()
    try:
        client_module = importlib.import_module("partner_center.client")
    except ImportError:
        client_module = None
    reset = getattr(client_module, "reset_call_counts", None)
    if callable(reset):
        reset()
    yield SimulatorHandle(settings.PARTNER_CENTER_BASE_URL)
    # The process-wide client keeps HTTP connections alive; a live-server thread still serving one after the
    # test keeps its database connection (PostgreSQL then cannot drop the test database). Closing the pool ends
    # those threads; a connection still referenced from a caught exception's traceback is freed by the collector.
    client = getattr(client_module, "_client", None)
    session = getattr(client, "session", None)
    if session is not None:
        session.close()
    gc.collect()
    # A request the client gave up on (a "slow" fault) may still be running in the live server and touching the
    # database; on SQLite that connection is the test's own, so let it finish before the next test starts.
    from partner_center.simulator.views import in_flight

    assert in_flight.wait_until_idle(timeout=30), "the simulator is still answering a request"
