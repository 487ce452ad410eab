"""The readiness page and an acceptance campaign in a browser (issue 19, "Tests"): Debian's chromium, Playwright.

A BSS user filters the readiness page by a state and downloads that CSV; starts a campaign with the form and follows
it from "sent" to "accepted" once the signatory accepted at Microsoft (the simulator) and the sweep ran."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from bss.models import Account
from bss.services import campaigns
from demo.accounts import DEMO_PASSWORD, seed_demo_data
from demo.simulator import seed_simulator
from mca import gate
from mca.choices import AcceptanceKind
from mca.knowledge import knowledge_key, remember_acceptance
from mca.models import Attestation
from tests.browser_support import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def portfolio_site(pc_simulator, live_server, allow_async_unsafe, settings) -> str:
    """The demo customers (Blue Yonder accepted, Proseware stale, the others required or unknown), their stored
    readiness counted, and the enhanced flow polled without waiting."""
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    settings.MCA_ATTESTATION_POLL_SECONDS = 0
    settings.MCA_ATTESTATION_MIN_DATE = "2023-04-01"
    accounts = seed_demo_data()
    seed_simulator()
    remember_acceptance(
        key=knowledge_key(accounts["blue-yonder"]),
        kind=AcceptanceKind.DIRECT_AT_MICROSOFT,
        accepted_at=datetime(2026, 1, 2, tzinfo=UTC),
        verified=True,
    )
    remember_acceptance(
        key=knowledge_key(accounts["proseware"]),
        kind=AcceptanceKind.PARTNER_CENTER_ATTESTATION,
        accepted_at=datetime(2022, 5, 1, tzinfo=UTC),
    )
    gate.refresh_readiness()
    return live_server.url


@pytest.fixture
def page(browser, portfolio_site):
    context = browser.new_context(
        base_url=portfolio_site, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/accounts/login/?next=/bss/")
    page.fill("#id_username", "bss")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/bss/")
    try:
        yield page
    finally:
        context.close()


def _fits_1280(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def _text(locator) -> str:
    return " ".join(locator.inner_text().split())


def test_readiness_page_filters_by_state_and_downloads_that_csv(page, save_screenshot):
    page.get_by_role("link", name="MCA readiness").click()
    page.wait_for_selector("h1:has-text('MCA readiness')")
    badges = set(page.locator("tbody [data-mca-state]").evaluate_all("els => els.map(e => e.dataset.mcaState)"))
    assert {"accepted", "stale", "required"} <= badges, badges
    counts = _text(page.locator("ul.counts").first)
    assert f"{Account.objects.count()} customers" in counts, counts
    assert _text(page.locator("ul.counts a[href='?state=stale']")).endswith(": 1")
    assert _text(page.locator("ul.counts a[href='?state=accepted']")).endswith(": 1")
    assert _fits_1280(page) <= 1280
    save_screenshot(page, "bss-readiness")

    page.get_by_label("MCA state").select_option("stale")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**state=stale**")
    rows = page.locator("tbody tr[data-account]")
    assert rows.locator("td:first-child").all_inner_texts() == ["Proseware"]
    assert set(rows.locator("[data-mca-state]").evaluate_all("els => els.map(e => e.dataset.mcaState)")) == {"stale"}

    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download CSV").click()
    download = downloaded.value
    assert download.suggested_filename == "mca-readiness.csv"
    with open(download.path(), encoding="utf-8") as handle:
        lines = list(csv.DictReader(io.StringIO(handle.read())))
    assert [(row["Customer"], row["MCA state"]) for row in lines] == [("Proseware", "stale")]


def test_a_campaign_started_from_the_page_goes_from_sent_to_accepted(page, pc_simulator, save_screenshot):
    proseware = Account.objects.get(name="Proseware")
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="Start a campaign").click()
    page.wait_for_selector("h1:has-text('Start an acceptance campaign')")
    assert _fits_1280(page) <= 1280
    page.get_by_label("Campaign name").fill("Stale customers")
    page.get_by_label("Or hand-picked customers", exact=False).fill(str(proseware.pk))
    page.get_by_label("I confirm that each signatory", exact=False).check()
    page.get_by_role("button", name="Start the campaign").click()
    page.wait_for_selector("h1:has-text('Campaign: Stale customers')")

    progress = page.get_by_label("Progress")
    assert "Sent 1 (1 e-mail(s), 0 reminder(s)) Accepted 0" in _text(progress), _text(progress)
    assert "pieter@proseware.example" in page.locator("main table").inner_text()
    assert _fits_1280(page) <= 1280
    save_screenshot(page, "bss-campaign-sent")

    # The signatory accepts on Microsoft's page; the poller learns it, then the campaign's sweep (the beat's task).
    link = Attestation.objects.filter(account=proseware).latest("pk")
    assert len(pc_simulator.attestations(email="pieter@proseware.example")) == 1  # one link at Microsoft
    pc_simulator.accept_attestation(link.attestation_id)
    gate.check_now(proseware)
    assert campaigns.sweep()["progressed"] == 1

    page.reload()
    assert "Sent 1 (1 e-mail(s), 0 reminder(s)) Accepted 1" in _text(progress), _text(progress)
    assert "Accepted" in page.locator("main table tbody tr").first.inner_text()
