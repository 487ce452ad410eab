"""The drills. Each returns its figures (one line) or raises `DrillFailed` with why; the runner prints
`PASS name: figures` / `FAIL name: why`. State is read with the Django ORM from this process (same database).

Each drill judges only its own records, customers and MS-RequestIds (an earlier drill that failed may leave
deliveries retrying), by what users need: no record lost, no second agreement at Microsoft, nothing sent early
after a 429. Partner Center's call counters are shared by everything the stack does: they are figures, and a pass
condition only where the runner saw no earlier delivery unsettled when the drill began (`backlog_before`)."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db.models import Count
from django.utils import timezone

from drills.http import Api, Simulator, enhanced_body, legacy_body
from drills.load import CheckoutLoad
from drills.stack import SIMULATOR_APPLICATION, Stack, wait_until

CONFIRM_PATH = "v1/customers"  # the simulator path prefix of confirm_acceptance (and the customer's agreements)
backlog_before = 0  # set by the runner: earlier drills' deliveries still unsettled when this drill began


class DrillFailed(Exception):
    pass


def check(condition: bool, why: str) -> None:
    if not condition:
        raise DrillFailed(why)


def _accounts(stack: Stack, sim: Simulator, count: int, tag: str) -> list:
    """`count` CSP-direct customers synced to fresh simulator tenants."""
    from bss.models import Account

    accounts = []
    for n in range(count):
        tenant = uuid.uuid4()
        sim.add_customer(tenant, f"Drill {tag} {n}")
        accounts.append(Account.objects.create(name=f"Drill {tag} {n}", partner_center_tenant_id=tenant))
    return accounts


def _deliveries(record_ids: list[int]):
    from mca.models import AcceptanceDelivery

    return AcceptanceDelivery.objects.filter(record_id__in=record_ids)


def _states(record_ids: list[int]) -> dict[str, int]:
    from django.db.models import Count

    rows = _deliveries(record_ids).values("state").annotate(n=Count("pk"))
    return {row["state"]: row["n"] for row in rows}


def _all_sent(record_ids: list[int]) -> Callable[[], bool]:
    def sent() -> bool:
        return _deliveries(record_ids).filter(state="sent").count() == len(record_ids)

    return sent


def _confirm_many(api: Api, jobs: list[tuple[int, dict]], threads: int) -> list:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda job: api.confirm(*job), jobs))


def _record_ids(responses) -> list[int]:
    ids = []
    for response in responses:
        if response.status_code == 201:
            ids.append(int(response.json()["record"]["id"]))
    return ids


def _agreements_at_simulator(accounts) -> int:
    from partner_center.simulator.models import SimAgreement

    tenants = [account.partner_center_tenant_id for account in accounts]
    return SimAgreement.objects.filter(customer__tenant_id__in=tenants).count()


def _no_record_lost_nor_doubled(accounts, record_ids: list[int]) -> int:
    """What the customers need: every record delivered, and each customer with exactly as many agreements at
    Microsoft as records here (one each: no second agreement). Returns the distinct MS-RequestIds that reached
    Partner Center for these records (each delivery's own, however often it was retried)."""
    from mca.models import AcceptanceDelivery, AcceptanceRecord

    rows = list(AcceptanceDelivery.objects.filter(record_id__in=record_ids))
    unsent = [row.pk for row in rows if row.state != "sent"]
    check(len(rows) == len(record_ids) and not unsent, f"records not delivered: {_states(record_ids)}")
    records = dict(
        AcceptanceRecord.objects.filter(pk__in=record_ids)
        .values("account__partner_center_tenant_id")
        .annotate(n=Count("pk"))
        .values_list("account__partner_center_tenant_id", "n")
    )
    per_tenant = _agreements_per_tenant(accounts)
    wrong = {
        tenant: (per_tenant.get(str(tenant), 0), expected)
        for tenant, expected in records.items()
        if per_tenant.get(str(tenant), 0) != expected
    }
    some = list(wrong.values())[:5]
    check(not wrong, f"agreements at Microsoft (found, expected) differ for {len(wrong)} customer(s): {some}")
    reached = _request_ids_at_simulator({str(row.request_id) for row in rows})
    check(reached == len(record_ids), f"{reached} distinct MS-RequestIds reached Partner Center for {len(record_ids)}")
    return reached


# --- 1 ------------------------------------------------------------------------------------------------------
def _customer_users(accounts) -> list:
    """One signed-in customer user per account (password never needed: the browser gets a session)."""
    from django.contrib.auth import get_user_model

    from bss.choices import Role
    from bss.roles import grant_role

    users = []
    for account in accounts:
        user = get_user_model().objects.create(username=f"drill-{account.pk}", first_name="Drill", last_name="Buyer")
        grant_role(user, Role.CUSTOMER, account=account)
        users.append(user)
    return users


def _storefront_checkout(stack: Stack, user, product_id: int, form: dict) -> tuple[str, dict[str, float]]:
    """One customer's checkout in the storefront: catalog, cart, Service Details (the MCA form, shown because
    Partner Center cannot be asked), review, place order. Returns the order number (or why not) and the seconds
    each step took."""
    from drills.web import Browser

    shop = Browser.signed_in_as(stack.base_url, user)
    details = {**form, "action": "accept", "idempotency_key": str(uuid.uuid4())}
    steps = (
        ("catalog", lambda: shop.get("/store/"), 200),
        ("cart", lambda: shop.post("/store/", {"product": product_id, "quantity": 2}), 302),
        ("account", lambda: shop.get("/store/checkout/"), 302),
        ("service details", lambda: shop.get("/store/checkout/service-details/"), 200),
        ("accept", lambda: shop.post("/store/checkout/service-details/", details), 302),
        ("review", lambda: shop.get("/store/checkout/review/"), 200),
        ("place order", lambda: shop.post("/store/checkout/place-order/", {"idempotency_key": str(uuid.uuid4())}), 302),
    )
    seconds: dict[str, float] = {}
    for name, send, expected in steps:
        started = time.monotonic()
        response = send()
        seconds[name] = time.monotonic() - started
        if response.status_code != expected:
            return f"{name}: HTTP {response.status_code}", seconds
        if name == "service details" and 'name="first_name"' not in response.text:
            return "no acceptance form at Service Details", seconds
    location = response.headers.get("Location", "")
    if "/orders/" not in location:
        return f"place order went to {location}", seconds
    return location.rstrip("/").rsplit("/", 1)[-1], seconds


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


def partner_center_down(stack: Stack, count: int = 100, threads: int = 8) -> str:
    """Partner Center down while `count` customers check out in the storefront, accepting the MCA at Service
    Details: every checkout records its acceptance and places its order; after recovery each acceptance is
    delivered exactly once, when its backoff says (the sweep sends it at its next try)."""
    from bss.models import Product

    sim = Simulator(stack.simulator_url)
    product = Product.objects.get(sku="MS-M365-BS").pk

    def checkout(job: tuple[int, object]) -> tuple[str, dict[str, float]]:
        n, user = job
        return _storefront_checkout(stack, user, product, legacy_body(n, "down", form=True))

    # Other customers keep checking out beside the drill (drills.load) from the yardstick to recovery.
    with CheckoutLoad(stack) as load:
        return _down_beside(stack, sim, load, checkout, count, threads)


def _down_beside(stack: Stack, sim: Simulator, load: CheckoutLoad, checkout, count: int, threads: int) -> str:
    from django.db.models import Max

    from bss.models import Order
    from mca.models import AcceptanceRecord

    # The yardstick: the same checkouts, as many at a time, with Partner Center answering ("not accepted").
    normal_users = _customer_users(_accounts(stack, sim, threads * 3, "normal"))
    normal_started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        normal = list(pool.map(checkout, enumerate(normal_users, start=count)))
    failed_normal = [number for number, _ in normal if not number.startswith("SO-")]
    check(not failed_normal, f"checkouts failed with Partner Center up: {sorted(set(failed_normal))[:5]}")
    normal_median = _median([sum(steps.values()) for _, steps in normal])

    accounts = _accounts(stack, sim, count, "down")
    users = _customer_users(accounts)
    sim.set_fault(mode="down", paths="v1")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = list(pool.map(checkout, enumerate(users)))
    checkout_seconds = time.monotonic() - started
    phases = {"with Partner Center up": (normal_started, started), "down": (started, time.monotonic())}
    numbers = [number for number, _ in outcomes]
    failed = [number for number in numbers if not number.startswith("SO-")]
    check(not failed, f"{len(failed)} of {count} checkouts failed with Partner Center down: {sorted(set(failed))[:5]}")
    orders = Order.objects.filter(number__in=numbers, status="placed").count()
    check(orders == count, f"{orders} orders placed for {count} checkouts")
    ids = list(AcceptanceRecord.objects.filter(account__in=accounts).values_list("pk", flat=True))
    check(len(ids) == count, f"{len(ids)} records for {count} checkouts")
    # Every delivery tried and refused while down (some may be in a retry at any moment: "failing" or "sending").
    tried = wait_until(lambda: not _deliveries(ids).filter(attempts=0).exists(), timeout=120)
    sent_while_down = _deliveries(ids).filter(state="sent").count()
    check(tried and not sent_while_down, f"deliveries not all tried and refused while down: {_states(ids)}")
    sim.clear_faults()
    sim.reset_calls()
    cleared = time.monotonic()
    # Each failed delivery waits for its next try (backoff 30 s, 1 min, 2 min, ... after each failure): the last one
    # due decides when all are sent; the 2-s sweep then sends it.
    last_due = _deliveries(ids).aggregate(last=Max("next_attempt_at"))["last"]
    due_in = max(0.0, (last_due - timezone.now()).total_seconds()) if last_due else 0.0
    drained = wait_until(_all_sent(ids), timeout=due_in + 60, interval=0.5)
    drain_seconds = time.monotonic() - cleared
    check(drained, f"not drained {drain_seconds:.0f} s after recovery (last due in {due_in:.0f} s): {_states(ids)}")
    time.sleep(5)  # two more sweeps: nothing may be sent again
    calls = sim.confirm_calls()
    reached = _no_record_lost_nor_doubled(accounts, ids)
    at_microsoft = _agreements_at_simulator(accounts)
    per_step = {name: _median([steps.get(name, 0.0) for _, steps in outcomes]) for name in outcomes[0][1]}
    slowest = sorted(sum(steps.values()) for _, steps in outcomes)
    step_text = ", ".join(f"{name} {seconds:.1f}" for name, seconds in per_step.items())
    down_median = _median(slowest)
    failed_beside = load.failed()
    check(not failed_beside, f"{len(failed_beside)} checkouts beside failed: {sorted(set(failed_beside))[:5]}")
    return (
        f"{count} storefront checkouts, {threads} at a time, with Partner Center down: all placed in "
        f"{checkout_seconds:.0f} s (a checkout {down_median:.2f} s median, {down_median / normal_median:.2f}x the "
        f"{normal_median:.2f} s of {len(normal)} with it up; {slowest[-1]:.1f} s max; median s "
        f"per step: {step_text}), {count} records; drained {drain_seconds:.0f} s after recovery (the last retry "
        f"was due {due_in:.0f} s after it); 0 lost, {at_microsoft} agreements (1 each), {reached} MS-RequestIds; "
        f"{calls} confirm calls after recovery; {load.text(phases)}"
    )


# --- 2 ------------------------------------------------------------------------------------------------------
def throttled(stack: Stack, count: int = 10, retry_after: int = 40) -> str:
    # Other customers keep checking out beside the drill (drills.load); they never need Partner Center.
    with CheckoutLoad(stack) as load:
        figures = _throttled_beside(stack, count, retry_after)
    failed_beside = load.failed()
    check(not failed_beside, f"{len(failed_beside)} checkouts beside failed: {sorted(set(failed_beside))[:5]}")
    return f"{figures}; {load.text()}"


def _throttled_beside(stack: Stack, count: int, retry_after: int) -> str:
    from mca.models import AcceptanceDelivery

    sim = Simulator(stack.simulator_url)
    api = Api(stack.base_url, "bss")
    accounts = _accounts(stack, sim, count, "throttle")
    sim.set_fault(mode="throttle", retry_after=retry_after, paths=CONFIRM_PATH)
    sim.reset_calls()
    responses = _confirm_many(api, [(a.pk, legacy_body(n, "throttle")) for n, a in enumerate(accounts)], threads=4)
    ids = _record_ids(responses)
    check(len(ids) == count, f"{len(ids)} records for {count} confirmations")
    throttled_all = wait_until(lambda: _deliveries(ids).filter(state="failing").count() == count, timeout=60)
    check(throttled_all, f"deliveries not all throttled: {_states(ids)}")
    first = {d.pk: (d.updated_at, d.attempts) for d in _deliveries(ids)}
    during = sim.confirm_calls()
    time.sleep(10)  # the throttle still on: no delivery may try again before Retry-After
    early = sim.confirm_calls() - during
    # Every call the client makes (its own retries inside an attempt too) is counted here; with no earlier
    # delivery unsettled, every one of them is this drill's.
    if not backlog_before:
        check(early == 0, f"{early} confirm calls within 10 s of a 429 asking for {retry_after} s")
    sim.clear_faults()
    sim.reset_calls()
    done = wait_until(_all_sent(ids), timeout=retry_after * 1.2 + 60, interval=0.5)
    check(done, f"not all delivered after the throttle: {_states(ids)}")
    rows = list(AcceptanceDelivery.objects.filter(pk__in=first))
    # Retry-After pauses every delivery from every worker (partner_center.health): none may be sent before it has
    # passed since the first 429, including those that were held back without a call.
    first_429 = min(at for at, _ in first.values())
    gaps = [(d.sent_at - first_429).total_seconds() for d in rows]
    early_retry = min(gaps) < retry_after - 0.5
    check(not early_retry, f"a delivery retried {min(gaps):.1f} s after the 429 (Retry-After {retry_after})")
    time.sleep(3)  # a sweep more: nothing is sent again
    reached = _no_record_lost_nor_doubled(accounts, ids)
    calls = sim.confirm_calls()
    shared = "" if not backlog_before else f" (shared with {backlog_before} earlier deliveries)"
    return (
        f"{count} deliveries got 429 Retry-After {retry_after}; first calls {during}, 0 tries in the next 10 s "
        f"({early} calls{shared}); retried {min(gaps):.1f}-{max(gaps):.1f} s after the first 429; "
        f"0 lost, 1 agreement each, {reached} MS-RequestIds; {calls} confirm calls after{shared}"
    )


# --- 3 ------------------------------------------------------------------------------------------------------
def worker_killed(stack: Stack, count: int = 12, latency_ms: int = 4000) -> str:
    from mca.delivery import sending_lease

    sim = Simulator(stack.simulator_url)
    api = Api(stack.base_url, "bss")
    accounts = _accounts(stack, sim, count, "kill")
    sim.set_fault(mode="slow", latency_ms=latency_ms, paths=CONFIRM_PATH)
    sim.reset_calls()
    responses = _confirm_many(api, [(a.pk, legacy_body(n, "kill")) for n, a in enumerate(accounts)], threads=4)
    ids = _record_ids(responses)
    check(len(ids) == count, f"{len(ids)} records for {count} confirmations")
    in_flight = wait_until(lambda: _deliveries(ids).filter(state="sending").count() >= 2, timeout=60, interval=0.1)
    check(in_flight, f"no deliveries in flight: {_states(ids)}")
    sending = list(_deliveries(ids).filter(state="sending").values_list("pk", flat=True))
    stack.kill("worker", signal.SIGKILL)
    killed_at = time.monotonic()
    sent_before_kill = _deliveries(ids).filter(state="sent").count()
    sim.clear_faults()
    stack.start_worker()
    lease = sending_lease().total_seconds()
    done = wait_until(_all_sent(ids), timeout=lease + 120, interval=1)
    total = time.monotonic() - killed_at
    check(done, f"not all delivered {total:.0f} s after the kill: {_states(ids)}")
    from mca.models import AcceptanceDelivery

    time.sleep(5)
    calls = sim.confirm_calls()
    rows = list(AcceptanceDelivery.objects.filter(record_id__in=ids))
    attempts = sum(row.attempts for row in rows)
    request_ids = {str(row.request_id) for row in rows}
    reached = _request_ids_at_simulator(request_ids)
    per_tenant = _agreements_per_tenant(accounts)
    # A call our client gave up on (ReadTimeout) may still reach Microsoft; its retry carries the same
    # MS-RequestId and is answered from Microsoft's idempotency store: a repeated call, not a second acceptance.
    check(set(per_tenant.values()) == {1}, f"agreements per customer at Partner Center: {sorted(per_tenant.values())}")
    check(len(per_tenant) == count, f"{len(per_tenant)} customers with an agreement for {count} records")
    check(reached == count, f"{reached} distinct MS-RequestIds reached Partner Center for {count} deliveries")
    kill_wall = time.time() - (time.monotonic() - killed_at)
    waits = [row.sent_at.timestamp() - kill_wall for row in rows if row.pk in sending]
    return (
        f"SIGKILL with {len(sending)} in flight ({sent_before_kill} sent before); 0 lost, 1 agreement per customer, "
        f"{reached} MS-RequestIds for {count} records, {calls} confirm calls for {attempts} attempts (repeats carry "
        f"the same MS-RequestId); in-flight ones sent {min(waits):.0f}-{max(waits):.0f} s after the kill "
        f"(the {lease:.0f}-s sending lease from their claim, then the 2-s sweep); "
        f"all sent {total:.0f} s after the kill"
    )


def _request_ids_at_simulator(request_ids: set[str]) -> int:
    from partner_center.simulator.models import SimIdempotencyRecord

    posts = SimIdempotencyRecord.objects.filter(method="POST", request_id__in=request_ids)
    return posts.values("request_id").distinct().count()


def _agreements_per_tenant(accounts) -> dict[str, int]:
    from django.db.models import Count

    from partner_center.simulator.models import SimAgreement

    tenants = [account.partner_center_tenant_id for account in accounts]
    rows = SimAgreement.objects.filter(customer__tenant_id__in=tenants).values("customer__tenant_id")
    return {str(row["customer__tenant_id"]): row["n"] for row in rows.annotate(n=Count("pk"))}


# --- 4 ------------------------------------------------------------------------------------------------------
def concurrent_one_customer(stack: Stack, count: int = 50) -> str:
    from mca.models import AcceptanceRecord
    from mca.verify import verify_chain

    sim = Simulator(stack.simulator_url)
    api = Api(stack.base_url, "bss")
    (account,) = _accounts(stack, sim, 1, "burst")
    sim.reset_calls()
    barrier = threading.Barrier(count, timeout=30)

    def one(n: int):
        barrier.wait()
        return api.confirm(account.pk, legacy_body(n, "burst"))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=count) as pool:
        responses = list(pool.map(one, range(count)))
    seconds = time.monotonic() - started
    ok = _record_ids(responses)
    statuses = sorted({r.status_code for r in responses})
    records = AcceptanceRecord.objects.filter(account=account).count()
    check(records == len(ok), f"{records} records for {len(ok)} successful requests (statuses {statuses})")
    check(len(ok) == count, f"only {len(ok)} of {count} concurrent confirmations succeeded (statuses {statuses})")
    delivered = wait_until(_all_sent(ok), timeout=120, interval=0.5)
    check(delivered, f"deliveries not all sent: {_states(ok)}")
    check(_deliveries(ok).count() == len(ok), "not one delivery per record")
    key = str(uuid.uuid4())
    body = legacy_body(999, "burst")
    with ThreadPoolExecutor(max_workers=2) as pool:
        twice = list(pool.map(lambda _: api.confirm(account.pk, body, idempotency_key=key), range(2)))
    after = AcceptanceRecord.objects.filter(account=account).count()
    check(after == records + 1, f"a double submit with one Idempotency-Key wrote {after - records} records")
    twice_ids = {r.json().get("record", {}).get("id") for r in twice if r.status_code in (200, 201)}
    twice_statuses = [r.status_code for r in twice]
    all_ids = list(AcceptanceRecord.objects.filter(account=account).values_list("pk", flat=True))
    check(wait_until(_all_sent(all_ids), timeout=120, interval=0.5), f"not all sent: {_states(all_ids)}")
    time.sleep(5)
    calls = sim.confirm_calls()
    reached = _no_record_lost_nor_doubled([account], all_ids)
    result = verify_chain()
    check(result.ok, f"chain does not verify: {result.first_break}")
    return (
        f"{count} concurrent confirmations in {seconds:.1f} s: {len(ok)} x 201, {records} records, chain valid, "
        f"0 lost, {len(all_ids)} agreements for {len(all_ids)} records, {reached} MS-RequestIds, {calls} confirm "
        f"calls; double submit with one key: statuses {twice_statuses}, {len(twice_ids)} record id, 1 record"
    )


# --- 6 ------------------------------------------------------------------------------------------------------
def log_is_append_only(stack: Stack) -> str:
    import psycopg

    refused = []
    with psycopg.connect(stack.database_url, autocommit=True, connect_timeout=5) as connection:
        count = connection.execute("SELECT count(*) FROM mca_acceptancerecord").fetchone()[0]
        check(count > 0, "no records to tamper with")
        for statement in (
            "UPDATE mca_acceptancerecord SET email = 'tampered@example.com'",
            "DELETE FROM mca_acceptancerecord",
            "TRUNCATE mca_acceptancerecord CASCADE",
        ):
            try:
                connection.execute(statement)
            except psycopg.Error as error:
                refused.append(f"{statement.split()[0]}: {str(error).splitlines()[0][:60]}")
            else:
                raise DrillFailed(f"the database accepted: {statement}")
        after = connection.execute("SELECT count(*) FROM mca_acceptancerecord").fetchone()[0]
        tampered = connection.execute(
            "SELECT count(*) FROM mca_acceptancerecord WHERE email = 'tampered@example.com'"
        ).fetchone()[0]
    check(after == count and tampered == 0, f"records changed: {count} -> {after}, {tampered} tampered")
    from drills.tamper import tampers_named

    named = tampers_named(stack)
    return f"{len(refused)} statements refused on {count} records ({'; '.join(refused)}); {named}"


# --- 9 ------------------------------------------------------------------------------------------------------
def enhanced_down(stack: Stack, count: int = 10) -> str:
    from mca.models import Attestation

    sim = Simulator(stack.simulator_url)
    api = Api(stack.base_url, "bss")
    accounts = _accounts(stack, sim, count, "enh")
    sim.set_fault(mode="down", paths="v1")
    responses = _confirm_many(api, [(a.pk, enhanced_body(n, "enh")) for n, a in enumerate(accounts)], threads=4)
    statuses = sorted({r.status_code for r in responses})
    check(statuses == [202], f"enhanced confirmations with Partner Center down answered {statuses}")
    attestations = Attestation.objects.filter(account__in=accounts)
    check(attestations.count() == count, f"{attestations.count()} attestations for {count} confirmations")
    time.sleep(4)  # two sweeps while down: still no link
    with_link = attestations.exclude(attestation_id="").count()
    check(with_link == 0, f"{with_link} links while Partner Center was down")
    from partner_center.client import get_client

    # How much of the shared circuit's open period is left at recovery: the trial waits for it (partner_center.health).
    resume_at = get_client().health.resume_at("create_enhanced_attestation")
    open_left = max(0.0, resume_at - time.time()) if resume_at else 0.0
    sim.clear_faults()
    recovered = time.monotonic()
    pending = attestations.filter(state="pending").exclude(attestation_id="")
    linked = wait_until(lambda: pending.count() == count, timeout=150, interval=0.5)
    link_seconds = time.monotonic() - recovered
    check(linked, f"links not all created after recovery: {list(attestations.values_list('state', flat=True))}")
    # Partner Center down again while the signatories accept: polls fail, nothing settles, nothing is lost.
    sim.set_fault(mode="down", paths="v1")
    for attestation_id in attestations.values_list("attestation_id", flat=True):
        sim.accept_attestation(attestation_id)
    time.sleep(5)
    early = attestations.filter(state="accepted").count()
    check(early == 0, f"{early} attestations settled while Partner Center was down")
    sim.clear_faults()
    recovered = time.monotonic()
    settled = wait_until(lambda: attestations.filter(state="accepted").count() == count, timeout=150, interval=0.5)
    settle_seconds = time.monotonic() - recovered
    check(settled, f"not settled after recovery: {list(attestations.values_list('state', flat=True))}")
    from bss.choices import Operation
    from mca import gate

    still_needed = [a.pk for a in accounts if gate.check(a, [Operation.NEW_PURCHASE]).needed]
    check(not still_needed, f"{len(still_needed)} accounts still need acceptance after settling")
    return (
        f"{count} enhanced confirmations with Partner Center down (all 202, no link); links created "
        f"{link_seconds:.1f} s after recovery (the circuit's open period had {open_left:.1f} s left); accepted "
        f"while down again: 0 settled; all {count} settled {settle_seconds:.1f} s after recovery; gate: none needs "
        "acceptance"
    )


# --- 5 ------------------------------------------------------------------------------------------------------
def connections_killed(stack: Stack, count: int = 30, kills: int = 5) -> str:
    import psycopg

    from mca.models import AcceptanceRecord
    from mca.verify import verify_chain

    sim = Simulator(stack.simulator_url)
    api = Api(stack.base_url, "bss")
    accounts = _accounts(stack, sim, count, "pgkill")
    sim.reset_calls()
    keys = [str(uuid.uuid4()) for _ in range(count)]
    jobs = [(a.pk, legacy_body(n, "pgkill"), keys[n]) for n, a in enumerate(accounts)]
    terminated = []
    stop = threading.Event()

    def killer() -> None:
        with psycopg.connect(stack.database_url, autocommit=True, connect_timeout=5) as connection:
            for _ in range(kills):
                if stop.wait(0.5):
                    return
                # Every connection of the app (web, worker, beat, this process), not the simulator's: Partner
                # Center's own database is not ours to break (the simulator shares ours only for convenience).
                rows = connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND application_name <> %s",
                    [SIMULATOR_APPLICATION],
                ).fetchall()
                terminated.append(len(rows))

    def send(job):
        try:
            return api.confirm(*job)
        except OSError as error:  # the connection to gunicorn itself may break: a failed request
            return error

    thread = threading.Thread(target=killer)
    thread.start()
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = list(pool.map(send, jobs))
    stop.set()
    thread.join(timeout=30)
    from django.db import connections

    connections.close_all()  # this process's own connection was terminated too
    failed = [n for n, r in enumerate(first) if getattr(r, "status_code", None) != 201]
    ours = AcceptanceRecord.objects.filter(account__in=accounts)
    after_first = ours.count()
    check(after_first >= count - len(failed), f"{after_first} records for {count - len(failed)} answered 201")
    # The client retries what failed with the same Idempotency-Key: exactly one record per confirmation.
    retried = [send(jobs[n]) for n in failed]
    in_use = [n for n, r in zip(failed, retried, strict=True) if getattr(r, "status_code", None) == 409]
    if in_use:
        # Keys left "in progress" by requests that died with their connection: taken over after the lease.
        from api.idempotency import in_progress_lease

        time.sleep(in_progress_lease().total_seconds() + 3)
        retried = [r for r in retried if getattr(r, "status_code", None) != 409] + [send(jobs[n]) for n in in_use]
    still = [getattr(r, "status_code", type(r).__name__) for r in retried if getattr(r, "status_code", None) != 201]
    check(not still, f"retries with the same key failed: {still}")
    check(ours.count() == count, f"{ours.count()} records for {count} confirmations after retries")
    for account in accounts:
        check(ours.filter(account=account).count() == 1, f"account {account.pk} has not exactly one record")
    ids = list(ours.values_list("pk", flat=True))
    delivered = wait_until(_all_sent(ids), timeout=150, interval=0.5)
    check(delivered, f"deliveries not all sent: {_states(ids)}")
    time.sleep(5)
    calls = sim.confirm_calls()
    reached = _no_record_lost_nor_doubled(accounts, ids)
    result = verify_chain()
    check(result.ok, f"chain does not verify: {result.first_break}")
    return (
        f"{sum(terminated)} backends terminated in {len(terminated)} rounds during {count} confirmations: "
        f"{count - len(failed)} x 201 at once, {len(failed)} failed and retried with their key "
        f"({len(in_use)} answered 409 until the in-progress lease passed); "
        f"{count} records (1 each), chain valid, 0 lost, 1 agreement each, {reached} MS-RequestIds, "
        f"{calls} confirm calls"
    )
