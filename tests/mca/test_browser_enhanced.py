"""The enhanced attestation's hosted acceptance page, driven in Debian's chromium: the signatory accepts on
Microsoft's (simulated) page, and the gate then counts the customer as accepted."""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from bss.choices import Channel, Operation
from mca import gate
from mca.choices import RecordEvent
from mca.models import AcceptanceRecord
from tests.browser_support import CHROMIUM_ARGS, TIMEOUT_MS
from tests.mca.test_enhanced_flow import signatory

pytestmark = [pytest.mark.browser]


def test_enhanced_signatory_accepts_on_the_hosted_page_in_chromium(
    chromium_path, pc_simulator, demo, demo_user, settings, monkeypatch, save_screenshot
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    litware = demo["litware"]
    outcome = gate.submit_acceptance(
        actor=demo_user("bss"),
        account=litware,
        data=signatory(),
        context=gate.ConfirmationContext(channel=Channel.BSS_EXECUTION),
    )
    assert outcome.link

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(outcome.link)
            assert "Lena Fischer" in page.content()
            save_screenshot(page, "microsoft-acceptance-page")
            page.get_by_role("button", name="Accept").click()
            page.wait_for_load_state()
            assert "accepted" in page.content().lower()
        finally:
            browser.close()

    decision = gate.check_now(litware)
    assert not decision.needed and decision.reason_code == "signatory_at_microsoft"
    assert gate.check(litware, [Operation.NEW_PURCHASE]).reason.startswith("Accepted at Microsoft by Lena Fischer")
    assert AcceptanceRecord.objects.filter(account=litware, event=RecordEvent.AGREEMENT_CREATED).exists()
