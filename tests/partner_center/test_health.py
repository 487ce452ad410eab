"""Partner Center's shared health (partner_center.health): a circuit breaker and Retry-After pauses that every
process sees. Against the simulator over real HTTP with its fault controls, time moved with time-machine; the
cross-process case through Redis with a second Python process."""

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from bss.choices import Operation
from mca import gate
from mca.attestation.legacy import confirm_acceptance
from mca.choices import DeliveryState, ReasonCode
from mca.delivery import sweep_due_deliveries
from mca.models import AcceptanceDelivery
from partner_center import health
from partner_center.client import get_client
from partner_center.errors import PartnerCenterNotFound, PartnerCenterThrottled, PartnerCenterUnavailable
from partner_center.health import TRIAL_OUT_RETRY_SECONDS, Health
from tests.mca.helpers import TEMPLATE_ID, context, form_data
from tests.redis_support import REDIS_TEST_URL, require_redis

ROOT = Path(__file__).resolve().parents[2]
NEW = [Operation.NEW_PURCHASE]
FAILURES_TO_OPEN = 3


@pytest.fixture
def sim(pc_simulator, demo, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 0.5
    settings.PARTNER_CENTER_BREAKER_FAILURES = FAILURES_TO_OPEN
    settings.PARTNER_CENTER_BREAKER_OPEN_SECONDS = 30
    return pc_simulator


def tenant(account) -> str:
    return str(account.partner_center_tenant_id)


def open_the_circuit(account) -> None:
    """Partner Center is down (the caller set the fault): look-ups fail until the circuit opens."""
    client = get_client()
    for _ in range(FAILURES_TO_OPEN):
        if client.health.circuit_open():
            break
        with pytest.raises(PartnerCenterUnavailable):
            client.get_customer_agreements(tenant(account), use_cache=False)
    assert client.health.circuit_open()


def later(seconds: float):
    return time_machine.travel(timezone.now() + timedelta(seconds=seconds), tick=True)


# --- the circuit ----------------------------------------------------------------------------------------------


def test_with_partner_center_down_the_gate_answers_without_calling_it_and_never_says_accepted(sim, demo):
    litware, adventure = demo["litware"], demo["adventure-works"]
    assert gate.check(litware, NEW).template_id == TEMPLATE_ID  # seen once while Partner Center answered
    cache.clear()  # a process with a cold cache: only the template stored in the database is known
    sim.set_fault(mode="down")
    open_the_circuit(litware)
    sim.reset_calls()

    # Adventure Works accepted at Partner Center, but it cannot be asked: "unknown", the form, never "accepted".
    decisions = [gate.check(account, NEW) for account in (litware, adventure, litware, adventure)]

    assert sum(sim.calls().values()) == 0  # not one HTTP call: nothing waits out a budget
    assert all(decision.needed and decision.show_form for decision in decisions)
    assert {decision.reason_code for decision in decisions} == {ReasonCode.PARTNER_CENTER_UNAVAILABLE}
    assert all("unreachable" in decision.reason for decision in decisions)
    assert {decision.template_id for decision in decisions} == {TEMPLATE_ID}  # the last known template


def test_after_its_open_time_one_trial_goes_through_and_its_answer_decides(sim, demo):
    litware = demo["litware"]
    client = get_client()
    sim.set_fault(mode="down")
    open_the_circuit(litware)
    sim.reset_calls()
    start = timezone.now()

    with pytest.raises(PartnerCenterUnavailable) as held:
        client.get_customer_agreements(tenant(litware), use_cache=False)
    assert held.value.held_back and 0 < held.value.retry_after <= 30
    assert sim.calls()["customer_agreements"] == 0

    with time_machine.travel(start + timedelta(seconds=31), tick=True):
        with pytest.raises(PartnerCenterUnavailable):
            client.get_customer_agreements(tenant(litware), use_cache=False)
        assert sim.calls()["customer_agreements"] == 1  # one trial, failed: open again, no retries after it
        assert client.health.circuit_open()
        sim.clear_faults()
        with pytest.raises(PartnerCenterUnavailable) as reopened:
            client.get_customer_agreements(tenant(litware), use_cache=False)
        assert reopened.value.held_back

    with time_machine.travel(start + timedelta(seconds=62), tick=True):
        assert client.get_customer_agreements(tenant(litware), use_cache=False) == []
        assert not client.health.circuit_open()
        assert client.get_customer_agreements(tenant(litware), use_cache=False) == []
    assert sim.calls()["customer_agreements"] == 3


def test_only_one_caller_gets_the_trial_and_a_success_closes_the_circuit(db):
    shared = Health("unit", failures_to_open=2, open_seconds=30, trial_seconds=10)
    other = Health("unit", failures_to_open=2, open_seconds=30, trial_seconds=10)  # another process, same cache
    shared.failed(shared.admit("orders"))
    assert not shared.circuit_open()
    shared.failed(other.admit("orders"))
    assert shared.circuit_open()
    with pytest.raises(PartnerCenterUnavailable):
        other.admit("orders")

    with later(31):
        trial = shared.admit("orders")
        assert trial.trial
        with pytest.raises(PartnerCenterUnavailable) as waiting:
            other.admit("customers")  # the circuit is Partner Center's, not one endpoint's
        assert waiting.value.held_back
        # Due again by the sweep that follows a closing (mca.tasks), not the trial's timeouts (10 s) later.
        assert waiting.value.retry_after == TRIAL_OUT_RETRY_SECONDS
        shared.succeeded(trial)
        assert not other.circuit_open()
        assert not other.admit("customers").unhealthy


def test_answers_a_short_budget_cut_off_do_not_open_the_circuit_full_timeouts_do(sim, demo):
    litware = demo["litware"]
    client = get_client()
    sim.set_fault(mode="slow", latency_ms=1500, paths="v1/customers")
    for _ in range(FAILURES_TO_OPEN + 1):
        # The gate's kind of budget, shorter than the read timeout: a slow answer, not a Partner Center failure.
        with pytest.raises(PartnerCenterUnavailable) as slow:
            client.get_customer_agreements(tenant(litware), use_cache=False, budget=0.2)
        assert slow.value.timed_out
    assert not client.health.circuit_open()

    open_the_circuit(litware)  # full read timeouts (0.5 s within a 1.5-s budget) do count


def test_an_answer_or_a_refusal_ends_the_failures_in_a_row(sim, demo):
    client = get_client()
    litware = tenant(demo["litware"])
    sim.set_fault(mode="error", status=503, count=FAILURES_TO_OPEN - 1)
    assert client.get_customer_agreements(litware, use_cache=False, budget=5) == []  # two 503s, then the answer
    sim.set_fault(mode="error", status=503, count=FAILURES_TO_OPEN - 1)
    with pytest.raises(PartnerCenterNotFound):  # two 503s, then a 404: Partner Center is up and answering
        client.get_customer_agreements(str(uuid.uuid4()), use_cache=False, budget=5)
    assert sim.calls()["customer_agreements"] == 2 * FAILURES_TO_OPEN
    assert not client.health.circuit_open()  # four failures, never three in a row

    sim.set_fault(mode="error", status=503)
    with pytest.raises(PartnerCenterUnavailable) as failed:
        client.get_customer_agreements(litware, use_cache=False, budget=5)
    assert failed.value.held_back  # the third failure in a row opened it: the call's next retry was not sent
    assert client.health.circuit_open()
    assert sim.calls()["customer_agreements"] == 3 * FAILURES_TO_OPEN


# --- Retry-After --------------------------------------------------------------------------------------------


def test_a_429_pauses_every_call_of_that_kind_until_retry_after(sim, demo):
    litware, adventure = demo["litware"], demo["adventure-works"]
    client = get_client()
    sim.set_fault(mode="throttle", retry_after=60, paths="v1/customers", count=1)
    with pytest.raises(PartnerCenterThrottled):
        client.get_customer_agreements(tenant(litware), use_cache=False, budget=3)
    sim.reset_calls()
    start = timezone.now()

    # Another customer's look-up, Partner Center no longer throttling: not sent before Retry-After has passed.
    with pytest.raises(PartnerCenterThrottled) as paused:
        client.get_customer_agreements(tenant(adventure), use_cache=False)
    assert paused.value.held_back and 55 < paused.value.retry_after <= 60
    decision = gate.check(adventure, NEW)  # accepted at Partner Center, which cannot be asked now: never "accepted"
    assert decision.needed and decision.reason_code == ReasonCode.PARTNER_CENTER_THROTTLED
    assert sim.calls()["customer_agreements"] == 0
    # Other kinds of call go on.
    assert client.get_direct_signed_status(tenant(litware)).is_signed is False
    assert sim.calls()["direct_signed_status"] == 1

    with time_machine.travel(start + timedelta(seconds=61), tick=True):
        assert not gate.check(adventure, NEW).needed
    assert sim.calls()["customer_agreements"] == 1


def test_throttled_deliveries_wait_together_and_drain_in_order(sim, demo, demo_user):
    accounts = [demo[key] for key in ("litware", "adventure-works", "coho", "fourth-coffee")]
    sim.set_fault(mode="throttle", retry_after=120, paths="v1/customers")
    records = [
        confirm_acceptance(actor=demo_user("bss"), account=account, data=form_data(), context=context())
        for account in accounts
    ]
    deliveries = list(AcceptanceDelivery.objects.filter(record__in=records).order_by("pk"))
    assert {delivery.state for delivery in deliveries} == {DeliveryState.FAILING}
    assert sim.calls()["confirm_acceptance"] == 1  # the first got the 429; the others were not sent at all
    moments = [delivery.next_attempt_at for delivery in deliveries]
    assert max(moments) - min(moments) < timedelta(seconds=2)  # one moment for all: when the pause ends
    assert min(moments) >= timezone.now() + timedelta(seconds=115)
    sim.clear_faults()
    start = timezone.now()

    assert sweep_due_deliveries() == 0
    with time_machine.travel(start + timedelta(seconds=121), tick=True):
        assert sweep_due_deliveries() == len(accounts)
    sent = list(AcceptanceDelivery.objects.filter(record__in=records).order_by("sent_at"))
    assert [delivery.state for delivery in sent] == [DeliveryState.SENT] * len(accounts)
    assert [delivery.pk for delivery in sent] == [delivery.pk for delivery in deliveries]  # in the order written
    assert sim.calls()["confirm_acceptance"] == 1 + len(accounts)


def test_while_the_circuit_is_open_the_sweep_sends_one_delivery_as_the_trial_then_the_rest(sim, demo, demo_user):
    accounts = [demo[key] for key in ("litware", "adventure-works", "coho")]
    sim.set_fault(mode="down", paths="v1/customers")
    records = [
        confirm_acceptance(actor=demo_user("bss"), account=account, data=form_data(), context=context())
        for account in accounts
    ]
    client = get_client()
    assert client.health.circuit_open()
    assert set(AcceptanceDelivery.objects.filter(record__in=records).values_list("state", flat=True)) == {
        DeliveryState.FAILING
    }
    sim.clear_faults()
    sim.reset_calls()
    start = timezone.now()

    with time_machine.travel(start + timedelta(seconds=40), tick=True):
        assert sweep_due_deliveries() == 1  # the oldest due, as the circuit's trial
        assert not client.health.circuit_open()
        assert sweep_due_deliveries() == len(accounts) - 1
    states = AcceptanceDelivery.objects.filter(record__in=records).values_list("state", flat=True)
    assert list(states) == [DeliveryState.SENT] * len(accounts)
    assert sim.calls()["confirm_acceptance"] == len(accounts)


def test_while_the_circuit_is_open_the_attestation_sweep_sends_only_the_trial(sim, demo, demo_user, enhanced):
    from mca.attestation.enhanced import due_attestation_ids
    from mca.models import Attestation

    accounts = [demo[key] for key in ("litware", "coho", "fourth-coffee")]
    for account in accounts:
        gate.submit_acceptance(actor=demo_user("bss"), account=account, data=signatory_form(account), context=ctx_bss())
    attestations = Attestation.objects.filter(account__in=accounts, state="pending")
    assert attestations.count() == len(accounts)
    attestations.update(next_check_at=timezone.now() - timedelta(seconds=1))  # all due for their poll
    client = get_client()
    for _ in range(FAILURES_TO_OPEN):
        client.health.failed(client.health.admit("enhanced_attestation"))
    start = timezone.now()

    assert len(due_attestation_ids()) == 1  # open: the one a sweep sends is held back at once, the rest wait
    with time_machine.travel(start + timedelta(seconds=31), tick=True):
        [trial] = due_attestation_ids()
        assert trial == attestations.order_by("next_check_at").first().pk  # the longest waiting is the trial
        client.health.succeeded(client.health.admit("enhanced_attestation"))
        assert len(due_attestation_ids()) == len(accounts)  # closed: the rest at once


def signatory_form(account) -> dict:
    return {
        "signatory_first_name": "Lena",
        "signatory_last_name": "Fischer",
        "signatory_email": f"lena.{account.pk}@example.com",
        "signatory_phone": "",
        "company_name": account.name,
        "authority_confirmed": "on",
    }


def ctx_bss() -> gate.ConfirmationContext:
    return gate.ConfirmationContext(channel="bss_execution")


# --- the open period backs off; the outbox's sweeps follow the circuit ------------------------------------------


def at(start, seconds: float):
    return time_machine.travel(start + timedelta(seconds=seconds), tick=False)


def open_left(health_: Health) -> float:
    with pytest.raises(PartnerCenterUnavailable) as held:
        health_.admit("orders")
    return held.value.retry_after


def test_the_open_period_doubles_with_each_failed_trial_up_to_the_longest_and_a_success_resets_it(db):
    breaker = Health("unit", failures_to_open=2, open_seconds=30, trial_seconds=10, first_open_seconds=5)
    start = timezone.now()
    with at(start, 0):
        breaker.failed(breaker.admit("orders"))
        out_before = breaker.admit("orders")  # a call already out when the circuit opens
        breaker.failed(breaker.admit("orders"))
        assert open_left(breaker) == pytest.approx(5)
    elapsed, lengths = 5.0, []
    for _ in range(4):  # each trial, as soon as the open period ends, fails: 10, 20, 30, then 30 (the longest)
        elapsed += 1
        with at(start, elapsed):
            breaker.failed(breaker.admit("orders"))
            lengths.append(round(open_left(breaker)))
        elapsed += lengths[-1]
    assert lengths == [10, 20, 30, 30]
    with at(start, elapsed - 29):
        breaker.failed(out_before)  # the late failure of a call sent before: counted, the period not shortened
        assert open_left(breaker) == pytest.approx(30)
    with at(start, elapsed + 100):
        breaker.succeeded(breaker.admit("orders"))  # a trial that succeeds closes it and forgets the length
        breaker.failed(breaker.admit("orders"))
        breaker.failed(breaker.admit("orders"))
        assert open_left(breaker) == pytest.approx(5)


@pytest.fixture
def broker(monkeypatch):
    """A broker configured, as in production (tests run tasks in-process): the tasks the sweeps would publish,
    with their options, are collected here instead (the broker is the edge)."""
    from celery import current_app

    from mca import tasks

    published: list[tuple[str, dict]] = []
    for name in ("sweep_deliveries_task", "poll_attestations_task"):
        task = getattr(tasks, name)
        monkeypatch.setattr(task, "apply_async", lambda name=name, **options: published.append((name, options)))
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    yield published
    current_app.conf.task_always_eager = eager


def test_opening_and_closing_are_signalled_for_the_sweeps(db, broker):
    from celery import current_app

    breaker = Health("unit", failures_to_open=1, open_seconds=30, trial_seconds=10, first_open_seconds=5)
    start = timezone.now()
    with at(start, 0):
        breaker.failed(breaker.admit("orders"))
    # When the open period ends (a little after), both sweeps run: the first due row makes the trial.
    assert [name for name, _ in broker] == ["sweep_deliveries_task", "poll_attestations_task"]
    assert all(options["countdown"] == pytest.approx(5.5, abs=0.3) for _, options in broker)
    broker.clear()
    with at(start, 6):
        breaker.succeeded(breaker.admit("orders"))  # the trial succeeded: the sweeps run now
    # ...and again once what was held back while the trial was out is due.
    again = TRIAL_OUT_RETRY_SECONDS + 0.5
    assert broker == [
        ("sweep_deliveries_task", {"countdown": 0.0}),
        ("poll_attestations_task", {"countdown": 0.0}),
        ("sweep_deliveries_task", {"countdown": again}),
        ("poll_attestations_task", {"countdown": again}),
    ]

    broker.clear()
    current_app.conf.task_always_eager = True  # no broker, no beat to hurry: nothing is scheduled
    with at(start, 100):
        breaker.failed(breaker.admit("orders"))
    assert broker == []


# --- shared across processes ----------------------------------------------------------------------------------

_OTHER_PROCESS = """
import django
django.setup()
from partner_center.errors import PartnerCenterNotFound, PartnerCenterThrottled, PartnerCenterUnavailable
from partner_center.health import Health
import sys
h = Health(sys.argv[1], failures_to_open=2, open_seconds=30, trial_seconds=10)
for kind in ("orders", "customer_agreements"):
    try:
        h.admit(kind)
    except PartnerCenterThrottled as e:
        print(kind, "paused", round(e.retry_after))
    except PartnerCenterUnavailable as e:
        print(kind, "circuit open", e.held_back)
    else:
        print(kind, "allowed")
"""


@pytest.fixture
def redis_cache(settings):
    url = REDIS_TEST_URL
    require_redis(url)
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}}
    return url


def test_the_state_is_shared_with_other_processes_through_redis(redis_cache, monkeypatch):
    namespace = f"test-{uuid.uuid4().hex}"
    here = Health(namespace, failures_to_open=2, open_seconds=30, trial_seconds=10)
    try:
        here.throttled("customer_agreements", 45)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "REDIS_URL": redis_cache,
            "PYTHONPATH": str(ROOT),
        }
        ask = [sys.executable, "-c", _OTHER_PROCESS, namespace]

        first = subprocess.run(ask, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
        orders, agreements = first.stdout.split("\n")[:2]
        assert orders == "orders allowed"
        assert agreements.startswith("customer_agreements paused ")
        assert 30 < int(agreements.rsplit(" ", 1)[1]) <= 45  # what is left of the 45 s (the process took a moment)

        here.failed(here.admit("orders"))
        here.failed(here.admit("orders"))
        second = subprocess.run(ask, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
        assert second.stdout.split("\n")[0] == "orders circuit open True"
    finally:
        here.reset(("customer_agreements",))
    assert health.Health(namespace, failures_to_open=2, open_seconds=30, trial_seconds=10).resume_at("orders") is None
