"""Placing the order is idempotent per checkout (issue 17 item 8, issue 20): the key is bound to the cart in the
session, not to the form, so a crafted POST without the form's key, five tabs or a double click place one order."""

from __future__ import annotations

import pytest
from django.test import Client

from bss.models import Order
from tests.mca.test_concurrency import run_at_once

PLACE = "/store/checkout/place-order/"


def _checkout(client, add_to_cart, demo_user) -> None:
    client.force_login(demo_user("customer"))
    add_to_cart(sku="ACR-CYBER-BACKUP")  # not Microsoft: no MCA step in the way
    client.get("/store/checkout/")


def test_posts_without_the_forms_key_place_one_order(client, demo, demo_user, add_to_cart):
    _checkout(client, add_to_cart, demo_user)
    first = client.post(PLACE, {})
    second = client.post(PLACE, {})
    assert Order.objects.filter(account=demo["northwind"]).count() == 1
    assert first.url == second.url and "/store/orders/" in first.url


def test_the_next_cart_is_a_new_order(client, demo, demo_user, add_to_cart):
    _checkout(client, add_to_cart, demo_user)
    client.post(PLACE, {})
    add_to_cart(sku="ACR-CYBER-BACKUP")
    client.get("/store/checkout/")
    client.post(PLACE, {})
    assert Order.objects.filter(account=demo["northwind"]).count() == 2


@pytest.mark.postgres
def test_five_concurrent_submits_of_one_checkout_place_one_order(
    client, transactional_db, demo, demo_user, add_to_cart
):
    """Before: up to 3 orders out of 5 concurrent submits without an idempotency key."""
    _checkout(client, add_to_cart, demo_user)
    cookies = client.cookies

    def submit(i: int) -> str:
        tab = Client()
        tab.cookies = cookies
        response = tab.post(PLACE, {})
        assert response.status_code == 302, response.status_code
        return response.url

    results = run_at_once(5, submit)
    assert all(isinstance(url, str) for url in results), results
    assert Order.objects.filter(account=demo["northwind"]).count() == 1
    order = Order.objects.get(account=demo["northwind"])
    assert order.lines.count() == 1
    # Every tab lands on the one order, or on the emptied cart if it came after the order emptied it.
    assert {url for url in results} <= {f"/store/orders/{order.number}/", "/store/cart/"}
