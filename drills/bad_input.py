"""Drill 7, `bad_input` (and `bad_input_enhanced`): a corpus of bad input over the forms and the REST API of the
running stack, in its attestation flow.

Channels: the storefront checkout's Service Details form (a new customer's own user, asked to accept), the BSS
execution form (the demo `bss` user executing a new customer's order, which needs the acceptance), both over HTTP
with a signed-in session and its CSRF token, and the REST API with tokens. Every case must get a clear 4xx (never a
5xx, never a success) that says what is wrong (the field marked when one field is bad), write nothing (acceptance
records, attestations, deliveries, orders, order status changes, subscriptions of the accounts addressed, counted
before and after), and leak nothing (another tenant's name, contacts or tenant id never in the answer; the markup
sent never comes back raw, in HTML or in JSON). Then one valid submission per channel, with the same sessions and
tokens, must succeed: the refusals were the input's doing. Each answer is listed in `<logs>/bad_input.tsv`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from html import unescape
from typing import Any

import requests

from drills.cases import DrillFailed, _accounts, check
from drills.http import TIMEOUT, Api, Simulator
from drills.stack import LOG_DIR, Stack
from drills.web import Browser

SCRIPT = "<script>alert('drill')</script>"
IMG = '"><img src=x onerror=alert(1)>'
SVG = "<svg onload=alert(1)>"
MARKUP = (SCRIPT, IMG, SVG)  # never to come back raw, in HTML or in JSON
CATEGORIES = ("oversized", "markup", "unicode", "dates", "types", "tenants", "csrf")
ALL = ("storefront", "bss", "api")
DETAILS = "/store/checkout/service-details/"


@dataclass(frozen=True)
class Case:
    category: str
    channel: str
    label: str
    send: Callable[[], requests.Response]
    expect: tuple[int, ...] = ()  # the statuses allowed; empty: any 4xx
    secrets: tuple[str, ...] = ()  # another tenant's data, never to appear in the answer
    field: str = ""  # the field the answer must mark as wrong


def _key() -> str:
    return str(uuid.uuid4())


def _reason(response: requests.Response) -> str:
    """What the answer says is wrong (empty: it does not say)."""
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        try:
            body = response.json()
        except ValueError:
            return ""
        errors = body.get("errors") or {}
        first = next(iter(errors.items()), None)
        detail = str(body.get("detail") or "")
        return f"{first[0]}: {first[1][0]}" if first and first[1] else detail
    text = response.text
    for pattern in (r'class="errorlist[^"]*"[^>]*>\s*<li>(.*?)</li>', r"<h1[^>]*>(.*?)</h1>", r"<title>(.*?)</title>"):
        found = re.search(pattern, text, re.S)
        if found:
            return unescape(re.sub(r"<[^>]+>|\s+", " ", found.group(1))).strip()
    return ""


def _written(accounts: list) -> dict[str, int]:
    """Rows of the accounts the corpus addresses. (Only theirs: other drills' background work - deliveries sent,
    attestations advancing, orders retried - writes rows for other accounts meanwhile.)"""
    from bss.models import Order, OrderStatusChange, Subscription
    from mca.models import AcceptanceDelivery, AcceptanceRecord, Attestation

    return {
        "records": AcceptanceRecord.objects.filter(account__in=accounts).count(),
        "attestations": Attestation.objects.filter(account__in=accounts).count(),
        "deliveries": AcceptanceDelivery.objects.filter(account__in=accounts).count(),
        "orders": Order.objects.filter(account__in=accounts).count(),
        "order status changes": OrderStatusChange.objects.filter(order__account__in=accounts).count(),
        "subscriptions": Subscription.objects.filter(account__in=accounts).count(),
    }


def _secrets(account) -> tuple[str, ...]:
    emails = tuple(account.contacts.values_list("email", flat=True))
    tenant = (str(account.partner_center_tenant_id),) if account.partner_center_tenant_id else ()
    return (account.name, *emails, *tenant)


class _Api:
    """The REST API with one user's token; any body (a list, null, raw bytes) and any header."""

    def __init__(self, stack: Stack, username: str) -> None:
        self.base_url = stack.base_url
        self.headers = Api(stack.base_url, username).headers

    def post(
        self, path: str, body: Any = None, *, raw: bytes | None = None, headers: dict[str, str | None] | None = None
    ) -> requests.Response:
        """POST with a fresh Idempotency-Key; a header given as None is left out."""
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        merged = {"Content-Type": "application/json", "Idempotency-Key": _key(), **self.headers, **(headers or {})}
        sent = {name: value for name, value in merged.items() if value is not None}
        return requests.post(f"{self.base_url}/api/v1{path}", data=data, headers=sent, timeout=TIMEOUT)

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.base_url}/api/v1{path}", headers=self.headers, timeout=TIMEOUT)


# The fields by their legacy names; the enhanced (signatory) form names them otherwise, has a company name and no date.
FIELD_NAMES = {
    "legacy": {"company_name": None},
    "enhanced": {
        "first_name": "signatory_first_name",
        "last_name": "signatory_last_name",
        "email": "signatory_email",
        "phone": "signatory_phone",
        "accepted": "authority_confirmed",
        "date_agreed": None,
    },
}


def _valid_form(flow: str, today: date) -> dict[str, str]:
    """A valid acceptance form as a browser posts it."""
    if flow == "legacy":
        return {
            "first_name": "Drill",
            "last_name": "Input",
            "email": "drill.input@drill.example",
            "phone": "+1 206 555 0100",
            "date_agreed": today.isoformat(),
            "accepted": "on",
        }
    return {
        "signatory_first_name": "Drill",
        "signatory_last_name": "Input",
        "signatory_email": "drill.input@drill.example",
        "signatory_phone": "+1 206 555 0100",
        "company_name": "Drill Input",
        "authority_confirmed": "on",
    }


def _placed_order(account):
    """A placed order for a Microsoft product (as the storefront would have placed it), to execute in the BSS."""
    from bss.choices import Channel, OrderStatus
    from bss.models import Order, OrderLine, Product

    product = Product.objects.get(sku="MS-M365-BS")
    number = f"SO-DRILL-{uuid.uuid4().hex[:8].upper()}"
    order = Order.objects.create(number=number, account=account, channel=Channel.STOREFRONT, status=OrderStatus.PLACED)
    OrderLine.objects.create(order=order, product=product, quantity=2, unit_price=product.price)
    return order


def _field_cases(today: date) -> list[tuple[str, str, Any, tuple[str, ...]]]:
    """(category, field, bad value, channels): one bad field in an otherwise valid acceptance form."""
    tomorrow = (today + timedelta(days=1)).isoformat()
    return [
        ("oversized", "first_name", "A" * 101, ALL),
        ("oversized", "last_name", "B" * 100_000, ("storefront", "api")),
        ("oversized", "email", "x" * 300 + "@drill.example", ("bss", "api")),
        ("oversized", "phone", "9" * 5000, ("storefront", "api")),
        ("oversized", "date_agreed", "2" * 10_000, ("bss", "api")),
        ("markup", "first_name", SCRIPT, ALL),
        ("markup", "last_name", IMG, ALL),
        ("markup", "email", f"{SCRIPT}@drill.example", ("storefront", "api")),
        ("markup", "phone", SVG, ("bss", "api")),
        ("markup", "date_agreed", SCRIPT, ("storefront", "api")),
        ("unicode", "first_name", "P\u0430ul", ALL),  # a Cyrillic "а" in a Latin name
        ("unicode", "last_name", "\U0001d412\U0001d426\U0001d422\U0001d42d\U0001d421", ("storefront", "api")),  # 𝐒𝐦𝐢𝐭𝐡
        ("unicode", "first_name", "\uff2a\uff41\uff4e\uff45", ("bss",)),  # full-width Ｊａｎｅ
        ("unicode", "email", "drill@micr\u043esoft.example", ALL),  # a Cyrillic "о" in the domain
        ("unicode", "last_name", "\u0301Smith", ("storefront", "api")),  # decomposed: a lone accent first
        ("unicode", "last_name", "Z\u0336\u0337\u0338\u0339algo", ("bss", "api")),  # four marks on one letter
        ("unicode", "first_name", "Ja\u200bne", ("storefront", "api")),  # a zero-width space
        ("unicode", "last_name", "\u202ehtimS", ("bss", "api")),  # a right-to-left override
        ("unicode", "first_name", "Ja\x00ne", ("storefront", "api")),  # a NUL
        ("dates", "date_agreed", "0001-01-01", ALL),
        ("dates", "date_agreed", "9999-12-31", ALL),
        ("dates", "date_agreed", "2024-02-30", ALL),
        ("dates", "date_agreed", "2023-02-29", ("storefront", "api")),
        ("dates", "date_agreed", tomorrow, ALL),
        ("dates", "date_agreed", "0000-00-00", ("api",)),
        ("dates", "date_agreed", "99999-01-01", ("bss", "api")),
        ("dates", "date_agreed", "2026-13-01", ("storefront",)),
        ("dates", "date_agreed", "1700000000", ("bss",)),
        ("oversized", "company_name", "X" * 201, ("bss", "api")),
        ("markup", "company_name", SCRIPT, ALL),
        ("unicode", "company_name", "C\u043entoso", ("storefront", "api")),  # a Cyrillic "о"
        ("types", "accepted", "yes", ("storefront", "bss")),
        ("types", "accepted", "true", ("storefront",)),
        ("types", "accepted", "1", ("bss",)),
    ]


def bad_input(stack: Stack, flow: str = "legacy") -> str:
    """The corpus against the running stack's attestation flow (`flow`: its form's fields and its outcomes)."""
    from bss.models import Account, Order, Product
    from drills.cases import _customer_users
    from mca.models import AcceptanceRecord

    names = FIELD_NAMES[flow]

    def named(name: str) -> str | None:
        return names.get(name, name)

    sim = Simulator(stack.simulator_url)
    api_account, bss_account = _accounts(stack, sim, 2, f"badin {flow}")
    shop_account = Account.objects.create(name=f"Drill badin shop {flow}", country="US", language="en-US")
    (shop_user,) = _customer_users([shop_account])
    northwind = Account.objects.get(name="Northwind Traders")
    litware = Account.objects.get(name="Litware")
    tailspin = Account.objects.get(name="Tailspin Toys")
    foreign_order = Order.objects.get(number="SO-DEMO-LITWARE")  # Contoso's customer's
    order = _placed_order(bss_account)
    product = Product.objects.get(sku="MS-M365-BS")
    foreign_record = AcceptanceRecord.objects.exclude(account=northwind).order_by("-sequence").first()
    today = date.today()
    form = _valid_form(flow, today)
    accept_field = named("accepted")
    api_form = {**form, accept_field: True}

    # The storefront: a new customer's own user at the Service Details step with a Microsoft product in the cart.
    shop = Browser.signed_in_as(stack.base_url, shop_user)
    check(shop.get("/store/").status_code == 200, "the catalog did not open")  # and gives the CSRF cookie
    check(shop.post("/store/", {"product": product.pk, "quantity": 1}).status_code == 302, "add to cart failed")
    check(shop.get("/store/checkout/").status_code == 302, "the checkout did not go to Service Details")
    first_field = named("first_name")
    check(shop.form_on(DETAILS, first_field), "the storefront's Service Details step shows no acceptance form")
    # The BSS: the CSP's BSS user executing a customer's order, which shows the form.
    execute = f"/bss/orders/{order.number}/execute/"
    bss = Browser(stack.base_url, "bss")
    check(bss.form_on(execute, first_field), f"the BSS execution page of {order.number} shows no acceptance form")
    apis = {name: _Api(stack, name) for name in ("bss", "reseller", "wl-bss", "customer")}
    accept_path = f"/accounts/{api_account.pk}/mca/acceptances/"

    def storefront(data: dict[str, Any], *, csrf: bool = True, headers: dict[str, str] | None = None):
        return lambda: shop.post(
            DETAILS, {**data, "action": "accept", "idempotency_key": _key()}, csrf=csrf, headers=headers
        )

    def bss_form(data: dict[str, Any], browser: Browser = bss, path: str = execute, *, csrf: bool = True):
        return lambda: browser.post(path, {**data, "confirm": "1", "idempotency_key": _key()}, csrf=csrf)

    def api(body: Any = None, *, user: str = "bss", path: str = accept_path, **kwargs: Any):
        return lambda: apis[user].post(path, body, **kwargs)

    cases: list[Case] = []
    for category, legacy_name, value, channels in _field_cases(today):
        name = named(legacy_name)
        if name is None:
            continue  # not a field of this flow's form
        label = f"{name}={value[:24]!r}{'…' if len(value) > 24 else ''}"
        if "storefront" in channels:
            cases.append(Case(category, "storefront", label, storefront({**form, name: value}), field=name))
        if "bss" in channels:
            cases.append(Case(category, "bss", label, bss_form({**form, name: value}), field=name))
        if "api" in channels:
            cases.append(Case(category, "api", label, api({**api_form, name: value}), field=name))

    huge = "C" * (3 * 1024 * 1024)  # above Django's 2.5 MB request body limit
    many_fields = [*form.items(), *((f"extra{n}", "x") for n in range(3000))]
    lines = [{"product": product.pk, "quantity": 1}]
    cases += [
        Case("oversized", "storefront", "a 3 MB body", storefront({**form, named("last_name"): huge})),
        Case("oversized", "storefront", "3,000 fields", lambda: shop.post(DETAILS, many_fields)),
        Case("oversized", "bss", "a 3 MB body", bss_form({**form, first_field: huge})),
        Case("oversized", "api", "a 3 MB JSON body", api({**api_form, named("last_name"): huge}), expect=(413,)),
        Case(
            "oversized",
            "api",
            "a 3 MB JSON body, no Idempotency-Key",
            api({**api_form, "last_name": huge}, headers={"Idempotency-Key": None}),
            expect=(413,),
        ),
        Case(
            "oversized",
            "api",
            "a 10,000-character Idempotency-Key",
            api(api_form, headers={"Idempotency-Key": "k" * 10_000}),
        ),
        Case(
            "oversized",
            "api",
            "an order of 101 lines",
            api({"account": api_account.pk, "lines": lines * 101}, path="/orders/"),
        ),
        Case(
            "oversized",
            "api",
            "quantity 10**30",
            api({"account": api_account.pk, "lines": [{"product": product.pk, "quantity": 10**30}]}, path="/orders/"),
        ),
        Case("markup", "api", "a field named <script>", api({**api_form, SCRIPT: "x"})),
        Case(
            "markup",
            "api",
            "operation <script>",
            api({"account": api_account.pk, "lines": [{**lines[0], "operation": SCRIPT}]}, path="/orders/"),
        ),
        Case("unicode", "api", "a lone surrogate", api(raw=b'{"' + first_field.encode() + b'": "\\ud800"}')),
        Case("unicode", "api", "invalid UTF-8", api(raw=b'{"' + first_field.encode() + b'": "\xff\xfe"}')),
        Case(
            "unicode",
            "storefront",
            "invalid UTF-8",
            lambda: shop.post(
                DETAILS,
                first_field.encode()
                + b"=%FF%FE&"
                + accept_field.encode()
                + b"=on&csrfmiddlewaretoken="
                + shop.csrf_token().encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
        ),
    ]
    type_cases = [
        ("first_name", "42", 42),
        ("first_name", "a list", ["Drill"]),
        ("first_name", "an object", {"text": "Drill"}),
        ("first_name", "null", None),
        ("first_name", "true", True),
        ("email", "a list", ["drill.input@drill.example"]),
        ("accepted", "'true'", "true"),
        ("accepted", "1", 1),
        ("accepted", "null", None),
        ("date_agreed", "a number", 20260101),
        ("date_agreed", "a list", [today.isoformat()]),
    ]
    for legacy_name, what, value in type_cases:
        name = named(legacy_name)
        if name is not None:
            cases.append(Case("types", "api", f"{name} {what}", api({**api_form, name: value}), field=name))
    for label, body in (
        ("the body a list", [api_form]),
        ("the body a string", "accepted"),
        ("the body null", None),
        ("the body a number", 42),
    ):
        cases.append(Case("types", "api", label, api(body)))
    for label, body in (
        ("account '5'", {"account": str(api_account.pk), "lines": lines}),
        ("lines an object", {"account": api_account.pk, "lines": lines[0]}),
        ("lines [1]", {"account": api_account.pk, "lines": [1]}),
        ("quantity '5'", {"account": api_account.pk, "lines": [{"product": product.pk, "quantity": "5"}]}),
        ("quantity 5.5", {"account": api_account.pk, "lines": [{"product": product.pk, "quantity": 5.5}]}),
        ("quantity true", {"account": api_account.pk, "lines": [{"product": product.pk, "quantity": True}]}),
        ("product null", {"account": api_account.pk, "lines": [{"product": None, "quantity": 1}]}),
        ("mca_acceptance 'yes'", {"account": api_account.pk, "lines": lines, "mca_acceptance": "yes"}),
        ("mca_acceptance a list", {"account": api_account.pk, "lines": lines, "mca_acceptance": [api_form]}),
    ):
        cases.append(Case("types", "api", f"order: {label}", api(body, path="/orders/")))
    cases += [
        Case(
            "types", "api", "execute: mca_acceptance 5", api({"mca_acceptance": 5}, path=f"/orders/{order.pk}/execute/")
        ),
        Case("types", "api", "malformed JSON", api(raw=b'{"first_name": ')),
        Case("types", "api", "text/plain", api(api_form, headers={"Content-Type": "text/plain"})),
    ]

    # Other tenants' ids: a reseller's user for another reseller's customer or the CSP's own, white-label staff for
    # the CSP's reseller's customer, a customer for another customer.
    reseller_shop = Browser(stack.base_url, "reseller")
    check(reseller_shop.post("/store/", {"product": product.pk, "quantity": 1}).status_code == 302, "reseller cart")
    wl_bss = Browser(stack.base_url, "wl-bss")
    foreign_execute = f"/bss/orders/{foreign_order.number}/execute/"
    reseller_bss = Browser(stack.base_url, "reseller")
    tenant_cases = [
        (
            "api",
            "reseller confirms for Fabrikam's Tailspin",
            tailspin,
            api(api_form, user="reseller", path=f"/accounts/{tailspin.pk}/mca/acceptances/"),
        ),
        (
            "api",
            "reseller confirms for the CSP's Northwind",
            northwind,
            api(api_form, user="reseller", path=f"/accounts/{northwind.pk}/mca/acceptances/"),
        ),
        (
            "api",
            "reseller orders for Tailspin",
            tailspin,
            api({"account": tailspin.pk, "lines": lines, "mca_acceptance": api_form}, user="reseller", path="/orders/"),
        ),
        (
            "api",
            "reseller reads Tailspin's MCA status",
            tailspin,
            lambda: apis["reseller"].get(f"/accounts/{tailspin.pk}/mca/"),
        ),
        (
            "api",
            "white-label staff confirm for Contoso's Litware",
            litware,
            api(api_form, user="wl-bss", path=f"/accounts/{litware.pk}/mca/acceptances/"),
        ),
        (
            "api",
            "white-label staff execute Litware's order",
            litware,
            api({"mca_acceptance": api_form}, user="wl-bss", path=f"/orders/{foreign_order.pk}/execute/"),
        ),
        (
            "api",
            "a customer confirms for Litware",
            litware,
            api(api_form, user="customer", path=f"/accounts/{litware.pk}/mca/acceptances/"),
        ),
        (
            "storefront",
            "reseller picks Tailspin at checkout",
            tailspin,
            lambda: reseller_shop.post("/store/checkout/", {"account": tailspin.pk}),
        ),
        (
            "storefront",
            "reseller picks Northwind at checkout",
            northwind,
            lambda: reseller_shop.post("/store/checkout/", {"account": northwind.pk}),
        ),
        ("bss", "white-label staff open Litware's order", litware, lambda: wl_bss.get(foreign_execute)),
        ("bss", "white-label staff execute Litware's order", litware, bss_form(form, wl_bss, foreign_execute)),
        ("bss", "a reseller user executes in the BSS", litware, bss_form(form, reseller_bss, foreign_execute)),
    ]
    if foreign_record is not None:
        tenant_cases.append(
            (
                "api",
                "a customer reads another customer's record",
                foreign_record.account,
                lambda: apis["customer"].get(f"/mca/acceptances/{foreign_record.pk}/"),
            )
        )
    for channel, label, target, send in tenant_cases:
        cases.append(Case("tenants", channel, label, send, expect=(403, 404), secrets=_secrets(target)))

    # Valid input without (or with a wrong, or cross-origin) CSRF token: refused, whatever the input.
    cases += [
        Case("csrf", "storefront", "no token", storefront(form, csrf=False), expect=(403,)),
        Case(
            "csrf",
            "storefront",
            "a wrong token",
            lambda: shop.post(DETAILS, {**form, "csrfmiddlewaretoken": "x" * 32}, csrf=False),
            expect=(403,),
        ),
        Case(
            "csrf",
            "storefront",
            "another Origin",
            storefront(form, headers={"Origin": "http://evil.example"}),
            expect=(403,),
        ),
        Case(
            "csrf",
            "storefront",
            "place order, no token",
            lambda: shop.post("/store/checkout/place-order/", {"idempotency_key": _key()}, csrf=False),
            expect=(403,),
        ),
        Case("csrf", "bss", "no token", bss_form(form, csrf=False), expect=(403,)),
        Case(
            "csrf",
            "api",
            "session without X-CSRFToken",
            lambda: shop.post_json(f"/api/v1/accounts/{shop_account.pk}/mca/acceptances/", api_form, csrf=False),
            expect=(403,),
        ),
    ]

    addressed = [api_account, bss_account, shop_account, northwind, litware, tailspin]
    if foreign_record is not None:
        addressed.append(foreign_record.account)
    before = _written(addressed)
    order_status = order.status
    with (LOG_DIR / "bad_input.tsv").open("w", encoding="utf-8") as log:
        results = [(case, *_run(case, log)) for case in cases]
    after = _written(addressed)
    order.refresh_from_db()
    failures = [f"{case.category}/{case.channel} {case.label}: {why}" for case, _, why in results if why]
    changed = {name: after[name] - before[name] for name in before if after[name] != before[name]}
    check(not failures, f"{len(failures)} of {len(cases)} cases failed: " + "; ".join(failures[:8]))
    check(not changed, f"rows written by bad input: {changed}")
    check(order.status == order_status, f"{order.number} went from {order_status} to {order.status}")

    controls = _controls(flow, shop, bss, apis["bss"], execute, accept_path, form, api_form, shop_account, order)
    return f"{flow} flow: " + _summary(results, controls)


def _marks_field(response: requests.Response, field: str) -> bool:
    """Whether the answer says `field` is wrong: the problem's `errors` name it, or the page's input for it is
    marked invalid (Django renders `aria-invalid="true"` on a field with errors)."""
    if "json" in response.headers.get("Content-Type", ""):
        return field in (response.json().get("errors") or {})
    inputs = re.findall(rf'<(?:input|select|textarea)[^>]*name="{field}"[^>]*>', response.text)
    return any('aria-invalid="true"' in tag for tag in inputs)


def _run(case: Case, log) -> tuple[int | None, str]:
    """Send one case: its status, and the empty string when the answer is right, else why not."""
    try:
        response = case.send()
    except requests.RequestException as error:
        return None, f"no answer ({type(error).__name__})"
    status = response.status_code
    log.write(f"{case.category}\t{case.channel}\t{case.label!r}\t{status}\t{_reason(response)[:200]!r}\n")
    if status >= 500:
        return status, f"HTTP {status}"
    if not 400 <= status < 500:
        return status, f"HTTP {status}: accepted"
    if case.expect and status not in case.expect:
        return status, f"HTTP {status}, expected {'/'.join(map(str, case.expect))}"
    if not _reason(response):
        return status, f"HTTP {status} without a reason"
    if case.field and not _marks_field(response, case.field):
        return status, f"HTTP {status} does not mark {case.field} as wrong: {_reason(response)[:80]!r}"
    leaked = [secret for secret in case.secrets if secret and secret in response.text]
    if leaked:
        return status, f"HTTP {status} names another tenant's {leaked[0]!r}"
    reflected = [payload for payload in MARKUP if payload in response.text]
    if reflected:
        return status, f"HTTP {status} reflects {reflected[0]!r} unescaped ({response.headers.get('Content-Type')})"
    return status, ""


def _controls(flow, shop, bss, api, execute, accept_path, form, api_form, shop_account, order) -> str:
    """One valid submission per channel, same sessions and tokens: each is accepted and writes its record (the
    enhanced flow: its "form submitted" record and the pending attestation)."""
    from mca.models import AcceptanceRecord, Attestation

    enhanced = flow == "enhanced"
    # The enhanced flow records each step: the form's own record is "form submitted" (the link's comes later).
    submitted = AcceptanceRecord.objects.filter(event="form_submitted") if enhanced else AcceptanceRecord.objects
    records, attestations = submitted.count(), Attestation.objects.count()
    first_field = "signatory_first_name" if enhanced else "first_name"
    data = {**form, first_field: "Zoe\u0308", "action": "accept", "idempotency_key": _key()}  # NFD: stored NFC
    answer = shop.post(DETAILS, data)
    next_step = "service-details" if enhanced else "review"
    check(
        answer.status_code == 302 and next_step in answer.headers.get("Location", ""),
        f"storefront control: HTTP {answer.status_code} to {answer.headers.get('Location')}",
    )
    record = AcceptanceRecord.objects.filter(account=shop_account).order_by("-sequence").first()
    check(record is not None and record.first_name == "Zo\u00eb", "the decomposed name was not stored composed (NFC)")
    answer = bss.post(execute, {**form, "confirm": "1", "idempotency_key": _key()})
    order.refresh_from_db()
    expected_status = ("awaiting_acceptance",) if enhanced else ("executed", "provisioning", "provisioned")
    check(
        answer.status_code == 302 and order.status in expected_status,
        f"BSS control: HTTP {answer.status_code}, {order.number} {order.status}",
    )
    answer = api.post(accept_path, api_form)
    check(
        answer.status_code == (202 if enhanced else 201), f"API control: HTTP {answer.status_code} {answer.text[:200]}"
    )
    written = submitted.count() - records
    check(written == 3, f"the three valid submissions wrote {written} records")
    if enhanced:
        started = Attestation.objects.count() - attestations
        check(started == 3, f"the three valid submissions started {started} attestations")
    return (
        f"then valid input accepted on each channel (storefront 302, 'Zoë' sent decomposed, stored NFC; "
        f"BSS 302, {order.number} {order.status}; API {answer.status_code})"
    )


def _summary(results: list[tuple[Case, int | None, str]], controls: str) -> str:
    cases = [case for case, _, _ in results]
    per_category = Counter(case.category for case in cases)
    statuses = Counter(status for _, status, _ in results)
    channels = Counter(case.channel for case in cases)
    parts = ", ".join(f"{name} {per_category[name]}" for name in CATEGORIES)
    status_text = ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))
    channel_text = ", ".join(f"{channels[name]} {name}" for name in ALL)
    return (
        f"{len(cases)} bad inputs ({parts}; {channel_text}): all 4xx ({status_text}), each with a reason, "
        f"0 rows written, 0 leaks, 0 markup reflected; {controls}"
    )


__all__ = ["DrillFailed", "bad_input"]
