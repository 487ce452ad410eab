"""Drill 8, `provisioning`: Partner Center failing midway through provisioning (SPEC flow 5).

New customers (not synced yet) order a Microsoft product over the REST API with the acceptance inline, and the BSS
user executes the orders; the Celery worker provisions them: create the Partner Center customer, deliver the
acceptance, place the Partner Center order. Three ways Partner Center fails midway:

- outage: the customer's creation and the acceptance go through, then every order call fails (503) for a while;
  after recovery each order must end provisioned with exactly one Partner Center order;
- lost answer: the order call is answered after the client's read timeout (Partner Center took the order, the
  answer never arrived); the retry carries the same MS-RequestId: exactly one order;
- refusal: Partner Center refuses the order for lack of MCA acceptance (13605) although the gate knew it as
  accepted: the order is held "awaiting acceptance" with the reason, and nothing was ordered.

Outcomes are read from the database and the simulator's own state (customers, agreements, orders) and call counts.
"""

from __future__ import annotations

import time
import uuid

from drills.cases import check
from drills.http import Api, Simulator, legacy_body, letters
from drills.stack import Stack, wait_until

ORDERS_PATH = "v1/customers/*/orders"  # every customer's orders, not the customer's creation
SKU = "MS-M365-BS"


def _new_customers(count: int, tag: str) -> list:
    """CSP-direct accounts that are not Partner Center customers yet, each with its primary contact."""
    from bss.models import Account, Contact

    accounts = []
    for n in range(count):
        account = Account.objects.create(name=f"Drill {tag} {letters(n)}", country="US", language="en-US")
        Contact.objects.create(
            account=account,
            first_name="Pat",
            last_name=f"Provision{letters(n)}",
            email=f"pat.{tag}.{n}@drill.example",
            is_primary=True,
        )
        accounts.append(account)
    return accounts


def _order_and_execute(api: Api, accounts: list, tag: str, *, inline: bool = True) -> list[int]:
    """One order per account (the acceptance inline), placed and executed over the API; their ids."""
    from bss.models import Product

    product = Product.objects.get(sku=SKU)
    ids = []
    for n, account in enumerate(accounts):
        body = {"account": account.pk, "lines": [{"product": product.pk, "quantity": 3}]}
        if inline:
            body["mca_acceptance"] = legacy_body(n, tag)
        placed = api.post("/orders/", body)
        check(placed.status_code == 201, f"order for {account.name}: HTTP {placed.status_code} {placed.text[:200]}")
        order_id = placed.json()["id"]
        executed = api.post(f"/orders/{order_id}/execute/", {})
        check(executed.status_code == 200, f"execute {order_id}: HTTP {executed.status_code} {executed.text[:200]}")
        ids.append(order_id)
    return ids


def _statuses(order_ids: list[int]) -> dict[str, int]:
    from collections import Counter

    from bss.models import Order

    return dict(Counter(Order.objects.filter(pk__in=order_ids).values_list("status", flat=True)))


def _all_in(order_ids: list[int], status: str):
    from bss.models import Order

    return lambda: Order.objects.filter(pk__in=order_ids, status=status).count() == len(order_ids)


def _failed_runs(order_ids: list[int]) -> dict[int, int]:
    """Per order, how many provisioning runs failed at the Partner Center order step and wait for a retry."""
    from django.db.models import Count

    from bss.choices import ProvisioningOutcome, ProvisioningStepName
    from bss.models import ProvisioningEvent

    waiting = ProvisioningEvent.objects.filter(
        order_id__in=order_ids, step=ProvisioningStepName.ORDER, outcome=ProvisioningOutcome.WAITING
    )
    counted = dict(waiting.values("order_id").annotate(n=Count("pk")).values_list("order_id", "n"))
    return {order_id: counted.get(order_id, 0) for order_id in order_ids}


def _each_failed(order_ids: list[int], times: int):
    return lambda: min(_failed_runs(order_ids).values()) >= times


def _one_order_each(order_ids: list[int]) -> tuple[int, int]:
    """Check each order against the simulator: one customer, its agreement, exactly one order whose id and
    subscription are stored here. Returns (customers, orders) found at Partner Center."""
    from bss.models import Order, Subscription
    from bss.services.provisioning import customer_profile
    from partner_center.simulator.models import SimAgreement, SimCustomer, SimOrder, SimSubscription

    customers = orders = 0
    for order in Order.objects.filter(pk__in=order_ids).select_related("account"):
        account = order.account
        check(account.partner_center_tenant_id is not None, f"{account.name} has no tenant after provisioning")
        prefix = customer_profile(account).domain
        found = SimCustomer.objects.filter(domain__in=[prefix, f"{prefix}.onmicrosoft.com"]).count()
        check(found == 1, f"{found} Partner Center customers for {account.name}")
        tenant = account.partner_center_tenant_id
        check(SimAgreement.objects.filter(customer__tenant_id=tenant).count() == 1, f"{account.name}: not 1 agreement")
        sim_orders = list(SimOrder.objects.filter(customer__tenant_id=tenant))
        check(len(sim_orders) == 1, f"{len(sim_orders)} Partner Center orders for {order.number}")
        check(order.pc_order_id == str(sim_orders[0].order_id), f"{order.number} stores another Partner Center order")
        subscription = Subscription.objects.get(account=account)
        at_microsoft = SimSubscription.objects.get(order=sim_orders[0])
        check(
            subscription.partner_center_subscription_id == str(at_microsoft.subscription_id),
            f"{order.number}: the subscription id stored is not Partner Center's",
        )
        customers += found
        orders += len(sim_orders)
    return customers, orders


def provisioning_fails_midway(stack: Stack, outage_count: int = 5, lost_count: int = 2) -> str:
    sim = Simulator(stack.simulator_url)
    api = Api(stack.base_url, "bss")
    outage = _outage(stack, sim, api, outage_count)
    lost = _lost_answer(sim, api, lost_count)
    held = _refused(sim, api)
    return f"{outage}; {lost}; {held}"


def _outage(stack: Stack, sim: Simulator, api: Api, count: int) -> str:
    from bss.models import Order
    from mca.models import AcceptanceDelivery

    accounts = _new_customers(count, "prov")
    sim.reset_calls()
    sim.set_fault(mode="down", paths=ORDERS_PATH)
    started = time.monotonic()
    ids = _order_and_execute(api, accounts, "prov")
    failed = wait_until(_each_failed(ids, 1), timeout=120, interval=0.5)
    check(failed, f"orders did not fail at the order step while it was down: {_statuses(ids)}")
    failed_seconds = time.monotonic() - started
    # Midway: the customers exist and the acceptances reached Partner Center; no order did.
    synced = Order.objects.filter(pk__in=ids, account__partner_center_tenant_id__isnull=False).count()
    check(synced == count, f"{synced} of {count} customers created before the order step")
    delivered = AcceptanceDelivery.objects.filter(account__in=accounts, state="sent").count()
    check(delivered == count, f"{delivered} of {count} acceptances delivered before the order step")
    # Visibly failing: the error shown on the order, and its next try scheduled (or that retry running already: the
    # first orders executed fail, and are retried, before the last ones fail).
    rows = list(Order.objects.filter(pk__in=ids).values_list("status", "last_error", "next_attempt_at"))
    visible = [row for row in rows if row[1] and ((row[0] == "failed" and row[2]) or row[0] == "provisioning")]
    check(len(visible) == count, f"failing orders without their error and next try: {rows}")
    # Down for a while: every order fails a second time (its first retry comes after a 30-s backoff).
    again = wait_until(_each_failed(ids, 2), timeout=150, interval=1)
    check(again, f"orders not retried while Partner Center was down: failed runs {_failed_runs(ids)}")
    down_calls = sim.calls().get("orders", 0)
    attempts = sum(_failed_runs(ids).values())
    sim.clear_faults()
    recovered = time.monotonic()
    done = wait_until(_all_in(ids, "provisioned"), timeout=240, interval=1)
    recovery_seconds = time.monotonic() - recovered
    check(done, f"not all provisioned {recovery_seconds:.0f} s after recovery: {_statuses(ids)}")
    time.sleep(4)  # two more beat sweeps: nothing is ordered again
    customers, orders = _one_order_each(ids)  # this drill's customers: one each, one order each
    calls = sim.calls()
    return (
        f"outage: {count} new customers' orders executed, customer created and acceptance delivered, then the order "
        f"call down (503): all failed visibly (error, next try) within {failed_seconds:.0f} s, {attempts} failed "
        f"runs and {down_calls} refused order calls while down; all provisioned {recovery_seconds:.0f} s after "
        f"recovery, {customers} customers, {orders} Partner Center orders (1 each), "
        f"{calls.get('orders', 0) - down_calls} order calls after"
    )


def _lost_answer(sim: Simulator, api: Api, count: int) -> str:
    from bss.models import Order
    from partner_center.simulator.models import SimIdempotencyRecord

    accounts = _new_customers(count, "lost")
    sim.reset_calls()
    # Partner Center answers each first order call after 12 s: past the client's 10-s read timeout, it gives up
    # and retries with the same MS-RequestId while Partner Center is still taking the first one.
    sim.set_fault(mode="slow", latency_ms=12_000, count=count, paths=ORDERS_PATH)
    started = time.monotonic()
    ids = _order_and_execute(api, accounts, "lost")
    done = wait_until(_all_in(ids, "provisioned"), timeout=180, interval=1)
    seconds = time.monotonic() - started
    sim.clear_faults()
    check(done, f"not all provisioned after a lost answer: {_statuses(ids)}")
    time.sleep(4)
    _, orders = _one_order_each(ids)
    calls = sim.calls().get("orders", 0)
    request_ids = [str(r) for r in Order.objects.filter(pk__in=ids).values_list("pc_order_request_id", flat=True)]
    replies = SimIdempotencyRecord.objects.filter(request_id__in=request_ids, method="POST").count()
    check(replies == count, f"{replies} stored Partner Center answers for {count} order request ids")
    return (
        f"lost answer: {count} order calls answered after 12 s (read timeout 10 s): {calls} order calls, "
        f"{orders} Partner Center orders (1 each, the retries carried the same MS-RequestId), provisioned in "
        f"{seconds:.0f} s"
    )


def _refused(sim: Simulator, api: Api) -> str:
    """Known here as accepted directly in the Microsoft 365 admin center, refused by Partner Center (13605)."""
    from bss.models import Account, Order
    from mca import gate
    from partner_center.simulator.models import SimOrder

    tenant = uuid.uuid4()
    sim.add_customer(tenant, "Drill refused")
    sim.set_direct_signed(tenant, True)
    account = Account.objects.create(name="Drill refused", country="US", partner_center_tenant_id=tenant)
    check(not gate.check_now(account).needed, "the gate does not know the direct acceptance")
    sim.set_direct_signed(tenant, False)  # withdrawn at Microsoft: it refuses the order, the gate still knows
    (order_id,) = _order_and_execute(api, [account], "refused", inline=False)
    held = wait_until(_all_in([order_id], "awaiting_acceptance"), timeout=90, interval=0.5)
    order = Order.objects.get(pk=order_id)
    check(held, f"{order.number} is {order.status}, not held awaiting acceptance ({order.last_error})")
    check(bool(order.last_error), f"{order.number} is held without a reason")
    events = order.provisioning_events.filter(outcome="held").count()
    check(events == 1, f"{order.number}: {events} 'held' events in its history")
    check(not SimOrder.objects.filter(customer__tenant_id=tenant).exists(), "an order reached Partner Center")
    return f"refused (13605): {order.number} held awaiting acceptance, reason {order.last_error[:70]!r}…, 0 orders"
