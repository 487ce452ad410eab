"""Customers, orders and subscriptions, and Microsoft's MCA purchase gate (403/13605)."""

from __future__ import annotations

import uuid

import pytest

from partner_center.simulator.models import SimCustomer, SimOrder, SimSubscription
from partner_center.simulator.services import MAX_QUANTITY
from tests.simulator.conftest import confirmation, order_body

pytestmark = pytest.mark.django_db

MCA_REFUSAL_START = "Either a partner confirmation of the customer acceptance of the Microsoft Customer Agreement"


def new_customer_body(domain: str = "contosotest", **billing_overrides) -> dict:
    billing = {
        "email": "admin@contosotest.example",
        "culture": "en-US",
        "language": "en",
        "companyName": "Contoso Test",
        "defaultAddress": {
            "firstName": "Ada",
            "lastName": "Lovelace",
            "addressLine1": "1 Microsoft Way",
            "city": "Redmond",
            "state": "WA",
            "postalCode": "98052",
            "country": "US",
            "phoneNumber": "4255550100",
        },
    }
    billing.update(billing_overrides)
    return {"companyProfile": {"domain": domain}, "billingProfile": billing}


def place_order(pc, tenant: str, quantity=5, **kwargs):
    return pc.post(f"v1/customers/{tenant}/orders", order_body(quantity), **kwargs)


# --- Customers ---


def test_create_customer_returns_201_with_microsofts_customer_shape(pc, seeded):
    response = pc.post("v1/customers", new_customer_body())
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == body["companyProfile"]["tenantId"]
    assert uuid.UUID(body["id"]) and uuid.UUID(body["commerceId"])
    assert body["companyProfile"]["domain"] == "contosotest.onmicrosoft.com"
    assert body["billingProfile"]["companyName"] == "Contoso Test"
    assert body["billingProfile"]["defaultAddress"]["city"] == "Redmond"
    assert body["relationshipToPartner"]
    assert body["userCredentials"]["userName"] == "admin@contosotest.onmicrosoft.com"
    assert body["userCredentials"]["password"]
    assert body["attributes"] == {"objectType": "Customer"}
    assert SimCustomer.objects.filter(tenant_id=body["id"], company_name="Contoso Test").exists()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (new_customer_body(domain=""), "domain"),
        (new_customer_body(domain="not a domain!"), "domain"),
        (new_customer_body(email="nope"), "email"),
        (new_customer_body(companyName=""), "companyName"),
        (new_customer_body(defaultAddress={"firstName": "Ada", "country": "US"}), "lastName"),
        (new_customer_body(defaultAddress={"firstName": "Ada", "lastName": "L", "country": "USA"}), "country"),
        ({"companyProfile": {"domain": "x"}}, "billingProfile"),
    ],
)
def test_create_customer_invalid_input_is_800002(pc, seeded, body, needle):
    response = pc.post("v1/customers", body)
    assert response.status_code == 400
    assert response.json()["code"] == 800002
    assert needle in response.json()["description"]


def test_create_customer_with_a_taken_domain_is_refused(pc, seeded):
    assert pc.post("v1/customers", new_customer_body()).status_code == 201
    assert pc.post("v1/customers", new_customer_body()).status_code == 400


# --- Orders and the MCA gate ---


def test_order_for_customer_with_current_attestation_returns_201_with_subscriptions(pc, seeded):
    tenant = seeded["adventure-works"]
    response = place_order(pc, tenant, quantity=7)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] in {"pending", "completed"}
    assert body["creationDate"].endswith("Z")
    assert set(body["links"]) == {"provisioningStatus", "self"}
    [line] = body["lineItems"]
    assert (line["lineItemNumber"], line["offerId"], line["quantity"]) == (0, "CFQ7TTC0LDPB:0001", 7)
    sub = SimSubscription.objects.get(subscription_id=line["subscriptionId"])
    assert (sub.quantity, str(sub.order.order_id), str(sub.customer.tenant_id)) == (7, body["id"], tenant)


def test_order_creates_one_subscription_per_line_item(pc, seeded):
    body = {
        "lineItems": [
            {"lineItemNumber": 0, "offerId": "A:0001", "quantity": 1},
            {"lineItemNumber": 1, "offerId": "B:0001", "quantity": 2},
        ]
    }
    response = pc.post(f"v1/customers/{seeded['adventure-works']}/orders", body)
    assert response.status_code == 201
    ids = {line["subscriptionId"] for line in response.json()["lineItems"]}
    assert len(ids) == 2
    assert SimSubscription.objects.filter(subscription_id__in=ids).count() == 2


@pytest.mark.parametrize("key", ["litware", "alpine-ski-house", "coho-winery", "fourth-coffee"])
def test_order_without_mca_acceptance_is_403_13605(pc, seeded, key):
    # Litware and Alpine: nothing; Coho: only the Cloud Agreement; Fourth Coffee: a 2021 attestation (stale).
    response = place_order(pc, seeded[key])
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == 13605
    assert body["description"].startswith(MCA_REFUSAL_START)
    assert not SimOrder.objects.filter(customer__tenant_id=seeded[key]).exists()


def test_order_succeeds_after_partner_confirmation(pc, seeded):
    tenant = seeded["litware"]
    assert place_order(pc, tenant).status_code == 403
    assert pc.post(f"v1/customers/{tenant}/agreements", confirmation()).status_code == 201
    assert place_order(pc, tenant).status_code == 201


def test_confirmation_dated_before_the_mca_refresh_does_not_unlock_orders(pc, seeded):
    tenant = seeded["litware"]
    assert (
        pc.post(f"v1/customers/{tenant}/agreements", confirmation(dateAgreed="2023-03-31T23:59:59Z")).status_code == 201
    )
    assert place_order(pc, tenant).status_code == 403


def test_confirmation_dated_on_the_refresh_day_unlocks_orders(pc, seeded):
    tenant = seeded["litware"]
    assert (
        pc.post(f"v1/customers/{tenant}/agreements", confirmation(dateAgreed="2023-04-01T00:00:00")).status_code == 201
    )
    assert place_order(pc, tenant).status_code == 201


def test_stale_fourth_coffee_is_unlocked_by_a_new_contact_confirmation(pc, seeded):
    tenant = seeded["fourth-coffee"]
    body = confirmation()
    body["primaryContact"] = {"firstName": "Fiona", "lastName": "Miller", "email": "fiona@fourthcoffee.example"}
    assert pc.post(f"v1/customers/{tenant}/agreements", body).status_code == 201
    assert place_order(pc, tenant).status_code == 201


def test_direct_acceptance_unlocks_orders(pc, seeded):
    tenant = seeded["litware"]
    pc.control("POST", f"customers/{tenant}/direct-signed", {"isSigned": True})
    assert place_order(pc, tenant).status_code == 201


@pytest.mark.parametrize("quantity", [0, -1, "5", 1.5, True, None])
def test_order_with_invalid_quantity_is_800002(pc, seeded, quantity):
    response = place_order(pc, seeded["adventure-works"], quantity=quantity)
    assert response.status_code == 400
    assert response.json()["code"] == 800002
    assert "quantity" in response.json()["description"]


def test_order_with_quantity_above_the_maximum_is_2002(pc, seeded):
    response = place_order(pc, seeded["adventure-works"], quantity=MAX_QUANTITY + 1)
    assert response.status_code == 400
    assert response.json()["code"] == 2002


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"lineItems": []},
        {"lineItems": [{"quantity": 1}]},
        {"lineItems": [{"lineItemNumber": 0, "offerId": "A", "quantity": 1}] * 2},
    ],
)
def test_order_with_invalid_line_items_is_800002(pc, seeded, body):
    response = pc.post(f"v1/customers/{seeded['adventure-works']}/orders", body)
    assert response.status_code == 400
    assert response.json()["code"] == 800002


# --- Subscriptions ---


@pytest.fixture
def subscription(pc, seeded) -> tuple[str, str]:
    tenant = seeded["adventure-works"]
    line = place_order(pc, tenant, quantity=5).json()["lineItems"][0]
    return tenant, line["subscriptionId"]


def test_get_subscription_has_microsofts_shape(pc, subscription):
    tenant, sub_id = subscription
    response = pc.get(f"v1/customers/{tenant}/subscriptions/{sub_id}")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["offerId"], body["quantity"], body["status"]) == (sub_id, "CFQ7TTC0LDPB:0001", 5, "active")
    assert body["attributes"]["objectType"] == "Subscription"
    assert body["attributes"]["etag"]


def test_patch_with_current_etag_changes_quantity_and_etag(pc, subscription):
    tenant, sub_id = subscription
    path = f"v1/customers/{tenant}/subscriptions/{sub_id}"
    resource = pc.get(path).json()
    response = pc.patch(path, {**resource, "quantity": 9})
    assert response.status_code == 200
    updated = response.json()
    assert updated["quantity"] == 9
    assert updated["attributes"]["etag"] != resource["attributes"]["etag"]
    assert pc.get(path).json() == updated


def test_patch_with_stale_etag_is_2055(pc, subscription):
    tenant, sub_id = subscription
    path = f"v1/customers/{tenant}/subscriptions/{sub_id}"
    resource = pc.get(path).json()
    assert pc.patch(path, {**resource, "quantity": 6}).status_code == 200
    stale = pc.patch(path, {**resource, "quantity": 7})
    assert stale.status_code == 400
    assert stale.json()["code"] == 2055
    assert pc.get(path).json()["quantity"] == 6


def test_patch_without_etag_is_800002(pc, subscription):
    tenant, sub_id = subscription
    path = f"v1/customers/{tenant}/subscriptions/{sub_id}"
    resource = pc.get(path).json()
    response = pc.patch(path, {**resource, "attributes": {}})
    assert response.status_code == 400
    assert response.json()["code"] == 800002


def test_patch_without_changes_keeps_the_etag(pc, subscription):
    tenant, sub_id = subscription
    path = f"v1/customers/{tenant}/subscriptions/{sub_id}"
    resource = pc.get(path).json()
    assert pc.patch(path, resource).json()["attributes"]["etag"] == resource["attributes"]["etag"]


def test_patch_with_invalid_quantity_is_refused(pc, subscription):
    tenant, sub_id = subscription
    path = f"v1/customers/{tenant}/subscriptions/{sub_id}"
    resource = pc.get(path).json()
    assert pc.patch(path, {**resource, "quantity": 0}).json()["code"] == 800002


@pytest.mark.parametrize("new_quantity", [4, 6])
def test_quantity_change_without_mca_acceptance_is_403_13605(pc, subscription, new_quantity):
    tenant, sub_id = subscription
    path = f"v1/customers/{tenant}/subscriptions/{sub_id}"
    # The subscription was bought while accepted; the customer's acceptance then lapses (direct flag off,
    # attestation removed), as for customers whose attestation predates the 2023 refresh.
    SimCustomer.objects.get(tenant_id=tenant).agreements.all().delete()
    resource = pc.get(path).json()
    response = pc.patch(path, {**resource, "quantity": new_quantity})
    assert response.status_code == 403
    assert response.json()["code"] == 13605
    assert pc.get(path).json()["quantity"] == 5


def test_other_changes_without_mca_acceptance_are_allowed(pc, subscription):
    tenant, sub_id = subscription
    path = f"v1/customers/{tenant}/subscriptions/{sub_id}"
    SimCustomer.objects.get(tenant_id=tenant).agreements.all().delete()
    resource = pc.get(path).json()
    response = pc.patch(path, {**resource, "autoRenewEnabled": False})
    assert response.status_code == 200
    assert response.json()["autoRenewEnabled"] is False


def test_unknown_subscription_is_404(pc, seeded):
    response = pc.get(f"v1/customers/{seeded['adventure-works']}/subscriptions/{uuid.uuid4()}")
    assert response.status_code == 404


def test_reconfirming_fourth_coffee_with_the_same_contact_is_600061_and_stays_refused(pc, seeded):
    tenant = seeded["fourth-coffee"]
    body = confirmation()
    body["primaryContact"] = {
        "firstName": "Frank",
        "lastName": "Miller",
        "email": "frank@fourthcoffee.example",
        "phoneNumber": "+12065550108",
    }
    assert pc.post(f"v1/customers/{tenant}/agreements", body).json()["code"] == 600061
    assert place_order(pc, tenant).status_code == 403
