"""Placing orders (`bss.services.orders.place_order`)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from bss.choices import Channel, OrderStatus
from bss.models import Order, Product
from bss.services import orders
from bss.services.orders import LineRequest, place_order


@pytest.fixture
def numbers(monkeypatch):
    """Order numbers drawn from a list instead of at random."""

    def use(*drawn: str) -> None:
        queue = list(drawn)
        monkeypatch.setattr(orders, "_new_number", lambda: queue.pop(0))

    return use


def _place(demo, demo_user, key: str | None = None) -> Order:
    product = Product.objects.get(sku="ACR-CYBER-BACKUP")  # not Microsoft: no acceptance needed
    return place_order(
        actor=demo_user("customer"),
        account=demo["northwind"],
        lines=[LineRequest(product, 1)],
        channel=Channel.STOREFRONT,
        idempotency_key=key,
    )


def test_an_order_number_drawn_twice_is_drawn_again(demo, demo_user, numbers):
    numbers("SO-261126-ABCDEF", "SO-261126-ABCDEF", "SO-261126-123456")
    first = _place(demo, demo_user, key="first")
    second = _place(demo, demo_user, key="second")
    assert (first.number, second.number) == ("SO-261126-ABCDEF", "SO-261126-123456")
    assert second.status == OrderStatus.PLACED and second.lines.count() == 1


def test_order_numbers_taken_every_time_give_up_after_a_few_draws(demo, demo_user, numbers):
    numbers("SO-261126-ABCDEF", *["SO-261126-ABCDEF"] * orders._NUMBER_ATTEMPTS)
    _place(demo, demo_user)
    with pytest.raises(IntegrityError):
        _place(demo, demo_user)
    assert Order.objects.filter(number="SO-261126-ABCDEF").count() == 1
