"""Placing orders (bss.services.orders): order numbers stay unique without failing the order that drew a taken one."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from bss.choices import Channel, Operation
from bss.models import Order, Product, Subscription
from bss.services import orders
from bss.services.orders import LineRequest, place_order
from mca.context import ConfirmationContext
from tests.bss.conftest import make_order

pytestmark = pytest.mark.django_db


def _numbers(monkeypatch, *numbers: str) -> None:
    """The order numbers `place_order` draws, in this order (the random part made predictable)."""
    drawn = iter(numbers)
    monkeypatch.setattr(orders, "_new_number", lambda: next(drawn))


def _place(demo, demo_user, key: str | None = None) -> Order:
    product = Product.objects.get(sku="ACR-CYBER-BACKUP")  # not Microsoft: the gate never asks
    return place_order(
        actor=demo_user("bss"),
        account=demo["northwind"],
        lines=[LineRequest(product, 2)],
        context=ConfirmationContext(channel=Channel.API),
        idempotency_key=key,
    ).order


def test_a_number_already_taken_is_drawn_again(demo, demo_user, monkeypatch):
    # Six random hex digits a day: about one clash per 5,000 orders in a day (the birthday bound); the load
    # benchmark places about 1,000 a minute. Before, the clash was an IntegrityError: a 500 to the customer.
    taken = make_order(demo["northwind"]).number
    _numbers(monkeypatch, taken, "SO-TEST-FRESH")

    order = _place(demo, demo_user, key="order-key-1")

    assert order.number == "SO-TEST-FRESH"
    assert order.lines.count() == 1 and order.status_changes.count() == 1
    assert Order.objects.filter(number=taken).count() == 1


def test_numbers_that_keep_clashing_fail_after_a_few_draws(demo, demo_user, monkeypatch):
    taken = make_order(demo["northwind"]).number
    before = Order.objects.count()
    _numbers(monkeypatch, *[taken] * orders.NUMBER_DRAWS)

    with pytest.raises(IntegrityError):
        _place(demo, demo_user)
    assert Order.objects.count() == before


def test_a_repeated_idempotency_key_still_returns_the_first_order(demo, demo_user, monkeypatch):
    first = _place(demo, demo_user, key="order-key-2")
    assert _place(demo, demo_user, key="order-key-2") == first
    assert Order.objects.filter(idempotency_key="order-key-2").count() == 1


def _seat_change_5_to_7(demo, demo_user) -> Order:
    """A placed seat change 5 -> 7 of a non-Microsoft subscription (the gate never asks), placed as a channel would."""
    product = Product.objects.get(sku="ACR-CYBER-BACKUP")
    subscription = Subscription.objects.create(account=demo["northwind"], product=product, seats=5)
    order = place_order(
        actor=demo_user("bss"),
        account=demo["northwind"],
        lines=[LineRequest(product, 7, Operation.SEAT_INCREASE, subscription)],
        context=ConfirmationContext(channel=Channel.API),
    ).order
    Subscription.objects.filter(pk=subscription.pk).update(seats=7)  # as provisioning leaves it
    return order


def test_a_seat_change_line_keeps_the_count_before_and_is_priced_as_the_difference(demo, demo_user):
    order = _seat_change_5_to_7(demo, demo_user)
    (line,) = order.lines.all()
    assert (line.previous_seats, line.quantity, line.seat_difference, line.priced_quantity) == (5, 7, 2, 2)
    assert line.total == line.unit_price * 2


def test_a_line_stored_without_the_count_before_is_priced_as_before(demo, demo_user):
    order = _seat_change_5_to_7(demo, demo_user)
    order.lines.update(previous_seats=None)
    (line,) = order.lines.all()
    assert (line.seat_difference, line.priced_quantity, line.total) == (None, 7, line.unit_price * 7)


def test_the_bss_order_page_prices_a_seat_change_as_the_seats_it_adds(client, demo, demo_user):
    order = _seat_change_5_to_7(demo, demo_user)
    unit = order.lines.get().unit_price
    client.force_login(demo_user("bss"))
    page = client.get(f"/bss/orders/{order.number}/").content.decode()
    assert "5 → 7 (+2)" in page
    assert f"<td>{unit * 2} USD</td>" in page and f"{unit * 7} USD" not in page
