"""How the pages fit a screen: Microsoft's page inside the checkout shows its Accept button without scrolling (a
laptop and a phone), and no main page is wider than 1280 px when a customer's name is 100 characters long."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser_support import TIMEOUT_MS
from tests.storefront.test_browser_store import add_to_cart, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# 100 characters, words as long as real company names get.
LONG_NAME = "Northwind Intercontinental Consolidated Holdings & Subsidiaries Trading Company of Western Europe AG"
assert len(LONG_NAME) == 100


@pytest.fixture
def simulator(pc_simulator, settings):
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    settings.MCA_ATTESTATION_POLL_SECONDS = 0
    return pc_simulator


def new_page(browser, live_server, viewport):
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280x800", "390x844"])
def test_microsofts_page_in_the_checkout_shows_accept_without_scrolling(
    browser, live_server, demo, simulator, allow_async_unsafe, viewport
):
    context, page = new_page(browser, live_server, viewport)
    try:
        sign_in(page, "customer")
        add_to_cart(page, "Microsoft 365 E3")
        page.get_by_role("link", name="Checkout").click()
        page.wait_for_url(re.compile(r"/service-details/$"))
        page.get_by_label(re.compile("I am authorised to accept")).check()
        page.get_by_role("button", name="Submit").click()
        frame_locator = page.frame_locator("#microsoft-frame")
        accept = frame_locator.get_by_role("button", name="Accept")
        expect(accept).to_be_visible()
        frame = page.locator("#microsoft-frame").element_handle().content_frame()
        fits = frame.evaluate(
            """() => {
                const button = [...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Accept');
                return {bottom: button.getBoundingClientRect().bottom, height: window.innerHeight,
                        scrolled: document.scrollingElement.scrollTop};
            }"""
        )
        assert fits["scrolled"] == 0 and fits["bottom"] <= fits["height"], fits

        accept.click()
        done = frame_locator.get_by_role("heading", name="You have accepted the Microsoft Customer Agreement")
        expect(done).to_be_visible()
        inside = page.locator("#microsoft-frame").element_handle().content_frame().locator("body").inner_text()
        assert "close this page" not in inside.lower()

        # The same page opened on its own (from the e-mail, a tab of its own) still says the tab can be closed.
        page.goto(page.get_by_role("link", name="open Microsoft's acceptance page").get_attribute("href"))
        expect(page.get_by_role("heading", name="This agreement has already been accepted")).to_be_visible()
        assert "You can close this page." in page.locator("body").inner_text()
    finally:
        context.close()
