"""The BSS in a browser: executing an order through the MCA confirmation form (Debian's chromium, Playwright)."""

from __future__ import annotations

import pytest

from bss.choices import OrderStatus
from bss.models import Order
from demo.accounts import DEMO_PASSWORD
from demo.simulator import seed_simulator
from tests.test_browser import page, site  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def bss_site(pc_simulator, site, settings):  # noqa: F811
    settings.MCA_ATTESTATION_POLL_SECONDS = 0
    seed_simulator()
    return site


def sign_in(page, username: str) -> None:  # noqa: F811
    page.goto("/accounts/login/?next=/bss/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/bss/")


def test_bss_user_executes_an_order_through_the_confirmation_form(page, bss_site, settings, save_screenshot):  # noqa: F811
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    sign_in(page, "bss")
    page.click("text=SO-DEMO-LITWARE")
    page.click("button:has-text('Execute')")
    page.wait_for_selector("#mca-heading")
    assert "Execute order SO-DEMO-LITWARE" in page.locator("h1").inner_text()
    page.get_by_label("Signatory's first name").fill("Lisa")
    page.get_by_label("Signatory's last name").fill("Andrews")
    page.get_by_label("Signatory's e-mail").fill("lisa@litware.example")
    page.get_by_label("I confirm", exact=False).check()
    page.set_viewport_size({"width": 1000, "height": 1400})
    save_screenshot(page, "bss-execute")
    page.click("button:has-text('Confirm and execute')")
    page.wait_for_selector("text=waits for the customer's MCA acceptance")
    # The link went to the signatory only; the page names the address masked (issue 17, item 6).
    text = page.locator("main").inner_text()
    assert "l****@litware.example" in text, text
    assert Order.objects.get(number="SO-DEMO-LITWARE").status == OrderStatus.AWAITING_ACCEPTANCE


def test_white_label_staff_executes_its_customers_order(page, bss_site, settings):  # noqa: F811
    settings.MCA_ATTESTATION_FLOW = "legacy"
    sign_in(page, "wl-bss")
    assert "SO-DEMO-LITWARE" not in page.locator("main").inner_text()
    page.click("text=SO-DEMO-TAILSPIN")
    page.click("button:has-text('Execute')")
    page.get_by_label("First name").fill("Thomas")
    page.get_by_label("Last name").fill("Martin")
    page.get_by_label("Email").fill("thomas@tailspin.example")
    page.get_by_label("Phone number").fill("+33142685305")
    page.get_by_label("Date of agreement").fill("2026-01-05")
    page.get_by_label("I confirm", exact=False).check()
    page.click("button:has-text('Confirm and execute')")
    page.wait_for_selector("text=is executed")
    order = Order.objects.get(number="SO-DEMO-TAILSPIN")
    assert order.status == OrderStatus.PROVISIONED, order.last_error
    assert order.account.is_synced
    assert "Provisioned" in page.locator("main").inner_text()
