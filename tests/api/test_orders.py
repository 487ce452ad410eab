"""Orders, execution and seat changes through the API: the gate's 409, the acceptance inline, scoping."""

import pytest

from bss.choices import OrderStatus
from bss.models import Order, Subscription
from mca.models import AcceptanceRecord
from tests.api.conftest import ENHANCED, LEGACY, assert_problem
from tests.factories import OrderFactory, OrderLineFactory, SubscriptionFactory


def order_body(account, product, quantity=5, **extra):
    return {"account": account.pk, "lines": [{"product": product.pk, "quantity": quantity}], **extra}


def test_products_list_the_catalog(api, microsoft_product):
    skus = {item["sku"]: item for item in api("customer").get("/api/v1/products/").json()["results"]}
    assert skus["MS-M365-BS"]["is_microsoft"] is True and skus["MS-M365-BS"]["price"] == "12.50"
    assert skus["ACR-CYBER-BACKUP"]["is_microsoft"] is False


def test_non_microsoft_order_is_placed(api, demo, other_product):
    response = api("customer").post("/api/v1/orders/", order_body(demo["northwind"], other_product), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "placed" and body["channel"] == "api" and body["mca_acceptance"] is None
    assert body["lines"][0]["quantity"] == 5


def test_microsoft_order_needing_acceptance_is_409_with_where_to_post_it(api, demo, microsoft_product):
    account = demo["northwind"]
    response = api("customer").post("/api/v1/orders/", order_body(account, microsoft_product), format="json")
    body = assert_problem(response, 409, "mca_acceptance_required")
    assert body["reason_code"] == "new_customer" and body["reason"]
    assert body["acceptance_url"].endswith(f"/api/v1/accounts/{account.pk}/mca/acceptances/")
    assert body["mca"]["needed"] is True
    assert not Order.objects.exists()


def test_409_then_inline_acceptance_places_the_order_awaiting_acceptance(api, demo, microsoft_product):
    account = demo["northwind"]
    client = api("customer")
    assert client.post("/api/v1/orders/", order_body(account, microsoft_product), format="json").status_code == 409
    response = client.post(
        "/api/v1/orders/", order_body(account, microsoft_product, mca_acceptance=ENHANCED), format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "awaiting_acceptance"
    assert body["mca_acceptance"]["kind"] == "pending_signatory"
    assert body["mca_acceptance"]["record"]["operation"] == "new_purchase"
    assert AcceptanceRecord.objects.filter(account=account).count() == 1


def test_inline_acceptance_in_the_legacy_flow_places_the_order(api, demo, microsoft_product, settings):
    settings.MCA_ATTESTATION_FLOW = "legacy"
    account = demo["northwind"]
    response = api("bss").post(
        "/api/v1/orders/", order_body(account, microsoft_product, mca_acceptance=LEGACY), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "placed" and response.json()["mca_acceptance"]["accepted"] is True
    # R2: the next order is not asked again.
    again = api("bss").post("/api/v1/orders/", order_body(account, microsoft_product), format="json")
    assert again.status_code == 201 and again.json()["mca_acceptance"] is None


def test_invalid_inline_acceptance_is_400_on_its_field_and_writes_nothing(api, demo, microsoft_product):
    bad = {**ENHANCED, "authority_confirmed": "no"}
    response = api("customer").post(
        "/api/v1/orders/", order_body(demo["northwind"], microsoft_product, mca_acceptance=bad), format="json"
    )
    body = assert_problem(response, 400, "validation_error")
    assert list(body["errors"]) == ["mca_acceptance.authority_confirmed"]
    assert not Order.objects.exists() and not AcceptanceRecord.objects.exists()


def test_inline_acceptance_failing_the_forms_rules_is_400_and_writes_nothing(api, demo, microsoft_product):
    bad = {**ENHANCED, "signatory_first_name": "R2D2"}
    response = api("customer").post(
        "/api/v1/orders/", order_body(demo["northwind"], microsoft_product, mca_acceptance=bad), format="json"
    )
    body = assert_problem(response, 400, "validation_error")
    assert list(body["errors"]) == ["mca_acceptance.signatory_first_name"]
    assert not Order.objects.exists() and not AcceptanceRecord.objects.exists()


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"quantity": "5"}, "lines[0].quantity"),
        ({"quantity": 5.5}, "lines[0].quantity"),
        ({"quantity": True}, "lines[0].quantity"),
        ({"quantity": 0}, "lines[0].quantity"),
        ({"quantity": 10_001}, "lines[0].quantity"),
        ({"product": "1"}, "lines[0].product"),
        ({"product": 999_999}, "lines[0].product"),
        ({"operation": "steal"}, "lines[0].operation"),
        ({"operation": 3}, "lines[0].operation"),
        ({"subscription": 999_999, "operation": "seat_increase"}, "lines[0].subscription"),
    ],
)
def test_bad_line_is_400_on_that_field_and_writes_nothing(api, demo, other_product, line, field):
    body = order_body(demo["northwind"], other_product)
    body["lines"][0].update(line)
    problem = assert_problem(api("customer").post("/api/v1/orders/", body, format="json"), 400, "validation_error")
    assert list(problem["errors"]) == [field]
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"account": "1", "lines": []}, "account"), ({"lines": [{"product": 1, "quantity": 1}]}, "account")],
)
def test_bad_order_is_400(api, demo, body, field):
    problem = assert_problem(api("bss").post("/api/v1/orders/", body, format="json"), 400, "validation_error")
    assert field in problem["errors"]
    assert not Order.objects.exists()


def test_order_for_another_tenants_customer_is_404_and_writes_nothing(api, demo, other_product):
    response = api("reseller").post("/api/v1/orders/", order_body(demo["tailspin"], other_product), format="json")
    assert_problem(response, 404, "not_found")
    assert not Order.objects.exists()


def test_orders_are_scoped(api, demo, other_product):
    api("customer").post("/api/v1/orders/", order_body(demo["northwind"], other_product), format="json")
    api("reseller").post("/api/v1/orders/", order_body(demo["litware"], other_product), format="json")
    assert [o["account"] for o in api("customer").get("/api/v1/orders/").json()["results"]] == [demo["northwind"].pk]
    assert [o["account"] for o in api("reseller").get("/api/v1/orders/").json()["results"]] == [demo["litware"].pk]
    assert len(api("bss").get("/api/v1/orders/").json()["results"]) == 2
    other = Order.objects.get(account=demo["litware"])
    assert_problem(api("customer").get(f"/api/v1/orders/{other.pk}/"), 404, "not_found")


# --- execution ---------------------------------------------------------------------------------------------------


def placed_order(account, product):
    order = OrderFactory(account=account, status=OrderStatus.PLACED)
    OrderLineFactory(order=order, product=product, quantity=3)
    return order


def test_bss_user_executes_a_non_microsoft_order(api, demo, other_product):
    order = placed_order(demo["northwind"], other_product)
    response = api("bss").post(f"/api/v1/orders/{order.pk}/execute/", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "executed"
    # A repeated execute (a retry, a double click) executes once.
    again = api("bss").post(f"/api/v1/orders/{order.pk}/execute/", {}, format="json")
    assert again.status_code == 200 and again.json()["status"] == "executed"
    assert order.status_changes.filter(to_status="executed").count() == 1


def test_a_cancelled_order_is_not_executable(api, demo, other_product):
    order = placed_order(demo["northwind"], other_product)
    order.move_to("cancelled")
    assert_problem(
        api("bss").post(f"/api/v1/orders/{order.pk}/execute/", {}, format="json"), 409, "order_not_executable"
    )


def test_execute_needs_the_permission_and_the_tenant(api, demo, other_product):
    order = placed_order(demo["northwind"], other_product)
    assert_problem(api("customer").post(f"/api/v1/orders/{order.pk}/execute/"), 403, "permission_denied")
    assert_problem(api("wl-bss").post(f"/api/v1/orders/{order.pk}/execute/"), 404, "not_found")
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED


def test_execute_microsoft_order_needing_acceptance_is_409_then_executes_with_it_inline(
    api, demo, microsoft_product, settings
):
    settings.MCA_ATTESTATION_FLOW = "legacy"
    order = placed_order(demo["northwind"], microsoft_product)
    client = api("bss")
    assert_problem(client.post(f"/api/v1/orders/{order.pk}/execute/"), 409, "mca_acceptance_required")
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED
    response = client.post(f"/api/v1/orders/{order.pk}/execute/", {"mca_acceptance": LEGACY}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "executed"
    record = AcceptanceRecord.objects.get()
    assert record.order_number == order.number and record.channel == "api"


def test_execute_with_inline_enhanced_acceptance_holds_the_order(api, demo, microsoft_product):
    order = placed_order(demo["northwind"], microsoft_product)
    response = api("bss").post(f"/api/v1/orders/{order.pk}/execute/", {"mca_acceptance": ENHANCED}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "awaiting_acceptance"
    assert response.json()["mca_acceptance"]["kind"] == "pending_signatory"


# --- subscriptions -----------------------------------------------------------------------------------------------


def test_subscriptions_are_scoped(api, demo, other_product):
    mine = SubscriptionFactory(account=demo["northwind"], product=other_product)
    theirs = SubscriptionFactory(account=demo["tailspin"], product=other_product)
    assert [s["id"] for s in api("customer").get("/api/v1/subscriptions/").json()["results"]] == [mine.pk]
    assert_problem(api("customer").get(f"/api/v1/subscriptions/{theirs.pk}/"), 404, "not_found")
    assert_problem(
        api("reseller").patch(f"/api/v1/subscriptions/{mine.pk}/", {"seats": 9}, format="json"), 404, "not_found"
    )


def test_bss_user_changes_seats_of_a_non_microsoft_subscription(api, demo, other_product):
    """The change is an order of the BSS's (channel "BSS subscription"), executed at once; provisioning applies it."""
    subscription = SubscriptionFactory(account=demo["northwind"], product=other_product, seats=5)
    response = api("bss").patch(f"/api/v1/subscriptions/{subscription.pk}/", {"seats": 9}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "executed" and body["channel"] == "bss_subscription"
    order = Order.objects.get(pk=body["id"])
    (line,) = order.lines.all()
    assert (line.operation, line.quantity, line.subscription_id) == ("seat_increase", 9, subscription.pk)


@pytest.mark.parametrize("seats", ["7", 7.5, 0, None, True])
def test_bad_seat_count_is_400_and_changes_nothing(api, demo, other_product, seats):
    subscription = SubscriptionFactory(account=demo["northwind"], product=other_product, seats=5)
    response = api("bss").patch(f"/api/v1/subscriptions/{subscription.pk}/", {"seats": seats}, format="json")
    assert list(assert_problem(response, 400, "validation_error")["errors"]) == ["seats"]
    assert Subscription.objects.get(pk=subscription.pk).seats == 5


def test_customer_may_not_change_seats_directly(api, demo, other_product):
    subscription = SubscriptionFactory(account=demo["northwind"], product=other_product, seats=5)
    response = api("customer").patch(f"/api/v1/subscriptions/{subscription.pk}/", {"seats": 6}, format="json")
    assert_problem(response, 403, "permission_denied")


@pytest.mark.parametrize("seats", [4, 6])  # a decrease and an increase both need it (R1)
def test_microsoft_seat_change_needs_acceptance_then_succeeds_inline(api, demo, microsoft_product, settings, seats):
    settings.MCA_ATTESTATION_FLOW = "legacy"
    subscription = SubscriptionFactory(account=demo["northwind"], product=microsoft_product, seats=5)
    client = api("bss")
    url = f"/api/v1/subscriptions/{subscription.pk}/"
    assert_problem(client.patch(url, {"seats": seats}, format="json"), 409, "mca_acceptance_required")
    assert Subscription.objects.get(pk=subscription.pk).seats == 5
    response = client.patch(url, {"seats": seats, "mca_acceptance": LEGACY}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "executed"
    assert Order.objects.get(pk=response.json()["id"]).lines.get().quantity == seats
    record = AcceptanceRecord.objects.get()
    assert record.operation == ("seat_increase" if seats > 5 else "seat_decrease")


def test_enhanced_inline_acceptance_on_a_seat_change_holds_its_order_for_the_signatory(
    api, demo, microsoft_product, django_capture_on_commit_callbacks
):
    subscription = SubscriptionFactory(account=demo["northwind"], product=microsoft_product, seats=5)
    with django_capture_on_commit_callbacks(execute=False):
        response = api("bss").patch(
            f"/api/v1/subscriptions/{subscription.pk}/", {"seats": 6, "mca_acceptance": ENHANCED}, format="json"
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "awaiting_acceptance"
    assert body["mca_acceptance"]["kind"] == "pending_signatory"
    assert Subscription.objects.get(pk=subscription.pk).seats == 5


def test_white_label_staff_execute_their_resellers_orders(api, demo, other_product):
    mine = placed_order(demo["tailspin"], other_product)
    response = api("wl-bss").post(f"/api/v1/orders/{mine.pk}/execute/")
    assert response.status_code == 200 and response.json()["status"] == "executed"


def test_order_detail_prices_a_seat_change_as_the_seats_it_adds(api, demo, other_product):
    subscription = SubscriptionFactory(account=demo["northwind"], product=other_product, seats=5)
    response = api("bss").patch(f"/api/v1/subscriptions/{subscription.pk}/", {"seats": 7}, format="json")
    assert response.status_code == 202, response.content
    Subscription.objects.filter(pk=subscription.pk).update(seats=7)  # as provisioning leaves it

    (line,) = api("bss").get(f"/api/v1/orders/{response.json()['id']}/").json()["lines"]
    assert (line["quantity"], line["previous_seats"], line["priced_quantity"]) == (7, 5, 2)
    assert line["total"] == f"{other_product.price * 2:.2f}"
