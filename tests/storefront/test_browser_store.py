"""The storefront as a person uses it: Debian's chromium through Playwright against the live server (with the
Partner Center simulator served by it). The README's screenshots are taken here (`make screenshots`)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from bss.models import Order
from demo.accounts import DEMO_PASSWORD
from tests.browser_support import TIMEOUT_MS
from tests.factories import SubscriptionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server, demo, allow_async_unsafe):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1100, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def simulator(pc_simulator, settings):
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    settings.MCA_ATTESTATION_POLL_SECONDS = 0
    return pc_simulator


def sign_in(page: Page, username: str, store: str = "/store/") -> None:
    page.goto(f"{store}sign-in/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/store/"))


def add_to_cart(page: Page, product: str, seats: int = 3, store: str = "/store/") -> None:
    page.goto(store)
    card = page.get_by_role("region", name=product)
    card.get_by_label("Seats").fill(str(seats))
    card.get_by_role("button", name=f"Add {product} to cart").click()
    page.wait_for_url(re.compile(r"/cart/$"))


def place_order(page: Page) -> str:
    page.wait_for_url(re.compile(r"/checkout/review/$"))
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r"/orders/"))
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def test_store_direct_customer_accepts_on_microsofts_page_then_orders_again_without_form(
    page, simulator, save_screenshot
):
    sign_in(page, "customer")
    page.goto("/store/")
    expect(page.get_by_role("heading", name="Microsoft 365 E3")).to_be_visible()
    save_screenshot(page, "storefront-catalog")
    add_to_cart(page, "Microsoft 365 E3")
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url(re.compile(r"/service-details/$"))
    expect(page.get_by_label("Signatory's first name")).to_have_value("Nancy")  # prefilled from the user
    page.get_by_label(re.compile("I am authorised to accept")).check()
    save_screenshot(page, "storefront-mca-step")
    page.get_by_role("button", name="Submit").click()

    frame = page.frame_locator("#microsoft-frame")
    expect(frame.get_by_role("heading", name="Review and accept the Microsoft Customer Agreement")).to_be_visible()
    expect(page.get_by_role("link", name="open Microsoft's acceptance page")).to_be_visible()
    save_screenshot(page, "storefront-microsoft-page")
    frame.get_by_role("button", name="Accept").click()
    expect(frame.get_by_role("heading", name="You have accepted the Microsoft Customer Agreement")).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    number = place_order(page)
    expect(page.get_by_role("heading", name=re.compile("is placed"))).to_be_visible()
    assert Order.objects.get(number=number).status == "placed"

    # The same customer orders again: no form, the reason in one line.
    add_to_cart(page, "Microsoft 365 Business Standard", seats=1)
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url(re.compile(r"/service-details/$"))
    expect(page.get_by_label("Signatory's first name")).to_have_count(0)
    expect(page.locator("#mca-reason")).to_contain_text("ccepted")
    page.get_by_role("link", name="Continue to review").click()
    assert Order.objects.get(number=place_order(page)).status == "placed"

    page.goto("/store/agreements/")
    expect(page.get_by_role("heading", name="My agreements")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Signatory accepted")
    save_screenshot(page, "storefront-agreements")


def test_store_reseller_attests_for_a_new_customer(page, simulator):
    from django.core import mail

    sign_in(page, "reseller")
    add_to_cart(page, "Microsoft 365 E3", seats=10)
    page.get_by_role("link", name="Checkout").click()
    page.get_by_label("Company name").fill("Graphic Design Institute")
    page.get_by_label("Country").select_option("GB")
    page.get_by_role("button", name="Create customer and continue").click()
    page.wait_for_url(re.compile(r"/service-details/$"))
    page.get_by_label("Signatory's first name").fill("Grace")
    page.get_by_label("Signatory's last name").fill("Designer")
    page.get_by_label("Signatory's e-mail").fill("grace@graphicdesign.example")
    page.get_by_label(re.compile("I confirm that the person named above")).check()
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("status").first).to_contain_text("sent to Grace Designer (g****@graphicdesign.example)")
    assert mail.outbox[-1].to == ["grace@graphicdesign.example"]
    page.get_by_role("link", name="place the order now").click()
    place_order(page)
    expect(page.get_by_role("status")).to_contain_text("Awaiting MCA acceptance")


def test_store_white_label_checkout_by_wl_customer_with_fabrikams_brand(page, simulator, save_screenshot):
    sign_in(page, "wl-customer", store="/store/fabrikam/")
    assert page.url.endswith("/store/fabrikam/")
    assert page.title() == "Fabrikam Cloud Store"
    header = page.locator("header")
    assert header.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(92, 45, 145)"
    # Tailspin Toys' account language is fr-FR: its user shops in French (tests/storefront/test_browser_i18n.py).
    page.goto("/store/fabrikam/")
    card = page.get_by_role("region", name="Microsoft 365 E3")
    card.get_by_label("Licences").fill("3")
    card.get_by_role("button", name="Ajouter Microsoft 365 E3 au panier").click()
    page.wait_for_url(re.compile(r"/cart/$"))
    page.get_by_role("link", name="Commander", exact=True).click()
    page.wait_for_url(re.compile(r"/store/fabrikam/checkout/service-details/$"))
    assert "Cloud Provider" not in page.content()
    page.get_by_label(re.compile(re.escape("Je suis autorisé(e)"))).check()
    page.get_by_role("button", name="Envoyer").click()
    frame = page.frame_locator("#microsoft-frame")
    frame.get_by_role("button", name="Accepter").click()
    expect(frame.get_by_role("heading", name=re.compile("accepté"))).to_be_visible()
    page.get_by_role("button", name="Continuer", exact=True).click()
    page.wait_for_url(re.compile(r"/checkout/review/$"))
    page.get_by_role("button", name="Passer la commande").click()
    page.wait_for_url(re.compile(r"/orders/"))
    number = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert "/store/fabrikam/orders/" in page.url and "Cloud Provider" not in page.content()
    save_screenshot(page, "storefront-white-label-order")
    assert Order.objects.get(number=number).account.name == "Tailspin Toys"


def test_store_renewal_shows_no_form(page, demo):
    SubscriptionFactory(account=demo["northwind"], product__name="Microsoft 365 E5", seats=4)
    sign_in(page, "customer")
    page.goto("/store/subscriptions/")
    page.get_by_role("button", name="Renew Microsoft 365 E5 for Northwind Traders").click()
    page.wait_for_url(re.compile(r"/service-details/$"))
    expect(page.locator("#mca-reason")).to_have_text("Not needed for a renewal.")
    expect(page.locator("input[name=authority_confirmed]")).to_have_count(0)


def test_checkout_invalid_form_shows_errors_next_to_the_fields(page, settings, save_screenshot):
    settings.MCA_ATTESTATION_FLOW = "legacy"
    settings.MCA_STATUS_TIME_BUDGET = 0.3
    sign_in(page, "customer")
    add_to_cart(page, "Microsoft 365 E3")
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url(re.compile(r"/service-details/$"))
    page.get_by_label("First name").fill("<script>alert(1)</script>")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Submit").click()
    first = page.get_by_label("First name")
    expect(first).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_first_name_errors")).to_contain_text("letters")
    expect(page.locator("#id_email_errors")).to_be_visible()
    expect(page.locator("#id_accepted_errors")).to_contain_text("Tick the box")
    save_screenshot(page, "storefront-form-errors")
