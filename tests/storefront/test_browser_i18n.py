"""A German and a French checkout in chromium: the customer's account language all the way, Microsoft's page inside
the checkout included, with amounts in the locale's format."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bss.choices import Role
from bss.models import Order
from demo.accounts import DEMO_PASSWORD
from tests.browser_support import TIMEOUT_MS
from tests.factories import UserFactory
from tests.storefront.test_browser_store import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GERMAN = {
    "catalog": "Katalog",
    "seats": "Lizenzen",
    "add": "Microsoft 365 E3 in den Warenkorb",
    "checkout": "Zur Kasse",
    "details": "Servicedetails",
    "authority": "Ich bin berechtigt",
    "submit": "Absenden",
    "microsoft": "Microsoft-Kundenvertrag prüfen und annehmen",
    "accept": "Annehmen",
    "accepted": "Sie haben den Microsoft-Kundenvertrag angenommen",
    "continue": "Weiter",
    "place": "Bestellung aufgeben",
    "placed": r"Vielen Dank: Bestellung .* ist aufgegeben",
    "price": "36,00",
}
FRENCH = {
    "catalog": "Catalogue",
    "seats": "Licences",
    "add": "Ajouter Microsoft 365 E3 au panier",
    "checkout": "Commander",
    "details": "Détails du service",
    "authority": "Je suis autorisé(e)",
    "submit": "Envoyer",
    "microsoft": "Consultez et acceptez le Contrat client Microsoft",
    "accept": "Accepter",
    "accepted": "Vous avez accepté le Contrat client Microsoft",
    "continue": "Continuer",
    "place": "Passer la commande",
    "placed": r"Merci : la commande .* est passée",
    "price": "36,00",
}


@pytest.fixture
def simulator(pc_simulator, settings):
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    settings.MCA_ATTESTATION_POLL_SECONDS = 0
    return pc_simulator


@pytest.fixture
def wide_world_user(demo):
    user = UserFactory.with_role(
        Role.CUSTOMER,
        account=demo["wide-world"],
        username="ww",
        email="wolfgang@wideworld.example",
        first_name="Wolfgang",
        last_name="Weber",
    )
    user.set_password(DEMO_PASSWORD)
    user.save()
    return user


@pytest.mark.parametrize(
    ("username", "store", "words", "language"),
    [("ww", "/store/", GERMAN, "de"), ("wl-customer", "/store/fabrikam/", FRENCH, "fr")],
    ids=["german", "french"],
)
def test_checkout_in_the_customers_language(
    browser, live_server, simulator, wide_world_user, allow_async_unsafe, username, store, words, language
):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in(page, username, store=store)
        page.goto(store)
        assert page.locator("html").get_attribute("lang") == language
        expect(page.get_by_role("heading", name=words["catalog"], exact=True)).to_be_visible()
        card = page.get_by_role("region", name="Microsoft 365 E3")
        expect(card).to_contain_text(words["price"])
        card.get_by_label(words["seats"]).fill("3")
        card.get_by_role("button", name=words["add"]).click()
        page.get_by_role("link", name=words["checkout"], exact=True).click()
        page.wait_for_url(re.compile(r"/service-details/$"))
        expect(page.get_by_role("heading", name=words["details"], exact=True)).to_be_visible()
        page.get_by_label(re.compile(re.escape(words["authority"]))).check()
        page.get_by_role("button", name=words["submit"]).click()

        frame = page.frame_locator("#microsoft-frame")
        expect(frame.get_by_role("heading", name=words["microsoft"])).to_be_visible()
        frame.get_by_role("button", name=words["accept"]).click()
        expect(frame.get_by_role("heading", name=words["accepted"])).to_be_visible()
        page.get_by_role("button", name=words["continue"], exact=True).click()
        page.wait_for_url(re.compile(r"/checkout/review/$"))
        page.get_by_role("button", name=words["place"]).click()
        page.wait_for_url(re.compile(r"/orders/"))
        expect(page.get_by_role("heading", name=re.compile(words["placed"]))).to_be_visible()
        number = page.url.rstrip("/").rsplit("/", 1)[-1]
        assert Order.objects.get(number=number).status == "placed"
        assert "Add to cart" not in page.content() and "Thank you" not in page.content()
    finally:
        context.close()
