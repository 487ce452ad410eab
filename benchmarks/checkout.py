"""checkout: a whole storefront checkout (add to cart → customer → Service Details → review → place order) by a
customer whose acceptance is known, with the gate vs. the same checkout with the gate switched off, interleaved
so drift hits both alike. SPEC §7 and issue 13: within 5 %, at most 2 queries added, no Partner Center call.

"Switched off" removes everything the gate does: `gate.check` answers "not needed" at once and
`gate.with_known_acceptance` (the knowledge read folded into the checkout's account query) leaves the query as it
was. Two customers: Northwind, a direct customer that accepted here (its own user checks out), and Adventure
Works, a synced customer whose acceptance was learned from Partner Center once (a reseller user checks out for it).
The simulator runs over HTTP (as in `gate`), so a Partner Center call, if the gate made one, would be answered and
counted: by the client in this process (per checkout, each way) and by the simulator (its own counts, cross-check).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client

from benchmarks.gate import simulator
from benchmarks.timing import median, p95
from bss.models import Account, Product
from demo.accounts import seed_demo_data
from mca import gate
from mca.choices import AcceptanceKind
from mca.knowledge import knowledge_key, remember_acceptance
from mca.models import CustomerKnowledge
from mca.status import acceptance_status
from partner_center.client import call_counts

_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


class QueryCounter:
    """Counts queries through an execute wrapper (it survives the reconnects between requests on SQLite)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _queries(fn: Callable[[], object]) -> int:
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        fn()
    return counter.count


@contextmanager
def gate_switched_off() -> Iterator[None]:
    real_check, real_with_known = gate.check, gate.with_known_acceptance

    def not_needed(account, operations, **kwargs):
        return gate.Decision(False, "not_required", "Switched off for the benchmark", "off", "off")

    gate.check = not_needed
    gate.with_known_acceptance = lambda accounts: accounts
    try:
        yield
    finally:
        gate.check, gate.with_known_acceptance = real_check, real_with_known


@dataclass
class Shopper:
    label: str
    client: Client
    account: Account
    chooses_account: bool  # a reseller picks the customer; a customer user's own account is chosen for it


def _checkout(shopper: Shopper, product_pk: int) -> None:
    client = shopper.client
    assert client.post("/store/", {"product": product_pk, "quantity": 2}).status_code == 302
    if shopper.chooses_account:
        assert client.get("/store/checkout/").status_code == 200
        assert client.post("/store/checkout/", {"account": shopper.account.pk}).status_code == 302
    else:
        assert client.get("/store/checkout/").status_code == 302
    details = client.get("/store/checkout/service-details/")
    assert details.status_code == 200 and b"Continue to review" in details.content, "the gate asked for acceptance"
    review = client.get("/store/checkout/review/")
    assert review.status_code == 200, review.headers.get("Location")
    key = _KEY.search(review.content.decode()).group(1)
    placed = client.post("/store/checkout/place-order/", {"idempotency_key": key})
    assert placed.status_code == 302 and "/orders/" in placed.url, placed.headers.get("Location")


def _pc_calls() -> Counter:
    return Counter({name: n for name, n in call_counts().items() if n})


@dataclass
class Side:
    """One side of the comparison: wall and CPU times per checkout, and the Partner Center calls made."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    calls: Counter = field(default_factory=Counter)

    def run(self, shopper: Shopper, product: int) -> None:
        before = _pc_calls()
        wall, cpu = time.perf_counter(), time.process_time()
        _checkout(shopper, product)
        self.cpu.append(time.process_time() - cpu)
        self.wall.append(time.perf_counter() - wall)
        self.calls.update(_pc_calls() - before)


def _shopper(label: str, username: str, account: Account, chooses_account: bool) -> Shopper:
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return Shopper(label, client, account, chooses_account)


def _measure(shopper: Shopper, product: int, rounds: int, simulator_base: str) -> dict:
    for _ in range(10):  # warm up both paths
        _checkout(shopper, product)
        with gate_switched_off():
            _checkout(shopper, product)
    gated_queries = _queries(lambda: _checkout(shopper, product))
    with gate_switched_off():
        off_queries = _queries(lambda: _checkout(shopper, product))

    requests.delete(f"{simulator_base}/_control/calls", timeout=10)
    gated, off = Side(), Side()
    for round_number in range(rounds):
        # Each round runs both, in alternating order (gated first, then off first), so that neither side always
        # follows the other's database writes or garbage.
        if round_number % 2 == 0:
            gated.run(shopper, product)
        with gate_switched_off():
            off.run(shopper, product)
        if round_number % 2 == 1:
            gated.run(shopper, product)
    simulator_calls = {
        k: v for k, v in requests.get(f"{simulator_base}/_control/faults", timeout=10).json()["calls"].items() if v
    }

    ratio = median(gated.wall) / median(off.wall)
    paired = median([g / o for g, o in zip(gated.wall, off.wall, strict=True)])  # per round: robust to drift
    cpu_ratio = median(gated.cpu) / median(off.cpu)
    gated_total, off_total = sum(gated.calls.values()), sum(off.calls.values())
    print(f"\n### {shopper.label}")
    for label, side, queries in (("with the gate:", gated, gated_queries), ("gate off:", off, off_queries)):
        print(
            f"{label:<16} median {median(side.wall) * 1e3:,.2f} ms, p95 {p95(side.wall) * 1e3:,.2f} ms "
            f"(CPU of this process: median {median(side.cpu) * 1e3:,.2f} ms), {queries} queries per checkout"
        )
    print(
        f"ratio of medians gated / off: {ratio:.3f} ({(ratio - 1) * 100:+.1f}%; {rounds} interleaved rounds); "
        f"median of per-round ratios {paired:.3f}; p95 ratio {p95(gated.wall) / p95(off.wall):.3f}; "
        f"CPU ratio {cpu_ratio:.3f} (not counting the database server's work on PostgreSQL)"
    )
    print(
        f"queries per checkout: {gated_queries} with the gate, {off_queries} off: "
        f"{gated_queries - off_queries:+d} added by the gate"
    )
    print(
        f"Partner Center calls (client counts): with the gate {gated_total} in {rounds} checkouts = "
        f"{gated_total * 1000 / rounds:,.1f} per 1,000 checkouts {dict(gated.calls) or ''}; gate off {off_total}; "
        f"simulator's own count over both: {sum(simulator_calls.values())} {simulator_calls or ''}"
    )
    return {
        "gated_median_ms": median(gated.wall) * 1e3,
        "off_median_ms": median(off.wall) * 1e3,
        "gated_p95_ms": p95(gated.wall) * 1e3,
        "off_p95_ms": p95(off.wall) * 1e3,
        "ratio": ratio,
        "paired_ratio": paired,
        "cpu_ratio": cpu_ratio,
        "gated_queries": gated_queries,
        "off_queries": off_queries,
        "pc_calls_per_1000": gated_total * 1000 / rounds,
        "simulator_calls": sum(simulator_calls.values()),
    }


def run(rounds: int = 300) -> dict:
    from demo.simulator import seed_simulator

    accounts = seed_demo_data()
    seed_simulator()
    northwind, adventure = accounts["northwind"], accounts["adventure-works"]
    remember_acceptance(key=knowledge_key(northwind), kind="confirmed_here", accepted_at=northwind.created_at)
    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    product = Product.objects.get(sku="MS-M365-E3").pk

    print("\n## checkout (storefront, customer whose acceptance is known; gate vs. gate switched off)")
    figures = {}
    with simulator() as base:
        settings.PARTNER_CENTER_BASE_URL = base
        cache.clear()
        # Adventure Works' acceptance is learned from Partner Center once (a partner confirmation), then known here.
        CustomerKnowledge.objects.filter(key=knowledge_key(adventure)).delete()
        learned = acceptance_status(adventure)
        assert not learned.needed and learned.known_by == AcceptanceKind.PARTNER_CENTER_ATTESTATION, learned.reason
        shoppers = [
            _shopper("Northwind Traders (direct, accepted here; its own user)", "customer", northwind, False),
            _shopper("Adventure Works (synced, learned from Partner Center; a reseller)", "reseller", adventure, True),
        ]
        for shopper in shoppers:
            figures[shopper.label] = _measure(shopper, product, rounds, base)
    return figures
