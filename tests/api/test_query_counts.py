"""Exact query counts for the API's lists, whatever the number of rows (1 or 4 of each): authentication (the token
with its user), the caller's membership (scoping), the page, and one prefetch for an order's lines."""

import pytest

from bss.models import Product, Subscription
from tests.api.conftest import LEGACY
from tests.factories import OrderFactory, OrderLineFactory

AUTH = 2  # the token joined with its user; the user's membership (Account.objects.visible_to)
LISTS = {
    "/api/v1/accounts/": AUTH + 1 + 2,  # accounts with their reseller; mca_state (knowledge, newest links)
    "/api/v1/orders/": AUTH + 2,  # orders with their account; their lines (one prefetch)
    "/api/v1/subscriptions/": AUTH + 1,  # subscriptions with account and product
    "/api/v1/mca/acceptances/": AUTH + 1,  # records with their delivery state
    "/api/v1/products/": 1 + 1,  # the token (no scoping: the catalog is the same for everyone); the products
}


@pytest.fixture
def rows(api, demo, settings, request):
    """`request.param` orders (each with a line), subscriptions and acceptance records for visible accounts."""
    settings.MCA_ATTESTATION_FLOW = "legacy"
    product = Product.objects.get(sku="MS-M365-BS")
    accounts = [demo["northwind"], demo["litware"], demo["wide-world"], demo["tailspin"]]
    for account in accounts[: request.param]:
        order = OrderFactory(account=account)
        OrderLineFactory(order=order, product=product)
        OrderLineFactory(order=order, product=product)
        Subscription.objects.create(account=account, product=product, seats=3)
        response = api("bss").post(f"/api/v1/accounts/{account.pk}/mca/acceptances/", LEGACY, format="json")
        assert response.status_code == 201, response.content
    return request.param


@pytest.mark.parametrize("rows", [1, 4], indirect=True)
@pytest.mark.parametrize(("url", "queries"), list(LISTS.items()))
def test_a_list_costs_the_same_queries_for_one_row_or_many(api, rows, url, queries, django_assert_num_queries):
    client = api("bss")
    with django_assert_num_queries(queries):
        response = client.get(url)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) >= rows
