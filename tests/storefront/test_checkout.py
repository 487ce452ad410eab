"""The storefront's checkout (SPEC flows 1–3): catalog → cart → customer → Service Details (the MCA step) →
review → place order, in both attestation flows, and every refusal writing nothing."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from bss.choices import Operation, OrderStatus
from bss.models import Account, Order, Product
from mca import gate
from mca.models import AcceptanceRecord, Attestation
from tests.factories import SubscriptionFactory
from tests.storefront.helpers import hidden_key, legacy_form, signatory_form

pytestmark = pytest.mark.django_db

DETAILS = "/store/checkout/service-details/"
REVIEW = "/store/checkout/review/"
PLACE = "/store/checkout/place-order/"


def new_orders():
    """Orders the test placed (the demo data seeds placed orders of its own for the BSS)."""
    return Order.objects.exclude(number__startswith="SO-DEMO-")


def place(client) -> Order:
    review = client.get(REVIEW)
    assert review.status_code == 200, review.headers.get("Location")
    response = client.post(PLACE, {"idempotency_key": hidden_key(review.content.decode())})
    assert response.status_code == 302 and "/store/orders/" in response.url
    return Order.objects.get(number=response.url.rstrip("/").rsplit("/", 1)[-1])


# --- Catalog and stores ------------------------------------------------------------------------------------


def test_csp_store_lists_microsoft_365_products_with_prices_and_terms(client, demo):
    body = client.get("/store/").content.decode()
    assert "Microsoft 365 E3" in body and "Microsoft 365 Business Standard" in body
    assert "36.00 USD" in body and "Annual" in body


def test_white_label_store_shows_only_the_resellers_brand(client, demo):
    body = client.get("/store/fabrikam/").content.decode()
    assert "Fabrikam Cloud Store" in body and "#5C2D91" in body
    assert "Cloud Provider" not in body and "MCA acceptance" not in body
    assert 'href="/store/fabrikam/cart/"' in body


def test_white_label_store_on_its_own_host(client, demo, settings):
    settings.ALLOWED_HOSTS = ["cloud.fabrikam.example", "testserver"]
    from bss.models import Reseller

    Reseller.objects.filter(slug="fabrikam").update(storefront_host="cloud.fabrikam.example")
    body = client.get("/store/", HTTP_HOST="cloud.fabrikam.example").content.decode()
    assert "Fabrikam Cloud Store" in body and "Cloud Provider" not in body
    assert 'href="/store/cart/"' in body  # its own host: no slug in its URLs


def test_customer_user_lands_in_its_own_accounts_store(client, demo_user):
    client.force_login(demo_user("wl-customer"))
    response = client.get("/store/cart/")
    assert response.status_code == 302 and response.url == "/store/fabrikam/cart/"


def test_sign_in_per_store_sends_a_customer_to_its_own_store(client, demo):
    response = client.post("/store/fabrikam/sign-in/", {"username": "customer", "password": "demo"})
    assert response.status_code == 302 and response.url == "/store/"
    response = client.post("/store/fabrikam/sign-in/", {"username": "wl-customer", "password": "demo"})
    assert response.url == "/store/fabrikam/"


def test_checkout_needs_sign_in_in_the_store(client, demo, add_to_cart):
    add_to_cart(store="/store/fabrikam/")
    response = client.get("/store/fabrikam/checkout/")
    assert response.status_code == 302 and response.url.startswith("/store/fabrikam/sign-in/?next=")


# --- Flow 1, legacy: the customer accepts at checkout ------------------------------------------------------


def test_legacy_customer_accepts_and_the_order_is_placed(client, demo_user, legacy, add_to_cart):
    client.force_login(demo_user("customer"))
    add_to_cart()
    assert client.get("/store/checkout/").url == DETAILS
    page = client.get(DETAILS).content.decode()
    assert "I accept the Microsoft Customer Agreement" in page and 'name="date_agreed"' in page
    response = client.post(DETAILS, legacy_form())
    assert response.status_code == 302 and response.url == REVIEW
    record = AcceptanceRecord.objects.get(account__name="Northwind Traders")
    assert record.channel == "storefront" and record.evidence_class == "first_party"
    order = place(client)
    assert order.status == OrderStatus.PLACED and order.account.name == "Northwind Traders"
    assert client.get(f"/store/orders/{order.number}/").status_code == 200
    assert "Your cart is empty" in client.get("/store/cart/").content.decode()


def test_legacy_double_submit_writes_one_record_and_one_order(client, demo_user, legacy, add_to_cart):
    client.force_login(demo_user("customer"))
    add_to_cart()
    client.get("/store/checkout/")
    form = legacy_form()
    client.post(DETAILS, form)
    client.post(DETAILS, form)  # the second click: nothing to accept any more, nothing written
    assert AcceptanceRecord.objects.count() == 1
    review = client.get(REVIEW).content.decode()
    key = hidden_key(review)
    first = client.post(PLACE, {"idempotency_key": key})
    second = client.post(PLACE, {"idempotency_key": key})
    assert new_orders().count() == 1
    assert first.url == second.url


def test_customer_who_accepted_before_sees_no_form(client, demo_user, legacy, add_to_cart):
    client.force_login(demo_user("customer"))
    add_to_cart()
    client.get("/store/checkout/")
    client.post(DETAILS, legacy_form())
    place(client)
    add_to_cart(sku="MS-M365-BS", quantity=1)
    client.get("/store/checkout/")
    page = client.get(DETAILS).content.decode()
    assert 'name="first_name"' not in page and "Continue to review" in page
    assert place(client).status == OrderStatus.PLACED
    assert AcceptanceRecord.objects.count() == 1


KNOWLEDGE_READ = 'SELECT "mca_customerknowledge"'


def test_checkout_steps_check_a_known_customer_without_a_query_of_their_own(client, demo, demo_user, add_to_cart):
    """Issue 13: the customer's knowledge comes with the account every step loads anyway, so Service Details, the
    review and place-order guards and place_order itself answer a known customer without reading it again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mca.attestation.legacy import confirm_acceptance
    from tests.mca.helpers import context, form_data

    confirm_acceptance(actor=demo_user("customer"), account=demo["northwind"], data=form_data(), context=context())
    client.force_login(demo_user("customer"))
    add_to_cart()
    client.get("/store/checkout/")
    with CaptureQueriesContext(connection) as queries:
        assert "Continue to review" in client.get(DETAILS).content.decode()
        order = place(client)
    assert order.status == OrderStatus.PLACED
    knowledge_reads = [sql for sql in (q["sql"] for q in queries.captured_queries) if sql.startswith(KNOWLEDGE_READ)]
    assert knowledge_reads == []


def test_non_microsoft_order_needs_no_form_and_says_why(client, demo_user, add_to_cart):
    client.force_login(demo_user("customer"))
    add_to_cart(sku="ACR-CYBER-BACKUP")
    client.get("/store/checkout/")
    page = client.get(DETAILS).content.decode()
    assert (
        "Not needed: no Microsoft product in this order" in page
        and '<form method="post" action="/store/checkout/service-details/" novalidate>' not in page
    )
    assert place(client).status == OrderStatus.PLACED


def test_renewal_needs_no_form(client, demo, demo_user):
    northwind = demo["northwind"]
    subscription = SubscriptionFactory(account=northwind, product__name="Microsoft 365 E3 (existing)", seats=5)
    client.force_login(demo_user("customer"))
    response = client.post("/store/subscriptions/", {"subscription": subscription.pk, "action": "renew"})
    assert response.url == "/store/checkout/"
    client.get("/store/checkout/")
    page = client.get(DETAILS).content.decode()
    assert "Not needed for a renewal" in page and "authority_confirmed" not in page
    order = place(client)
    line = order.lines.get()
    assert line.operation == Operation.RENEWAL and line.subscription == subscription


@pytest.mark.parametrize("seats, operation", [(8, Operation.SEAT_INCREASE), (2, Operation.SEAT_DECREASE)])
def test_seat_change_goes_through_the_mca_step(client, demo, demo_user, legacy, seats, operation):
    subscription = SubscriptionFactory(account=demo["northwind"], seats=5)
    client.force_login(demo_user("customer"))
    client.post("/store/subscriptions/", {"subscription": subscription.pk, "seats": seats})
    client.get("/store/checkout/")
    assert 'name="accepted"' in client.get(DETAILS).content.decode()  # a seat change needs the MCA (R1)
    client.post(DETAILS, legacy_form())
    line = place(client).lines.get()
    assert (line.operation, line.quantity, line.subscription) == (operation, seats, subscription)


def test_seat_change_to_the_same_count_is_refused_next_to_the_field(client, demo, demo_user):
    subscription = SubscriptionFactory(account=demo["northwind"], seats=5)
    client.force_login(demo_user("customer"))
    response = client.post("/store/subscriptions/", {"subscription": subscription.pk, "seats": 5})
    assert response.status_code == 400
    assert f'id="id_sub{subscription.pk}_seats_errors"' in response.content.decode()


# --- Flow 1, enhanced: the customer is the signatory --------------------------------------------------------


def test_enhanced_form_is_prefilled_with_the_customer_user(client, demo_user, enhanced, add_to_cart):
    client.force_login(demo_user("customer"))
    add_to_cart()
    client.get("/store/checkout/")
    page = client.get(DETAILS).content.decode()
    assert 'value="Nancy"' in page and 'value="customer@demo.example"' in page
    assert "I am authorised to accept the Microsoft Customer Agreement for Northwind Traders" in page


def test_enhanced_submission_holds_the_order_while_the_link_is_out(
    client, demo_user, enhanced, add_to_cart, django_capture_on_commit_callbacks
):
    client.force_login(demo_user("customer"))
    add_to_cart()
    client.get("/store/checkout/")
    response = client.post(DETAILS, signatory_form())
    assert response.url == DETAILS
    assert Attestation.objects.count() == 1
    page = client.get(DETAILS).content.decode()
    assert "Continue" in page and 'name="signatory_email"' not in page
    assert place(client).status == OrderStatus.AWAITING_ACCEPTANCE
    assert mail.outbox == []  # the customer is its own signatory: nothing e-mailed


# --- Guards: nothing slips through ------------------------------------------------------------------------


@pytest.mark.parametrize("flow", ["legacy", "enhanced"])
def test_crafted_post_to_place_order_without_acceptance_is_refused(client, demo_user, add_to_cart, settings, flow):
    settings.MCA_ATTESTATION_FLOW = flow
    client.force_login(demo_user("customer"))
    add_to_cart()
    client.get("/store/checkout/")
    response = client.post(PLACE, {"idempotency_key": "crafted-1"})
    assert response.status_code == 302 and response.url == DETAILS
    assert client.get(REVIEW).url == DETAILS
    assert new_orders().count() == 0


def test_place_order_by_get_is_not_allowed(client, demo_user, add_to_cart):
    client.force_login(demo_user("customer"))
    add_to_cart(sku="ACR-CYBER-BACKUP")
    client.get("/store/checkout/")
    assert client.get(PLACE).status_code == 405
    assert new_orders().count() == 0


def test_forged_account_id_of_another_tenant_is_not_found(client, demo, demo_user, add_to_cart):
    client.force_login(demo_user("reseller"))
    add_to_cart()
    response = client.post("/store/checkout/", {"action": "choose", "account": demo["northwind"].pk})
    assert response.status_code == 404
    assert client.get(DETAILS).url == "/store/checkout/"  # no account chosen
    assert new_orders().count() == 0 and AcceptanceRecord.objects.count() == 0


def test_forged_subscription_and_agreement_account_ids_are_not_found(client, demo, demo_user):
    other = SubscriptionFactory(account=demo["northwind"])
    client.force_login(demo_user("reseller"))
    assert client.post("/store/subscriptions/", {"subscription": other.pk, "seats": 9}).status_code == 404
    assert client.post("/store/agreements/", {"account": demo["northwind"].pk}).status_code == 404
    assert AcceptanceRecord.objects.count() == 0


def test_foreign_order_number_is_not_found(client, demo_user, legacy, add_to_cart):
    client.force_login(demo_user("customer"))
    add_to_cart(sku="ACR-CYBER-BACKUP")
    client.get("/store/checkout/")
    order = place(client)
    client.force_login(demo_user("reseller"))
    assert client.get(f"/store/orders/{order.number}/").status_code == 404


@pytest.mark.parametrize("flow, form", [("legacy", legacy_form), ("enhanced", signatory_form)])
def test_acceptance_without_csrf_token_is_refused(demo_user, add_to_cart, settings, flow, form):
    settings.MCA_ATTESTATION_FLOW = flow
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(demo_user("customer"))
    # the cart POST itself is refused without the token
    assert csrf_client.post("/store/", {"product": 1, "quantity": 1}).status_code == 403
    assert csrf_client.post(DETAILS, form()).status_code == 403
    assert csrf_client.post(PLACE, {"idempotency_key": "x"}).status_code == 403
    assert AcceptanceRecord.objects.count() == 0 and new_orders().count() == 0


LEGACY_INVALID = [
    ("first_name", "<script>alert(1)</script>"),
    ("last_name", ""),
    ("email", "not-an-email"),
    ("phone", "12ab"),
    ("date_agreed", "2999-01-01"),
    ("accepted", None),
]
ENHANCED_INVALID = [
    ("signatory_first_name", "<b>Nancy</b>"),
    ("signatory_last_name", ""),
    ("signatory_email", "nancy@"),
    ("signatory_phone", "12ab"),
    ("company_name", "<script>x</script>"),
    ("authority_confirmed", None),
]


def _invalid(client, demo_user, add_to_cart, data):
    client.force_login(demo_user("customer"))
    add_to_cart()
    client.get("/store/checkout/")
    response = client.post(DETAILS, data)
    assert response.status_code == 400
    assert AcceptanceRecord.objects.count() == 0 and Attestation.objects.count() == 0
    return response.content.decode()


@pytest.mark.parametrize("field, value", LEGACY_INVALID)
def test_legacy_invalid_field_shows_its_error_next_to_it_and_writes_nothing(
    client, demo_user, legacy, add_to_cart, field, value
):
    body = _invalid(client, demo_user, add_to_cart, legacy_form(**{field: value}))
    assert f'id="id_{field}_errors"' in body and 'aria-invalid="true"' in body
    assert "<script>alert" not in body


@pytest.mark.parametrize("field, value", ENHANCED_INVALID)
def test_enhanced_invalid_field_shows_its_error_next_to_it_and_writes_nothing(
    client, demo_user, enhanced, add_to_cart, field, value
):
    body = _invalid(client, demo_user, add_to_cart, signatory_form(**{field: value}))
    assert f'id="id_{field}_errors"' in body
    assert "<script>x" not in body and "<b>Nancy" not in body


# --- Flow 2: a reseller orders for its customers -----------------------------------------------------------


def test_reseller_picks_a_customer_and_confirms_legacy(client, demo, demo_user, legacy, add_to_cart):
    client.force_login(demo_user("reseller"))
    add_to_cart()
    page = client.get("/store/checkout/").content.decode()
    assert "Wide World Importers" in page and "Northwind" not in page and "Tailspin" not in page
    client.post("/store/checkout/", {"action": "choose", "account": demo["wide-world"].pk})
    details = client.get(DETAILS).content.decode()
    assert "I confirm that the customer has accepted" in details
    client.post(DETAILS, legacy_form(first_name="Wolfgang", last_name="Weber", email="wolfgang@wideworld.example"))
    record = AcceptanceRecord.objects.get()
    assert record.evidence_class == "attestation" and record.channel == "reseller_storefront"
    assert place(client).account == demo["wide-world"]


def test_reseller_creates_a_new_customer_once_on_double_click(client, demo, demo_user, add_to_cart):
    client.force_login(demo_user("reseller"))
    add_to_cart()
    page = client.get("/store/checkout/").content.decode()
    data = {
        "action": "create",
        "name": "Graphic Design Institute",
        "country": "GB",
        "language": "en-GB",
        "idempotency_key": hidden_key(page),
    }
    assert client.post("/store/checkout/", data).url == DETAILS
    assert client.post("/store/checkout/", data).url == DETAILS
    account = Account.objects.get(name="Graphic Design Institute")
    assert account.reseller.slug == "contoso" and not account.is_synced


def test_new_customer_with_markup_in_its_name_is_shown_escaped(client, demo, demo_user, add_to_cart):
    client.force_login(demo_user("reseller"))
    add_to_cart()
    data = {"action": "create", "name": "<script>alert(1)</script> Ltd", "country": "US", "language": "en-US"}
    client.post("/store/checkout/", data)
    body = client.get(DETAILS).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Ltd" in body and "<script>alert(1)" not in body


def test_new_customer_form_shows_errors_next_to_fields(client, demo, demo_user, add_to_cart):
    client.force_login(demo_user("reseller"))
    add_to_cart()
    before = Account.objects.count()
    response = client.post("/store/checkout/", {"action": "create", "name": "", "country": "XX", "language": "en-US"})
    body = response.content.decode()
    assert response.status_code == 400 and 'id="id_name_errors"' in body and 'id="id_country_errors"' in body
    assert Account.objects.count() == before


def test_customer_user_cannot_create_customers(client, demo_user, add_to_cart):
    client.force_login(demo_user("customer"))
    add_to_cart()
    before = Account.objects.count()
    response = client.post(
        "/store/checkout/", {"action": "create", "name": "Evil", "country": "US", "language": "en-US"}
    )
    assert response.status_code == 403 and Account.objects.count() == before


def test_reseller_enhanced_names_the_signatory_and_the_order_waits(client, demo, demo_user, enhanced, add_to_cart):
    client.force_login(demo_user("reseller"))
    add_to_cart()
    client.post("/store/checkout/", {"action": "choose", "account": demo["wide-world"].pk})
    page = client.get(DETAILS).content.decode()
    assert 'value="rita' not in page.lower()  # the reseller names the customer's signatory: nothing prefilled
    response = client.post(
        DETAILS,
        signatory_form(
            signatory_first_name="Wolfgang",
            signatory_last_name="Weber",
            signatory_email="wolfgang@wideworld.example",
            company_name="Wide World Importers",
        ),
    )
    assert response.url == DETAILS
    attestation = Attestation.objects.get()
    assert attestation.signatory_email == "wolfgang@wideworld.example"
    order = place(client)
    assert order.status == OrderStatus.AWAITING_ACCEPTANCE


# --- Flow 3: white-label --------------------------------------------------------------------------------


def test_white_label_customer_checks_out_in_its_store(client, demo_user, legacy, add_to_cart):
    client.force_login(demo_user("wl-customer"))
    add_to_cart(store="/store/fabrikam/")
    assert client.get("/store/fabrikam/checkout/").url == "/store/fabrikam/checkout/service-details/"
    page = client.get("/store/fabrikam/checkout/service-details/").content.decode()
    assert "Fabrikam Cloud Store" in page and "Cloud Provider" not in page
    client.post("/store/fabrikam/checkout/service-details/", legacy_form(first_name="Thomas", last_name="Martin"))
    review = client.get("/store/fabrikam/checkout/review/").content.decode()
    response = client.post("/store/fabrikam/checkout/place-order/", {"idempotency_key": hidden_key(review)})
    assert response.url.startswith("/store/fabrikam/orders/")
    order = new_orders().get()
    assert order.account.name == "Tailspin Toys" and order.channel == "reseller_storefront"


def test_reseller_of_another_organisation_cannot_order_in_a_white_label_store(client, demo_user, add_to_cart):
    client.force_login(demo_user("reseller"))
    add_to_cart(store="/store/fabrikam/")
    response = client.get("/store/fabrikam/checkout/")
    assert response.status_code == 403 and "Fabrikam Cloud Store" in response.content.decode()


# --- My agreements (R12) -----------------------------------------------------------------------------------


def test_my_agreements_shows_the_customers_own_records_only(client, demo, demo_user, legacy, add_to_cart):
    client.force_login(demo_user("reseller"))
    add_to_cart()
    client.post("/store/checkout/", {"action": "choose", "account": demo["wide-world"].pk})
    client.post(DETAILS, legacy_form(first_name="Wolfgang", last_name="Weber", email="wolfgang@wideworld.example"))
    page = client.get("/store/agreements/").content.decode()
    assert "Wide World Importers" in page and "Wolfgang Weber" in page
    client.force_login(demo_user("customer"))
    page = client.get("/store/agreements/").content.decode()
    assert "Wolfgang" not in page and "No acceptance recorded yet" in page


def test_mca_status_json_is_the_gates_decision(client, demo_user, add_to_cart):
    client.force_login(demo_user("customer"))
    add_to_cart()
    client.get("/store/checkout/")
    data = client.get("/store/checkout/mca-status.json").json()
    assert data["needed"] is True and data["may_place"] is False and data["flow"] == "enhanced"
    decision = gate.check(Account.objects.get(name="Northwind Traders"), [Operation.NEW_PURCHASE])
    assert data["reason"] == decision.reason


def test_a_resellers_user_in_another_resellers_store_is_told_at_the_catalog_and_nothing_enters_the_cart(
    client, demo_user, add_to_cart
):
    """Contoso's user in Fabrikam's store: the catalog says so (and where to order), an add-to-cart is refused with
    the same words, and the cart stays empty: not a 403 met only at checkout."""
    client.force_login(demo_user("reseller"))
    catalog = client.get("/store/fabrikam/").content.decode()
    assert 'id="not-orderable-here"' in catalog
    assert "None of your customers can be ordered for in Fabrikam Cloud Store" in catalog
    assert 'href="/store/">Go to Cloud Provider storefront</a>' in catalog
    assert "disabled>Add to cart" in catalog

    product = Product.objects.get(sku="MS-M365-E3")
    refused = client.post("/store/fabrikam/", {"product": product.pk, "quantity": 3}, follow=True)
    assert "nothing can be added here" in refused.content.decode()
    assert "None of your customers" in client.get("/store/fabrikam/cart/").content.decode()
    assert "Your cart is empty" in client.get("/store/fabrikam/cart/").content.decode()

    # In its own store the same user is not warned.
    assert 'id="not-orderable-here"' not in client.get("/store/").content.decode()


def test_the_change_customer_link_appears_only_when_there_is_another_customer_to_choose(
    client, demo_user, legacy, add_to_cart
):
    client.force_login(demo_user("customer"))  # one account, may not create customers: nothing to change to
    add_to_cart()
    page = client.get("/store/checkout/", follow=True).content.decode()
    assert "Ordering for <strong>Northwind Traders</strong>" in page and "(change customer)" not in page

    client.force_login(demo_user("reseller"))
    add_to_cart()
    litware = Account.objects.get(name="Litware")
    client.post("/store/checkout/", {"account": litware.pk})
    page = client.get("/store/checkout/service-details/").content.decode()
    link = re.search(r'<a href="([^"]+)" class="muted">\(change customer\)</a>', page)
    assert link is not None
    chooser = client.get(link.group(1))
    assert (
        chooser.status_code == 200
        and "Litware" in chooser.content.decode()
        and "Adventure Works" in (chooser.content.decode())
    )
