"""checkout: a whole storefront checkout by a customer whose acceptance is known here (add to cart → customer →
Service Details → review → place order), with the gate vs. the same checkout with the gate bypassed (a
monkeypatched `gate.check` answering "not needed"), interleaved so drift hits both alike. SPEC §7: within 10%.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from benchmarks.timing import measure, median, p95
from bss.models import Product
from demo.accounts import seed_demo_data
from mca import gate
from mca.knowledge import knowledge_key, remember_acceptance

_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


class QueryCounter:
    """Counts queries through an execute wrapper (it survives the reconnects between requests on SQLite)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _queries(fn) -> int:
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        fn()
    return counter.count


@contextmanager
def gate_bypassed():
    real = gate.check

    def not_needed(account, operations, **kwargs):
        return gate.Decision(False, "not_required", "Bypassed for the benchmark", "bypass", "bypass")

    gate.check = not_needed
    try:
        yield
    finally:
        gate.check = real


def _checkout(client: Client, product_pk: int) -> None:
    assert client.post("/store/", {"product": product_pk, "quantity": 2}).status_code == 302
    assert client.get("/store/checkout/").status_code == 302
    assert client.get("/store/checkout/service-details/").status_code == 200
    review = client.get("/store/checkout/review/")
    assert review.status_code == 200, review.headers.get("Location")
    key = _KEY.search(review.content.decode()).group(1)
    placed = client.post("/store/checkout/place-order/", {"idempotency_key": key})
    assert placed.status_code == 302 and "/orders/" in placed.url


def run(rounds: int = 200) -> dict:
    accounts = seed_demo_data()
    northwind = accounts["northwind"]
    remember_acceptance(key=knowledge_key(northwind), kind="confirmed_here", accepted_at=northwind.created_at)
    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(get_user_model().objects.get(username="customer"))
    product = Product.objects.get(sku="MS-M365-E3").pk

    for _ in range(10):  # warm up both paths
        _checkout(client, product)
        with gate_bypassed():
            _checkout(client, product)
    gated_queries = _queries(lambda: _checkout(client, product))
    with gate_bypassed():
        bypass_queries = _queries(lambda: _checkout(client, product))

    gated: list[float] = []
    bypassed: list[float] = []
    for _ in range(rounds):
        gated += measure(lambda: _checkout(client, product), 1)
        with gate_bypassed():
            bypassed += measure(lambda: _checkout(client, product), 1)

    ratio = median(gated) / median(bypassed)
    print("\n## checkout (storefront, customer whose acceptance is known)")
    print(
        f"with the gate:   median {median(gated) * 1e3:,.2f} ms, p95 {p95(gated) * 1e3:,.2f} ms, "
        f"{gated_queries} queries per checkout"
    )
    print(
        f"gate bypassed:   median {median(bypassed) * 1e3:,.2f} ms, p95 {p95(bypassed) * 1e3:,.2f} ms, "
        f"{bypass_queries} queries per checkout"
    )
    print(f"ratio gated / bypassed: {ratio:.3f} ({(ratio - 1) * 100:+.1f}%; {rounds} interleaved rounds)")
    return {"gated_median_ms": median(gated) * 1e3, "bypassed_median_ms": median(bypassed) * 1e3, "ratio": ratio}
