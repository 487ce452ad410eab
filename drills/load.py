"""A concurrent load beside a drill: storefront checkouts in a loop against the same stack, by customers whose
acceptance is known here (so Partner Center is never asked for them, whatever the drill does to it). They compete
with the drill for the stack's web workers, database and CPU, as other customers would during an outage; each of
them must still succeed (`failed` is a pass condition of the drills that run it: `down`, `throttle`).

`python -m drills --load-beside N` sets how many customers check out at a time (default 2; 0: none)."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from drills.stack import Stack

users_beside = 2  # set by the runner (--load-beside)


@dataclass
class Checkout:
    started: float  # time.monotonic()
    seconds: float
    failure: str = ""  # empty: placed


@dataclass
class CheckoutLoad:
    """`with CheckoutLoad(stack) as load:` checkouts run in `users` threads until the block ends."""

    stack: Stack
    users: int = field(default_factory=lambda: users_beside)
    checkouts: list[Checkout] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __enter__(self) -> CheckoutLoad:
        if self.users <= 0:
            return self
        from bss.models import Product
        from drills.web import Browser

        product = Product.objects.get(sku="MS-M365-BS").pk
        for user in _known_customers(self.stack, self.users):
            shop = Browser.signed_in_as(self.stack.base_url, user)
            thread = threading.Thread(target=self._loop, args=(shop, product), daemon=True, name="load-beside")
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _loop(self, shop, product: int) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                failure = _checkout(shop, product)
            except OSError as error:  # a refused or timed-out request is a failed checkout, not a crashed load
                failure = f"{type(error).__name__}: {error}"
            with self._lock:
                self.checkouts.append(Checkout(started, time.monotonic() - started, failure))
            if failure:
                self._stop.wait(1.0)  # as a customer shown an error would: not 40 tries a second

    # --- figures -----------------------------------------------------------------------------------------------

    def between(self, start: float, end: float) -> list[Checkout]:
        """The checkouts that started in [start, end) (time.monotonic())."""
        with self._lock:
            return [c for c in self.checkouts if start <= c.started < end]

    def failed(self) -> list[str]:
        with self._lock:
            return [c.failure for c in self.checkouts if c.failure]

    def text(self, phases: dict[str, tuple[float, float]] | None = None) -> str:
        """One line: how many checkouts beside, how many failed, and each phase's median."""
        if not self.users:
            return "no load beside"
        with self._lock:
            done = list(self.checkouts)
        parts = [f"load beside: {self.users} customers checking out in a loop, {len(done)} checkouts"]
        for name, (start, end) in (phases or {}).items():
            seconds = [c.seconds for c in self.between(start, end) if not c.failure]
            parts.append(f"{name} {_median(seconds):.2f} s median ({len(seconds)})")
        parts.append(f"{len(self.failed())} failed")
        return ", ".join(parts)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


def _checkout(shop, product: int) -> str:
    """One checkout of a customer whose acceptance is known: no MCA form; returns why it failed (empty: placed)."""
    steps = (
        ("catalog", lambda: shop.get("/store/"), 200),  # also gives the browser its CSRF cookie
        ("cart", lambda: shop.post("/store/", {"product": product, "quantity": 1}), 302),
        ("account", lambda: shop.get("/store/checkout/"), 302),
        ("service details", lambda: shop.get("/store/checkout/service-details/"), 200),
        ("review", lambda: shop.get("/store/checkout/review/"), 200),
        ("place order", lambda: shop.post("/store/checkout/place-order/", {"idempotency_key": str(uuid.uuid4())}), 302),
    )
    for name, send, expected in steps:
        response = send()
        if response.status_code != expected:
            return f"{name}: HTTP {response.status_code}"
        if name == "service details" and 'name="first_name"' in response.text:
            return "service details asked for the acceptance of a customer who had accepted"
    location = response.headers.get("Location", "")
    return "" if "/orders/" in location else f"place order went to {location}"


def _known_customers(stack: Stack, count: int) -> list:
    """`count` synced customers whose acceptance was confirmed here (the gate answers from what it knows), each
    with a customer user."""
    from django.utils import timezone

    from drills.cases import _accounts, _customer_users
    from drills.http import Simulator
    from mca.knowledge import knowledge_key, remember_acceptance

    tag = f"beside {uuid.uuid4().hex[:6]}"
    accounts = _accounts(stack, Simulator(stack.simulator_url), count, tag)
    for account in accounts:
        remember_acceptance(key=knowledge_key(account), kind="confirmed_here", accepted_at=timezone.now())
    return _customer_users(accounts)
