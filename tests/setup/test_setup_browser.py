"""The setup area in a browser: an account's MCA status, its evidence downloaded, a failing delivery retried.

Same launch as tests/test_browser.py (Debian's chromium through Playwright's sync API; DJANGO_ALLOW_ASYNC_UNSAFE
for this module only, because Playwright's event loop runs in the test thread)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from demo.accounts import DEMO_PASSWORD, seed_demo_data
from demo.simulator import seed_simulator
from mca.choices import DeliveryState
from mca.models import AcceptanceDelivery
from tests.browser_support import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server, transactional_db, allow_async_unsafe, settings) -> str:
    """Demo data, with Partner Center = the simulator this live server serves."""
    from django.core.cache import cache

    settings.PARTNER_CENTER_BASE_URL = f"{live_server.url}/simulator/partner-center"
    settings.PARTNER_CENTER_RETRY_BUDGET = 2.0
    cache.clear()
    seed_demo_data()
    seed_simulator()
    return live_server.url


@pytest.fixture
def page(browser, site):
    context = browser.new_context(base_url=site, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def test_setup_area_account_status_export_and_retry(page, site, save_screenshot):
    from django.contrib.auth import get_user_model

    from bss.models import Account
    from mca.attestation.legacy import confirm_acceptance
    from tests.conftest import SimulatorHandle
    from tests.mca.helpers import context, form_data

    simulator = SimulatorHandle(django_settings.PARTNER_CENTER_BASE_URL)
    litware = Account.objects.get(name="Litware")
    # Partner Center is down when the confirmation is sent: its delivery fails and waits for its next try.
    simulator.set_fault(mode="down", paths="v1/customers")
    record = confirm_acceptance(
        actor=get_user_model().objects.get(username="reseller"),
        account=litware,
        data=form_data(first_name="Lisa", last_name="Andrews", email="lisa@litware.example"),
        context=context(),
    )
    assert AcceptanceDelivery.objects.get(record=record).state == DeliveryState.FAILING
    simulator.clear_faults()
    # Partner Center is back. Its shared health may have opened the circuit during the outage (the sweep's retries
    # count too); an operator's "Retry now" comes after PARTNER_CENTER_BREAKER_OPEN_SECONDS, so the outage is forgotten.
    from django.core.cache import cache

    cache.clear()

    page.goto("/admin/login/")
    page.fill("#id_username", "bss")
    page.fill("#id_password", DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))

    # The accounts list shows what is known here; the account's page shows the gate's decision.
    page.goto("/admin/bss/account/")
    litware_row = page.locator("#result_list tbody tr", has_text="Litware")
    assert "not needed" in litware_row.inner_text() and "1 failing" in litware_row.inner_text()
    litware_row.get_by_role("link", name="Litware").click()
    status = page.locator("#mca-status")
    status.wait_for()
    assert "Acceptance not needed" in status.inner_text()
    assert "Rita Reseller" in status.inner_text()
    assert f"#{record.sequence}" in status.inner_text() and "PartnerCenterUnavailable" in status.inner_text()
    save_screenshot(page, "setup-account-status", full_page=False)

    # Export evidence: a zip download of the customer's evidence.
    with page.expect_download() as download_info:
        status.get_by_role("button", name="Export evidence").click()
    download = download_info.value
    assert re.fullmatch(rf"mca-evidence-account-{litware.pk}-\d{{8}}T\d{{6}}Z\.zip", download.suggested_filename)
    archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    assert {name.split("/", 1)[1] for name in archive.namelist()} >= {"records.json", "README.md", "SHA256SUMS"}

    # Retry the failing delivery now: Partner Center answers this time.
    status.get_by_role("link", name=re.compile("1 failing delivery")).click()
    page.wait_for_url(re.compile(r"/admin/mca/acceptancedelivery/\?"))
    row = page.locator("#result_list tbody tr", has_text="Litware")
    assert "PartnerCenterUnavailable" in row.inner_text()
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "retry_now_action")
    page.locator("button[name=index]").click()  # the actions bar's "Go"
    message = page.locator("ul.messagelist li").first
    message.wait_for()
    assert message.inner_text() == f"Record #{record.sequence} (Litware): sent to Partner Center (HTTP 201)."
    assert AcceptanceDelivery.objects.get(record=record).state == DeliveryState.SENT
