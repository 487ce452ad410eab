"""How the pages fit a screen: Microsoft's page inside the checkout shows its Accept button without scrolling (a
laptop and a phone), and no main page is wider than 1280 px when a customer's name is 100 characters long."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bss.choices import OrderStatus, Role
from bss.models import Account, Reseller
from demo.accounts import DEMO_PASSWORD
from tests.browser_support import TIMEOUT_MS
from tests.factories import OrderFactory, OrderLineFactory, SubscriptionFactory, UserFactory
from tests.storefront.test_browser_store import add_to_cart, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# 100 characters, words as long as real company names get.
LONG_NAME = "Northwind Intercontinental Consolidated Holdings & Subsidiaries Trading Company of Western Europe AG"
# 100 characters without a space (a name written as one word, or a domain), which only wraps where CSS lets it.
LONG_WORD = ("NorthwindIntercontinental" * 4)[:100]
assert len(LONG_NAME) == len(LONG_WORD) == 100


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


@pytest.fixture(params=[LONG_NAME, LONG_WORD], ids=["words", "one-word"])
def long_named_customer(request, demo, simulator):
    """A Contoso customer with a 100-character name, its own user, a placed order, a subscription and a link out
    to its signatory (so My agreements shows its action columns)."""
    from bss.choices import Channel
    from bss.models import Product
    from mca import gate

    name = request.param
    account = Account.objects.create(
        name=name, reseller=Reseller.objects.get(slug="contoso"), country="US", language="en-US"
    )
    user = UserFactory.with_role(Role.CUSTOMER, account=account, username="longco", first_name="Lee", last_name="Long")
    user.set_password(DEMO_PASSWORD)
    user.save()
    product = Product.objects.get(sku="MS-M365-E3")
    order = OrderFactory(account=account, status=OrderStatus.PLACED, created_by=user)
    OrderLineFactory(order=order, product=product, quantity=7, unit_price=product.price)
    SubscriptionFactory(account=account, product=product, seats=7)
    gate.submit_acceptance(
        actor=user,
        account=account,
        data={
            "signatory_first_name": "Maximiliane-Charlotte",
            "signatory_last_name": "Oberhausen-Wittgensteinbach",
            "signatory_email": "maximiliane-charlotte.oberhausen-wittgensteinbach@northwind-intercontinental.example",
            "signatory_phone": "",
            "company_name": name,
            "authority_confirmed": "on",
        },
        context=gate.ConfirmationContext(channel=Channel.STOREFRONT),
    )
    return account, order


def signed_in(browser, live_server, username: str):
    """A laptop-sized context signed in as `username` (a session made by Django's test client)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    context, page = new_page(browser, live_server, LAPTOP)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    return context, page


def test_no_main_page_is_wider_than_1280_px_with_a_100_character_name(
    browser, live_server, long_named_customer, allow_async_unsafe
):
    account, order = long_named_customer
    pages = {
        "longco": [
            "/store/",
            "/store/cart/",
            f"/store/orders/{order.number}/",
            "/store/subscriptions/",
            "/store/agreements/",
        ],
        "reseller": ["/store/agreements/", "/store/checkout/"],
        "bss": [
            "/bss/",
            "/bss/orders/",
            f"/bss/orders/{order.number}/",
            "/bss/accounts/",
            f"/bss/accounts/{account.pk}/",
            "/bss/subscriptions/",
            "/bss/acceptances/",
        ],
        "admin": [
            "/admin/bss/account/",
            f"/admin/bss/account/{account.pk}/change/",
            "/admin/mca/acceptancerecord/",
            "/admin/mca/attestation/",
        ],
    }
    too_wide = {}
    for username, paths in pages.items():
        context, page = signed_in(browser, live_server, username)
        try:
            if username == "reseller":  # the customer picker needs a cart
                add_to_cart(page, "Microsoft 365 E3")
            for path in paths:
                response = page.goto(path)
                assert response.ok, f"{username} {path}: {response.status}"
                assert account.name[:40] in page.content() or path in ("/store/", "/store/cart/"), path
                width = page.evaluate("document.documentElement.scrollWidth")
                # A table in a scrolling wrapper keeps the page narrow but hides its last columns: measured too.
                widest_table = page.evaluate(
                    "Math.max(0, ...[...document.querySelectorAll('.table-wrap')]"
                    ".map(w => w.scrollWidth - w.clientWidth))"
                )
                if width > LAPTOP["width"] or widest_table > 0:
                    too_wide[f"{username} {path}"] = (width, widest_table)
        finally:
            context.close()
    assert not too_wide, too_wide
