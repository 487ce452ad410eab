"""Who may use /bss/: CSP staff (all customers) and white-label staff (their reseller's customers only)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bss.choices import OrderStatus
from bss.models import Order, Subscription
from demo.accounts import DEMO_ORDERS
from tests.bss.conftest import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def litware_objects(demo):
    """Objects of a CSP (Contoso) customer: its demo order, a subscription."""
    litware = demo["litware"]
    order = Order.objects.get(number="SO-DEMO-LITWARE")
    subscription = Subscription.objects.create(account=litware, product=order.lines.get().product, seats=3)
    return litware, order, subscription


def bss_urls(account, order, subscription) -> list[tuple[str, str]]:
    """Every BSS URL, with the method that acts on it."""
    get = [
        reverse("bss:index"),
        reverse("bss:order-list"),
        reverse("bss:account-list"),
        reverse("bss:subscription-list"),
        reverse("bss:acceptance-list"),
        reverse("bss:order-detail", args=[order.number]),
        reverse("bss:order-execute", args=[order.number]),
        reverse("bss:account-detail", args=[account.pk]),
        reverse("bss:subscription-new", args=[account.pk]),
        reverse("bss:subscription-detail", args=[subscription.pk]),
    ]
    post = [
        reverse("bss:order-execute", args=[order.number]),
        reverse("bss:order-retry", args=[order.number]),
        reverse("bss:order-hold", args=[order.number]),
        reverse("bss:account-check-now", args=[account.pk]),
        reverse("bss:account-direct-link", args=[account.pk]),
        reverse("bss:account-send-link", args=[account.pk]),
        reverse("bss:subscription-new", args=[account.pk]),
        reverse("bss:subscription-detail", args=[subscription.pk]),
        reverse("bss:subscription-renew", args=[subscription.pk]),
        reverse("bss:subscription-cancel", args=[subscription.pk]),
    ]
    return [("get", url) for url in get] + [("post", url) for url in post]


@pytest.mark.parametrize("username", ["customer", "reseller", "wl-customer"])
def test_customers_and_resellers_are_refused_everywhere(client, demo_user, litware_objects, username):
    client.force_login(demo_user(username))
    for method, url in bss_urls(*litware_objects):
        response = getattr(client, method)(url, {"seats": "9", "email": "x@example.com"})
        assert response.status_code == 403, f"{username} {method} {url} -> {response.status_code}"
    assert Order.objects.get(number="SO-DEMO-LITWARE").status == OrderStatus.PLACED
    assert Order.objects.count() == len(DEMO_ORDERS)  # nothing written


def test_anonymous_users_are_sent_to_sign_in(client, litware_objects):
    for method, url in bss_urls(*litware_objects):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and reverse("login") in response["Location"], url


def test_white_label_staff_cannot_reach_a_csp_customer(client, demo_user, litware_objects):
    client.force_login(demo_user("wl-bss"))
    for method, url in bss_urls(*litware_objects):
        if url.rstrip("/").count("/") <= 2:  # the lists: allowed, but without the other organisation's rows
            continue
        response = getattr(client, method)(url, {"seats": "9", "email": "x@example.com"})
        assert response.status_code == 404, f"wl-bss {method} {url} -> {response.status_code}"
    order = Order.objects.get(number="SO-DEMO-LITWARE")
    assert order.status == OrderStatus.PLACED and not order.status_changes.exclude(to_status="placed").exists()
    assert Subscription.objects.get(pk=litware_objects[2].pk).seats == 3
    assert Order.objects.count() == len(DEMO_ORDERS)  # nothing written
    for url in [reverse("bss:index"), reverse("bss:order-list"), reverse("bss:account-list")]:
        body = client.get(url).content.decode()
        assert "Litware" not in body and "SO-DEMO-LITWARE" not in body
    assert "Tailspin Toys" in client.get(reverse("bss:account-list")).content.decode()
    assert "SO-DEMO-TAILSPIN" in client.get(reverse("bss:order-list")).content.decode()


def test_csp_staff_see_every_customer(client, demo_user, litware_objects):
    client.force_login(demo_user("bss"))
    body = client.get(reverse("bss:order-list")).content.decode()
    assert "SO-DEMO-LITWARE" in body and "SO-DEMO-TAILSPIN" in body
    assert client.get(reverse("bss:order-detail", args=["SO-DEMO-TAILSPIN"])).status_code == 200


def test_order_list_filters(client, demo_user, demo):
    make_order(demo["northwind"], "ACR-CYBER-BACKUP")
    client.force_login(demo_user("bss"))
    body = client.get(reverse("bss:order-list"), {"q": "Tailspin"}).content.decode()
    assert "SO-DEMO-TAILSPIN" in body and "SO-DEMO-LITWARE" not in body
    body = client.get(reverse("bss:order-list"), {"status": "provisioned"}).content.decode()
    assert "SO-DEMO" not in body
