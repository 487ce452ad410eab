"""Issue 18 in Debian's chromium: one MCA state badge on every page, a signatory corrected at checkout, an expired
link shown as expired at once, and a reseller's order page turning to accepted without a click. Screenshots go to
a temporary folder only."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from bss.models import Order
from demo.accounts import DEMO_PASSWORD
from mca.choices import AttestationState
from mca.models import Attestation
from tests.browser_support import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server, demo, allow_async_unsafe, pc_simulator, settings):
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    settings.MCA_ATTESTATION_POLL_SECONDS = 0
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def store_sign_in(page: Page, username: str) -> None:
    page.goto("/store/sign-in/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/store/"))


def name_signatory(page: Page, email: str) -> None:
    page.get_by_label("Signatory's first name").fill("Wolfgang")
    page.get_by_label("Signatory's last name").fill("Weber")
    page.get_by_label("Signatory's e-mail").fill(email)
    page.get_by_label(re.compile("I confirm that the person named above")).check()


def to_wide_world_details(page: Page) -> None:
    store_sign_in(page, "reseller")
    page.goto("/store/")
    card = page.get_by_role("region", name="Microsoft 365 E3")
    card.get_by_label("Seats").fill("3")
    card.get_by_role("button", name="Add Microsoft 365 E3 to cart").click()
    page.wait_for_url(re.compile(r"/cart/$"))
    page.get_by_role("link", name="Checkout").click()
    # The customer picker: every customer with its MCA state badge.
    expect(page.locator("form [data-mca-state]").first).to_be_visible()
    assert page.locator("form [data-mca-state]").count() >= 5
    page.get_by_label("Wide World Importers").check()
    page.get_by_role("button", name="Continue", exact=True).click()
    page.wait_for_url(re.compile(r"/service-details/$"))


def test_reseller_corrects_a_mistyped_signatory(page, tmp_path):
    to_wide_world_details(page)
    expect(page.locator("#mca-title [data-mca-state]")).to_have_attribute("data-mca-state", "required")
    name_signatory(page, "wolfgang@wideworld.exmaple")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#link-sent")).to_contain_text("w****@wideworld.exmaple")
    expect(page.locator("#mca-title [data-mca-state]")).to_have_attribute("data-mca-state", "pending")
    wrong = Attestation.objects.get()

    page.get_by_role("link", name="Change the signatory").click()
    name_signatory(page, "wolfgang@wideworld.example")
    page.get_by_role("button", name="Send the link to this signatory").click()
    expect(page.locator("#link-sent")).to_contain_text("w****@wideworld.example")
    page.screenshot(path=str(tmp_path / "signatory-corrected.png"), full_page=True)
    assert Attestation.objects.get(pk=wrong.pk).state == AttestationState.SUPERSEDED
    right = Attestation.objects.exclude(pk=wrong.pk).get()
    assert right.signatory_email == "wolfgang@wideworld.example"

    # The signatory's old link now says it was superseded.
    page.goto(wrong.acceptance_url)
    expect(page.get_by_role("heading", name="This link was superseded")).to_be_visible()


def test_an_expired_link_is_shown_as_expired_at_once(page, pc_simulator):
    to_wide_world_details(page)
    name_signatory(page, "wolfgang@wideworld.example")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#mca-title [data-mca-state]")).to_have_attribute("data-mca-state", "pending")
    pc_simulator.expire_attestation(Attestation.objects.get().attestation_id)
    page.reload()
    badge = page.locator("#mca-title [data-mca-state]")
    expect(badge).to_have_attribute("data-mca-state", "expired")
    expect(badge).to_contain_text("Expired")
    expect(page.locator("#mca-reason")).not_to_contain_text("expires")
    expect(page.get_by_role("button", name=re.compile("Send a new link"))).to_be_visible()


def test_a_resellers_order_page_changes_to_accepted_without_a_click(page, pc_simulator):
    to_wide_world_details(page)
    name_signatory(page, "wolfgang@wideworld.example")
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("link", name="place the order now").click()
    page.wait_for_url(re.compile(r"/checkout/review/$"))
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r"/orders/"))
    number = page.url.rstrip("/").rsplit("/", 1)[-1]
    badge = page.locator("#order-mca [data-mca-state]")
    expect(badge).to_have_attribute("data-mca-state", "pending")
    expect(page.get_by_role("heading", level=1)).to_contain_text("waits for the Microsoft Customer Agreement")

    pc_simulator.accept_attestation(Attestation.objects.get().attestation_id)
    # No click: the page's poll asks, Microsoft reports the acceptance, the order goes back to "placed".
    expect(badge).to_have_attribute("data-mca-state", "accepted", timeout=20_000)
    expect(page.get_by_role("heading", level=1)).to_contain_text("is placed")
    expect(page.get_by_text("Next: your provider executes the order")).to_be_visible()
    assert Order.objects.get(number=number).status == "placed"

    page.goto("/store/agreements/")
    expect(
        page.locator("#customer-states tr", has_text="Wide World Importers").locator("[data-mca-state]")
    ).to_have_attribute("data-mca-state", "accepted")


def test_the_badge_on_the_bss_and_admin_pages(page, demo):
    page.goto("/accounts/login/?next=/bss/")
    page.fill("#id_username", "bss")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/bss/")
    expect(page.locator("main [data-mca-state]").first).to_be_visible()  # the dashboard's order tables
    page.goto("/bss/accounts/")
    rows = page.locator("tbody tr")
    assert rows.count() >= 10
    for index in range(rows.count()):
        expect(rows.nth(index).locator("[data-mca-state]")).to_have_count(1)
    shown = {
        rows.nth(index).locator("[data-mca-state]").get_attribute("data-mca-state") for index in range(rows.count())
    }
    assert len(shown) >= 2 and "required" in shown  # the demo has customers in several states
    badge = page.locator("tbody tr", has_text="Northwind Traders").locator("[data-mca-state]")
    expect(badge).to_contain_text("MCA:")  # the state in words, not colour alone
    assert badge.get_attribute("title")  # the sentence and next action as its tooltip
    order = Order.objects.filter(account__reseller__isnull=False).first()
    page.goto(f"/bss/orders/{order.number}/")
    expect(page.locator("#order-mca [data-mca-state]")).to_be_visible()

    page.context.clear_cookies()
    page.goto("/admin/login/?next=/admin/bss/account/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/bss/account/")
    expect(page.locator("#result_list [data-mca-state]").first).to_be_visible()
