"""The customer's language: a German or French customer's pages, MCA step, e-mails and Microsoft's page speak its
account's language (Account.language); amounts follow the locale; everyone else, and the API, stay English."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail

from bss.choices import Role
from bss.models import Account, Product
from tests.factories import UserFactory
from tests.storefront.helpers import signatory_form

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db
# Words written the same in German or French.
SAME_IN_TRANSLATION = {"Actions", "Total", "Name", "Status:"}


@pytest.fixture
def german_customer(demo):
    """A user of Wide World Importers (de-DE)."""
    return UserFactory.with_role(Role.CUSTOMER, account=demo["wide-world"], username="ww", email="ww@wideworld.example")


def test_a_german_customer_sees_the_catalog_in_german_with_german_amounts(client, german_customer):
    Product.objects.filter(sku="MS-M365-E3").update(price=Decimal("1234.50"))
    client.force_login(german_customer)
    page = client.get("/store/").content.decode()
    assert '<html lang="de">' in page
    assert "<h1>Katalog</h1>" in page and "In den Warenkorb" in page
    assert "1.234,50" in page and "12,50" in page  # grouped, decimal comma
    assert "Add to cart" not in page


def test_a_french_white_label_customer_sees_its_store_in_french(client, demo_user):
    client.force_login(demo_user("wl-customer"))  # Tailspin Toys, fr-FR, Fabrikam's store
    page = client.get("/store/fabrikam/").content.decode()
    assert '<html lang="fr">' in page and "<h1>Catalogue</h1>" in page and "Ajouter au panier" in page
    assert "12,50" in page


def test_the_browser_language_does_not_override_the_accounts(client, german_customer):
    client.force_login(german_customer)
    page = client.get("/store/", headers={"accept-language": "fr"}).content.decode()
    assert "<h1>Katalog</h1>" in page


def test_a_reseller_keeps_english_and_the_api_stays_english_for_a_german_customer(client, demo_user, german_customer):
    client.force_login(demo_user("reseller"))
    assert "<h1>Catalog</h1>" in client.get("/store/").content.decode()
    client.force_login(german_customer)
    problem = client.get("/api/v1/orders/999999/").json()
    assert problem["code"] == "not_found" and "Not found" in problem["title"] + problem.get("detail", "")


def test_the_language_middleware_reads_the_customers_language_in_the_membership_query(rf, german_customer):
    """One query for the membership and its account together; the view's own Membership.of asks nothing more."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import translation

    from bss.models import Membership
    from config.middleware import AccountLanguageMiddleware

    seen = {}

    def view(request):
        membership = Membership.of(request.user)
        seen["language"], seen["account"] = translation.get_language(), membership.account.name
        return None

    request = rf.get("/store/")
    request.user = get_user_model().objects.get(pk=german_customer.pk)
    with translation.override("en"), CaptureQueriesContext(connection) as queries:
        AccountLanguageMiddleware(view)(request)
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert seen == {"language": "de", "account": "Wide World Importers"}


def test_the_mca_step_is_german_for_a_german_customer(client, german_customer, settings, add_to_cart):
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    client.force_login(german_customer)
    add_to_cart()
    page = client.get("/store/checkout/", follow=True).content.decode()
    assert "<h1>Servicedetails</h1>" in page and "Microsoft-Kundenvertrag" in page
    assert "Vorname der unterzeichnenden Person" in page
    assert "Ich bin berechtigt, den Microsoft-Kundenvertrag für Wide World Importers anzunehmen." in page
    assert "Absenden" in page


def test_the_signatorys_e_mail_is_in_the_customers_language(client, demo_user, settings, add_to_cart, pc_simulator):
    """A reseller (English pages) names Wide World's signatory: the e-mail goes out in German."""
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    client.force_login(demo_user("reseller"))
    add_to_cart()
    wide_world = Account.objects.get(name="Wide World Importers")
    client.post("/store/checkout/", {"account": wide_world.pk})
    response = client.post(
        "/store/checkout/service-details/",
        signatory_form(
            signatory_first_name="Wolfgang",
            signatory_last_name="Weber",
            signatory_email="wolfgang@wideworld.example",
            company_name="Wide World Importers",
        ),
        follow=True,
    )
    assert "was sent to Wolfgang Weber" in response.content.decode()  # the reseller's page: English
    [message] = mail.outbox
    assert message.subject.endswith("Bitte akzeptieren Sie den Microsoft-Kundenvertrag für Wide World Importers")
    assert message.body.startswith("Guten Tag Wolfgang Weber,")
    link = re.search(r"(http\S+/accept)", message.body).group(1)
    page = client.get(link.replace(pc_simulator.base_url.split("/simulator")[0], "")).content.decode()
    assert "Microsoft-Kundenvertrag prüfen und annehmen" in page and ">Annehmen</button>" in page


def test_the_compiled_catalogues_match_their_sources():
    """The .mo files are committed (no gettext tools needed on a fresh machine): each must hold every
    translation of its .po, so an edited .po without a recompile fails here."""
    for language in ("de", "fr"):
        folder = ROOT / "locale" / language / "LC_MESSAGES"
        po = (folder / "django.po").read_text()
        with (folder / "django.mo").open("rb") as handle:
            catalogue = gettext.GNUTranslations(handle)
        pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.+)"$', po, re.MULTILINE)
        assert len(pairs) > 150, language
        for msgid, msgstr in pairs:
            unescape = lambda text: text.replace('\\"', '"').replace("\\\\", "\\")  # noqa: E731
            assert catalogue.gettext(unescape(msgid)) == unescape(msgstr), (language, msgid)
        if shutil.which("msgfmt"):
            result = subprocess.run(["msgfmt", "--check", "-o", "/dev/null", str(folder / "django.po")], check=False)
            assert result.returncode == 0


@pytest.mark.parametrize("template", sorted((ROOT / "templates" / "storefront").glob("*.html")), ids=lambda p: p.name)
def test_every_storefront_template_is_translated_into_german_and_french(template):
    """Each {% translate %} string of the storefront has a German and a French translation."""
    text = template.read_text()
    strings = re.findall(r'{% translate "([^"]+)" %}', text)
    for language in ("de", "fr"):
        with (ROOT / "locale" / language / "LC_MESSAGES" / "django.mo").open("rb") as handle:
            catalogue = gettext.GNUTranslations(handle)
        untranslated = [s for s in strings if catalogue.gettext(s) == s and s not in SAME_IN_TRANSLATION]
        assert not untranslated, (language, untranslated)


@pytest.mark.parametrize(
    "username, words",
    [
        ("ww", "Neuer Microsoft-Kunde: Die MCA muss vor der ersten Microsoft-Bestellung angenommen werden."),
        ("wl-customer", "Nouveau client Microsoft : le MCA doit être accepté avant la première commande Microsoft."),
    ],
)
def test_the_mca_steps_reason_is_translated_while_the_stored_note_stays_english(
    client, demo, demo_user, german_customer, settings, add_to_cart, username, words
):
    """The gate's reason is English where it is kept (the held order's history note, the API's state) and in the
    customer's language on the MCA step."""
    from bss.services.holds import hold_for_acceptance
    from mca import gate
    from tests.bss.conftest import make_order

    settings.MCA_ATTESTATION_FLOW = "enhanced"
    user = german_customer if username == "ww" else demo_user(username)
    account = Account.objects.get(members__user=user)
    account.partner_center_tenant_id = None  # a new Microsoft customer: the reason names no date or person
    account.save(update_fields=["partner_center_tenant_id"])
    client.force_login(user)
    store = "/store/" if username == "ww" else "/store/fabrikam/"
    add_to_cart(store=store)
    page = client.get(f"{store}checkout/", follow=True).content.decode()
    english = gate.check(account, ["new_purchase"]).reason
    assert english == "New Microsoft customer: the MCA must be accepted before the first Microsoft order"
    assert f'<p class="reason" id="mca-reason">{words}</p>' in page and english not in page

    order = make_order(account)
    hold_for_acceptance(order, by=None, reason=gate.check(account, ["new_purchase"]).hold_reason)
    assert order.status_changes.last().note == english
