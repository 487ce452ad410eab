"""The load of `python -m benchmarks load`, run by `locust --headless` in its own process (gevent's monkey-patching
stays out of the benchmark runner). Three kinds of users, 2 : 1 : 1:

- `Browser` (anonymous): the CSP's catalog, the white-label catalog, the home page, the cart.
- `Shopper`: the demo `customer` user (Northwind Traders, whose acceptance is known here) checking out as
  `benchmarks/checkout.py` does: add to cart → customer → Service Details → review → place order → order page.
- `Integrator`: the REST API with the demo `bss` user's token: the customer's MCA status, the acceptance log's
  first page, placing an order (with an Idempotency-Key).

The plan (sessions made beforehand, the token, ids) comes from the JSON file named by `MCA_LOAD_PLAN`: no password
is hashed during the run, so the figures are those of browsing, checking out and calling the API.
Every request is named "<kind>: <what>"; the runner groups them by kind.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import uuid
from urllib.parse import urlsplit

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser
from requests.cookies import create_cookie

with open(os.environ["MCA_LOAD_PLAN"]) as plan_file:
    PLAN = json.load(plan_file)
SESSIONS = itertools.cycle(PLAN["sessions"])
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
IDEMPOTENCY_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
ORDER_PAGE = re.compile(r"^/store/orders/[^/]+/$")
# A user's pause between tasks in seconds, the same for every kind (none by default: capacity, not pacing).
THINK = between(*PLAN["think_seconds"])


class Browser(FastHttpUser):
    weight = 2
    wait_time = THINK

    def _page(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{path} answered {response.status_code}")

    @task(3)
    def catalog(self) -> None:
        self._page("/store/", "browse: catalog")

    @task(2)
    def white_label_catalog(self) -> None:
        self._page(f"/store/{PLAN['white_label_slug']}/", "browse: white-label catalog")

    @task(1)
    def home(self) -> None:
        self._page("/", "browse: home")

    @task(1)
    def cart(self) -> None:
        self._page("/store/cart/", "browse: cart")


class Shopper(FastHttpUser):
    weight = 1
    wait_time = THINK

    def on_start(self) -> None:
        self.client.cookiejar.set_cookie(
            create_cookie("sessionid", next(SESSIONS), domain=urlsplit(self.host).hostname or "")
        )

    def _expect(self, response, status: int, location: re.Pattern[str] | str | None = None) -> bool:
        if response.status_code != status:
            where = response.headers.get("Location", "")
            response.failure(f"answered {response.status_code} {where}".strip() + f", expected {status}")
            return False
        if location is not None:
            where = urlsplit(response.headers.get("Location", "")).path
            wanted = location.match(where) if isinstance(location, re.Pattern) else where == location
            if not wanted:
                response.failure(f"redirected to {where!r}")
                return False
        response.success()
        return True

    @task
    def checkout(self) -> None:
        get, post = self.client.get, self.client.post
        with get("/store/", name="checkout: catalog", allow_redirects=False, catch_response=True) as catalog:
            if not self._expect(catalog, 200):
                return
            token = CSRF.search(catalog.text or "")
        if token is None:
            return
        form = {"csrfmiddlewaretoken": token.group(1), "product": PLAN["product_id"], "quantity": "2"}
        with post("/store/", data=form, name="checkout: add to cart", allow_redirects=False, catch_response=True) as r:
            if not self._expect(r, 302, "/store/cart/"):
                return
        with get("/store/checkout/", name="checkout: customer", allow_redirects=False, catch_response=True) as r:
            if not self._expect(r, 302, "/store/checkout/service-details/"):
                return
        details = "/store/checkout/service-details/"
        with get(details, name="checkout: service details", allow_redirects=False, catch_response=True) as r:
            if not self._expect(r, 200):
                return
        with get("/store/checkout/review/", name="checkout: review", allow_redirects=False, catch_response=True) as r:
            if not self._expect(r, 200):
                return
            key, token = IDEMPOTENCY_KEY.search(r.text or ""), CSRF.search(r.text or "")
            if key is None or token is None:
                r.failure("no idempotency key or CSRF token on the review page")
                return
        form = {"csrfmiddlewaretoken": token.group(1), "idempotency_key": key.group(1)}
        place = "/store/checkout/place-order/"
        with post(place, data=form, name="checkout: place order", allow_redirects=False, catch_response=True) as r:
            if not self._expect(r, 302, ORDER_PAGE):
                return
            order_page = urlsplit(r.headers["Location"]).path
        with get(order_page, name="checkout: order page", allow_redirects=False, catch_response=True) as r:
            self._expect(r, 200)


class Integrator(FastHttpUser):
    weight = 1
    wait_time = THINK

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Token {PLAN['api_token']}"}

    def _call(self, method: str, path: str, name: str, status: int, **kwargs) -> None:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        with self.client.request(method, path, name=name, headers=headers, catch_response=True, **kwargs) as r:
            if r.status_code != status:
                r.failure(f"answered {r.status_code}: {(r.text or '')[:200]}")

    @task(2)
    def customer_status(self) -> None:
        self._call("GET", f"/api/v1/accounts/{PLAN['account_id']}/mca/", "api: customer MCA status", 200)

    @task(2)
    def log_list(self) -> None:
        self._call("GET", "/api/v1/mca/acceptances/", "api: log list", 200)

    @task(1)
    def place_order(self) -> None:
        body = {
            "account": PLAN["account_id"],
            "lines": [{"product": PLAN["product_id"], "quantity": 1, "operation": "new_purchase"}],
        }
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        self._call("POST", "/api/v1/orders/", "api: place order", 201, json=body, headers=headers)
