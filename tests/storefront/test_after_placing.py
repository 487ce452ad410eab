"""After placing (issue 18): the acceptance arrives on its own, a released order goes back to the queue it came
from, the order page says what happens next, and a seat change is priced as the seats it adds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from bss.choices import Operation, OrderStatus
from bss.models import Product, Subscription
from bss.services.execution import release_held_orders
from mca.choices import AcceptanceKind
from mca.knowledge import knowledge_key, remember_acceptance
from mca.models import Attestation
from storefront.cart import CartLine
from tests.bss.conftest import make_order
from tests.storefront.helpers import signatory_form

DETAILS = "/store/checkout/service-details/"


def _held(order, *, executed_by=None):
    order.move_to(OrderStatus.AWAITING_ACCEPTANCE, note="waiting")
    if executed_by is not None:
        order.executed_at, order.executed_by = timezone.now(), executed_by
        order.save(update_fields=["executed_at", "executed_by"])
    return order


def _accept(account):
    remember_acceptance(key=knowledge_key(account), kind=AcceptanceKind.CONFIRMED_HERE, accepted_at=timezone.now())


def test_an_order_held_when_placed_goes_back_to_the_queue_to_execute(demo, django_capture_on_commit_callbacks):
    order = _held(make_order(demo["litware"]))
    with django_capture_on_commit_callbacks(execute=True):
        _accept(demo["litware"])  # the acceptance_known signal releases it
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED and order.executed_at is None
    change = order.status_changes.order_by("-changed_at", "-pk").first()
    assert change.changed_by is None and "back in the queue to execute" in change.note


def test_an_order_held_during_execution_goes_on_and_the_history_names_who_executed_it(demo, demo_user):
    bss = demo_user("bss")
    order = _held(make_order(demo["litware"]), executed_by=bss)
    _accept(demo["litware"])
    release_held_orders(accounts=[demo["litware"]])
    order.refresh_from_db()
    assert order.status in (OrderStatus.EXECUTED, OrderStatus.PROVISIONING, OrderStatus.PROVISIONED, OrderStatus.FAILED)
    released = order.status_changes.get(to_status=OrderStatus.EXECUTED)
    assert released.changed_by is None and "executed by bss" in released.note and "held for it" in released.note


def test_releasing_for_the_accounts_of_a_key_reads_the_held_orders_in_one_query(demo):
    """Issue 20: the accounts `acceptance_known` sends (a queryset) go into the orders' query as a subquery, not
    read first: a first confirmation of a customer with nothing held costs one query here."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mca.knowledge import accounts_for

    litware = demo["litware"]
    with CaptureQueriesContext(connection) as queries:
        assert release_held_orders(accounts=accounts_for(knowledge_key(litware))) == []
    assert len(queries.captured_queries) == 1, [query["sql"] for query in queries.captured_queries]
    order = _held(make_order(litware))
    _accept(litware)
    assert release_held_orders(accounts=accounts_for(knowledge_key(litware))) == [order]


@pytest.mark.parametrize(
    ("status", "heading", "next_step"),
    [
        (OrderStatus.PLACED, "is placed", "your provider executes the order"),
        (OrderStatus.AWAITING_ACCEPTANCE, "waits for the Microsoft Customer Agreement", "once the Microsoft"),
    ],
)
def test_the_order_page_heading_and_next_step_follow_the_status(client, demo, demo_user, status, heading, next_step):
    order = make_order(demo["northwind"])
    if status != OrderStatus.PLACED:
        order.move_to(status)
    client.force_login(demo_user("customer"))
    page = client.get(f"/store/orders/{order.number}/").content.decode()
    assert heading in page and next_step in page
    assert "USD" in page  # currency on every amount


def test_a_provisioned_order_does_not_say_thank_you_is_placed(client, demo, demo_user):
    order = make_order(demo["northwind"])
    for status in (OrderStatus.EXECUTED, OrderStatus.PROVISIONING, OrderStatus.PROVISIONED):
        order.move_to(status)
    client.force_login(demo_user("customer"))
    page = client.get(f"/store/orders/{order.number}/").content.decode()
    assert "is placed" not in page and "is provisioned" in page and 'id="live-note"' not in page


def test_a_seat_change_is_priced_as_the_seats_it_adds(demo):
    product = Product.objects.get(sku="MS-M365-BS")
    subscription = Subscription.objects.create(account=demo["northwind"], product=product, seats=5)
    increase = CartLine(product, 7, Operation.SEAT_INCREASE, subscription)
    assert increase.total == product.price * 2
    decrease = CartLine(product, 3, Operation.SEAT_DECREASE, subscription)
    assert decrease.total == Decimal("0")
    assert CartLine(product, 7).total == product.price * 7


@pytest.fixture
def live(pc_simulator, demo, enhanced, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 2
    return demo


def _reseller_places_a_held_order(client, demo_user, add_to_cart, wide_world):
    """Contoso's reseller names Wide World's signatory and places an order: held, a link out. Returns its URL."""
    from tests.storefront.helpers import hidden_key

    client.force_login(demo_user("reseller"))
    add_to_cart()
    client.post("/store/checkout/", {"account": wide_world.pk})
    client.post(
        DETAILS,
        signatory_form(
            signatory_first_name="Wolfgang",
            signatory_last_name="Weber",
            signatory_email="wolfgang@wideworld.example",
            company_name="Wide World Importers",
        ),
    )
    review = client.get("/store/checkout/review/").content.decode()
    return client.post("/store/checkout/place-order/", {"idempotency_key": hidden_key(review)}).url


def test_the_resellers_order_page_sees_the_acceptance_arrive(client, live, demo_user, add_to_cart, pc_simulator):
    wide_world = live["wide-world"]
    url = _reseller_places_a_held_order(client, demo_user, add_to_cart, wide_world)
    number = url.rstrip("/").rsplit("/", 1)[-1]
    page = client.get(url).content.decode()
    assert 'id="live-note"' in page and 'data-signature="awaiting_acceptance|pending"' in page
    status_url = f"/store/orders/{number}/status.json"
    assert client.get(status_url).json()["signature"] == "awaiting_acceptance|pending"

    pc_simulator.accept_attestation(Attestation.objects.get().attestation_id)
    # The poll alone (no button) asks Microsoft, learns the acceptance and sees the order released.
    answer = client.get(status_url).json()
    assert answer["mca_state"] == "accepted" and answer["status"] == OrderStatus.PLACED
    agreements = client.get("/store/agreements/status.json").json()
    assert agreements["states"][str(wide_world.pk)] == "accepted"


def test_the_bss_order_and_account_pages_see_the_acceptance_arrive(client, live, demo_user, add_to_cart, pc_simulator):
    """The BSS pages poll like the storefront's (the same templates/mca/_poll.html): no "Check now" needed."""
    wide_world = live["wide-world"]
    number = _reseller_places_a_held_order(client, demo_user, add_to_cart, wide_world).rstrip("/").rsplit("/", 1)[-1]
    client.force_login(demo_user("bss"))
    order_page = client.get(f"/bss/orders/{number}/").content.decode()
    account_page = client.get(f"/bss/accounts/{wide_world.pk}/").content.decode()
    assert 'data-poll-url="/bss/orders/' in order_page and 'data-signature="awaiting_acceptance|pending"' in order_page
    assert f'data-poll-url="/bss/accounts/{wide_world.pk}/status.json"' in account_page
    assert 'data-signature="|pending"' in account_page
    assert client.get(f"/bss/orders/{number}/status.json").json()["signature"] == "awaiting_acceptance|pending"

    pc_simulator.accept_attestation(Attestation.objects.get().attestation_id)
    answer = client.get(f"/bss/orders/{number}/status.json").json()
    assert answer["mca_state"] == "accepted" and answer["status"] == OrderStatus.PLACED
    assert client.get(f"/bss/accounts/{wide_world.pk}/status.json").json()["signature"] == "|accepted"
    # Accepted and back in "to execute": still watched (the BSS executes it), the account page no longer polls.
    assert 'data-signature="placed|accepted"' in client.get(f"/bss/orders/{number}/").content.decode()
    assert 'id="live-note"' not in client.get(f"/bss/accounts/{wide_world.pk}/").content.decode()


def test_the_bss_poll_stays_within_what_the_user_may_see(client, live, demo_user, add_to_cart):
    wide_world = live["wide-world"]  # Contoso's customer: not Fabrikam's
    number = _reseller_places_a_held_order(client, demo_user, add_to_cart, wide_world).rstrip("/").rsplit("/", 1)[-1]
    client.force_login(demo_user("wl-bss"))
    assert client.get(f"/bss/orders/{number}/status.json").status_code == 404
    assert client.get(f"/bss/accounts/{wide_world.pk}/status.json").status_code == 404
    client.force_login(demo_user("reseller"))
    assert client.get(f"/bss/orders/{number}/status.json").status_code == 403


def test_my_orders_lists_status_and_next_step_in_a_fixed_number_of_queries(client, demo, demo_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = make_order(demo["northwind"])
    client.force_login(demo_user("customer"))
    client.get("/store/orders/")
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/store/orders/").content.decode()
    assert first.number in page and "Your provider executes the order." in page and "data-mca-state" in page
    for _ in range(5):
        make_order(demo["northwind"])
    with CaptureQueriesContext(connection) as more:
        client.get("/store/orders/")
    assert len(more) == len(queries)
    other = make_order(demo["litware"])  # another customer's order is not listed
    assert other.number not in client.get("/store/orders/").content.decode()


def test_check_now_on_an_order_page_answers_about_that_order(client, demo, demo_user):
    order = make_order(demo["northwind"])
    for status in (OrderStatus.EXECUTED, OrderStatus.PROVISIONING, OrderStatus.PROVISIONED):
        order.move_to(status)
    client.force_login(demo_user("bss"))
    response = client.post(
        f"/bss/accounts/{demo['northwind'].pk}/check-now/",
        {"next": f"/bss/orders/{order.number}/", "order": order.number},
        follow=True,
    )
    text = response.content.decode()
    assert f"Order {order.number} is provisioned: nothing waits for the acceptance." in text
    assert "Partner Center was asked again" not in text  # not the customer's "must be accepted" as the answer


def test_the_order_page_prices_a_placed_seat_change_as_the_seats_it_adds(client, demo, demo_user):
    """The line keeps the count before the change: after provisioning moved the subscription to 7 seats, the order
    still shows 5 -> 7 priced as two seats, not seven."""
    from bss.choices import Channel
    from bss.services.orders import LineRequest, place_order
    from mca.context import ConfirmationContext

    product = Product.objects.get(sku="ACR-CYBER-BACKUP")
    subscription = Subscription.objects.create(account=demo["northwind"], product=product, seats=5)
    order = place_order(
        actor=demo_user("customer"),
        account=demo["northwind"],
        lines=[LineRequest(product, 7, Operation.SEAT_INCREASE, subscription)],
        context=ConfirmationContext(channel=Channel.STOREFRONT),
    ).order
    Subscription.objects.filter(pk=subscription.pk).update(seats=7)
    client.force_login(demo_user("customer"))
    page = client.get(f"/store/orders/{order.number}/").content.decode()
    assert "(5 → 7)" in page and "<td>+2</td>" in page
    two, seven = f"{product.price * 2:,.2f}", f"{product.price * 7:,.2f}"
    assert page.count(f"{two} {product.currency}") == 2  # the line's price and the total
    assert f"{seven} {product.currency}" not in page
