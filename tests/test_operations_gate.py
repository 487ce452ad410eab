"""Every operation x product kind x channel: the gate is asked whenever Microsoft would require the MCA (R1, R11),
and a line whose product is not its subscription's product is refused or judged on what really changes, with
nothing written (issue 20: one entry point per operation in `bss.services`).

Northwind Traders (not synced, nothing recorded) needs the MCA whatever Partner Center says, so the answers here
need no Partner Center. The expectations are R1 written out, not read from the code under test."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from bss.choices import Channel, Operation, OrderStatus
from bss.models import Order, OrderLine, Product, ProvisioningEvent, Subscription
from bss.services.provisioning import provision_order
from mca.models import AcceptanceRecord

MICROSOFT_SKU, OTHER_SKU = "MS-M365-BS", "ACR-CYBER-BACKUP"
# R1: a Microsoft purchase, seat change (up or down), upgrade or term change needs the MCA; nothing else does.
NEEDS_ACCEPTANCE = {
    Operation.NEW_PURCHASE: True,
    Operation.SEAT_INCREASE: True,
    Operation.SEAT_DECREASE: True,
    Operation.UPGRADE: True,
    Operation.TERM_CHANGE: True,
    Operation.RENEWAL: False,
    Operation.CANCELLATION: False,
}
CURRENT_SEATS = 10
QUANTITY = {Operation.NEW_PURCHASE: 3, Operation.SEAT_INCREASE: 12, Operation.SEAT_DECREASE: 8}
CHANNELS = ["storefront", "api", "bss", "provisioning"]


@pytest.fixture(autouse=True)
def _partner_center_not_asked(settings):
    settings.MCA_STATUS_TIME_BUDGET = 0.2
    settings.PARTNER_CENTER_RETRY_BUDGET = 0.2


def _line(account, operation: str, line_sku: str, subscription_sku: str | None = None) -> dict:
    """One line: its product, quantity, operation and (for a change) a subscription of `subscription_sku`."""
    product = Product.objects.get(sku=line_sku)
    subscription = None
    if operation != Operation.NEW_PURCHASE:
        subscribed = Product.objects.get(sku=subscription_sku or line_sku)
        subscription = Subscription.objects.create(account=account, product=subscribed, seats=CURRENT_SEATS)
    return {
        "product": product,
        "quantity": QUANTITY.get(operation, CURRENT_SEATS),
        "operation": operation,
        "subscription": subscription,
    }


def _placed_order(account, line: dict) -> Order:
    """An order as a channel placed it before (possibly before lines were validated)."""
    order = Order.objects.create(number=f"SO-GATE-{uuid.uuid4().hex[:6]}", account=account, channel=Channel.STOREFRONT)
    OrderLine.objects.create(order=order, unit_price=line["product"].price, **line)
    order.move_to(OrderStatus.PLACED)
    return order


def _attempt(channel: str, client, demo, demo_user, line: dict) -> tuple[bool, Order | None]:
    """Perform the operation through `channel` without any acceptance. Returns (refused, the order if any)."""
    account = demo["northwind"]
    before = set(Order.objects.values_list("pk", flat=True))
    if channel == "api":
        token, _ = Token.objects.get_or_create(user=demo_user("bss"))
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        body = {
            "account": account.pk,
            "lines": [
                {
                    "product": line["product"].pk,
                    "quantity": line["quantity"],
                    "operation": line["operation"],
                    **({"subscription": line["subscription"].pk} if line["subscription"] else {}),
                }
            ],
        }
        response = api.post("/api/v1/orders/", body, format="json")
        assert response.status_code in (201, 400, 409), response.content
        new = Order.objects.exclude(pk__in=before).first()
        return response.status_code != 201, new
    if channel == "storefront":
        client.force_login(demo_user("customer"))
        session = client.session
        session["storefront:csp"] = {  # the CSP's store's checkout session (storefront.session)
            "lines": [
                {
                    "product_id": line["product"].pk,
                    "quantity": line["quantity"],
                    "operation": line["operation"],
                    "subscription_id": line["subscription"].pk if line["subscription"] else None,
                }
            ],
            "account_id": account.pk,
        }
        session.save()
        response = client.post("/store/checkout/place-order/", {"idempotency_key": str(uuid.uuid4())})
        assert response.status_code == 302
        new = Order.objects.exclude(pk__in=before).first()
        return new is None, new
    order = _placed_order(account, line)
    if channel == "bss":
        client.force_login(demo_user("bss"))
        response = client.post(f"/bss/orders/{order.number}/execute/", {})
        order.refresh_from_db()
        return order.status == OrderStatus.PLACED, order
    # provisioning: an order that reached provisioning without passing a channel's gate (R11's last line)
    order.move_to(OrderStatus.EXECUTED)
    provision_order(order_id=order.pk)
    order.refresh_from_db()
    return order.status == OrderStatus.AWAITING_ACCEPTANCE, order


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("kind", ["microsoft", "other"])
@pytest.mark.parametrize("operation", list(NEEDS_ACCEPTANCE))
def test_the_gate_is_asked_whenever_microsoft_requires_acceptance(client, demo, demo_user, channel, kind, operation):
    sku = MICROSOFT_SKU if kind == "microsoft" else OTHER_SKU
    line = _line(demo["northwind"], operation, sku)
    refused, order = _attempt(channel, client, demo, demo_user, line)
    needs = kind == "microsoft" and NEEDS_ACCEPTANCE[operation]
    assert refused is needs
    if needs and channel in ("storefront", "api"):
        assert order is None  # nothing placed
    if needs and channel == "provisioning":
        steps = set(ProvisioningEvent.objects.filter(order=order).values_list("step", flat=True))
        assert "customer" not in steps and "order" not in steps  # nothing went to Partner Center
        demo["northwind"].refresh_from_db()
        assert demo["northwind"].partner_center_tenant_id is None
    if not needs and channel in ("storefront", "api"):
        assert order is not None and order.lines.get().operation == operation
    assert not AcceptanceRecord.objects.exists()


CHANGES = [op for op in NEEDS_ACCEPTANCE if op != Operation.NEW_PURCHASE]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("operation", CHANGES)
def test_a_change_labelled_with_another_product_is_judged_on_its_subscriptions_product(
    client, demo, demo_user, channel, operation
):
    """The crafted line: a change of a Microsoft subscription that names a non-Microsoft product. Placing it
    (storefront, API) is refused and writes nothing; an order stored with it (placed before lines were validated)
    is executed or provisioned only as the Microsoft change it is (the gate asks, the order is held)."""
    line = _line(demo["northwind"], operation, OTHER_SKU, subscription_sku=MICROSOFT_SKU)
    before = Order.objects.count()
    refused, order = _attempt(channel, client, demo, demo_user, line)
    subscription = line["subscription"]
    if channel in ("storefront", "api"):
        assert refused and order is None and Order.objects.count() == before
    else:
        assert refused is NEEDS_ACCEPTANCE[operation]
    subscription.refresh_from_db()
    assert subscription.seats == CURRENT_SEATS and subscription.is_active == (
        not (operation == Operation.CANCELLATION and channel == "provisioning")
    )
    assert not AcceptanceRecord.objects.exists()
