"""gate: `acceptance_status` for a customer known here vs. a synced customer unknown here (asks the simulator): the
queries and Partner Center calls of the first check and of the checks after it.

The simulator is Django's `runserver` on a free port in a subprocess, on the same database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from benchmarks.timing import measure, median, p95
from bss.choices import Operation
from bss.models import Account
from demo.accounts import seed_demo_data
from mca import gate
from mca.knowledge import knowledge_key, remember_acceptance
from mca.models import CustomerKnowledge
from mca.status import acceptance_status
from partner_center.client import call_counts, reset_call_counts


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def simulator():
    port = _free_port()
    env = dict(os.environ)  # manage.py runs the local settings, which serve the simulator
    process = subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--nothreading"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/simulator/partner-center"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/_control/faults", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _one(check: Callable[[], object]) -> tuple[int, dict]:
    reset_call_counts()
    with CaptureQueriesContext(connection) as queries:
        check()
    return len(queries), {k: v for k, v in call_counts().items() if v}


def _simulator_calls(base: str) -> dict:
    calls = requests.get(f"{base}/_control/faults", timeout=10).json()["calls"]
    return {k: v for k, v in calls.items() if v}


def run(calls: int = 500) -> dict:
    from demo.simulator import seed_simulator

    accounts = seed_demo_data()
    seed_simulator()
    known, unknown = accounts["northwind"], accounts["litware"]
    remember_acceptance(key=knowledge_key(known), kind="confirmed_here", accepted_at=known.created_at)
    CustomerKnowledge.objects.filter(key=knowledge_key(unknown)).delete()  # unknown here, whatever ran before
    print("\n## gate (acceptance_status)")
    queries, pc_calls = _one(lambda: acceptance_status(known))
    times = measure(lambda: acceptance_status(known), calls)
    print(
        f"known customer:   {queries} query(ies), Partner Center calls {pc_calls or 0}; "
        f"median {median(times) * 1e6:,.0f} µs, p95 {p95(times) * 1e6:,.0f} µs over {calls} calls"
    )
    figures = {
        "known_queries": queries,
        "known_pc_calls": sum(pc_calls.values()),
        "known_median_us": median(times) * 1e6,
    }
    operations = [Operation.NEW_PURCHASE]
    carried = gate.with_known_acceptance(Account.objects.filter(pk=known.pk)).get()
    queries, pc_calls = _one(lambda: gate.check(carried, operations))
    times = measure(lambda: gate.check(carried, operations), calls)
    print(
        f"known customer, loaded with gate.with_known_acceptance (as the checkout does): gate.check {queries} "
        f"query(ies), Partner Center calls {pc_calls or 0}; median {median(times) * 1e6:,.0f} µs, "
        f"p95 {p95(times) * 1e6:,.0f} µs over {calls} calls"
    )
    figures.update(carried_queries=queries, carried_median_us=median(times) * 1e6)

    with simulator() as base:
        settings.PARTNER_CENTER_BASE_URL = base
        cache.clear()
        requests.delete(f"{base}/_control/calls", timeout=10)
        first_queries, first_calls = _one(lambda: acceptance_status(unknown))
        first_simulator = _simulator_calls(base)
        n = max(5, calls // 20)
        reset_call_counts()
        requests.delete(f"{base}/_control/calls", timeout=10)
        later_queries, _ = _one(lambda: acceptance_status(unknown))
        times = measure(lambda: acceptance_status(unknown), n - 1)
        later_calls = sum(call_counts().values())
        later_simulator = sum(_simulator_calls(base).values())
        print(
            f"unknown synced, 1st check:  {first_queries} query(ies), Partner Center calls "
            f"{sum(first_calls.values())} {first_calls} (simulator counted {sum(first_simulator.values())})"
        )
        print(
            f"unknown synced, next {n} checks: {later_queries} query(ies) each, Partner Center calls "
            f"{later_calls} in all (simulator counted {later_simulator}) — 'not accepted' reused for "
            f"MCA_NOT_ACCEPTED_TTL={settings.MCA_NOT_ACCEPTED_TTL} s; median {median(times) * 1e6:,.0f} µs, "
            f"p95 {p95(times) * 1e6:,.0f} µs"
        )
        _, right_after = _one(lambda: acceptance_status(unknown, ask_again=True))
        time.sleep(settings.MCA_ATTESTATION_MIN_CHECK_SECONDS)
        _, after_minimum = _one(lambda: acceptance_status(unknown, ask_again=True))
        print(
            f"unknown synced, 'Check now' (ask_again): Partner Center calls {sum(right_after.values())} right after, "
            f"{sum(after_minimum.values())} {after_minimum} once MCA_ATTESTATION_MIN_CHECK_SECONDS="
            f"{settings.MCA_ATTESTATION_MIN_CHECK_SECONDS:g} s have passed"
        )
        cache.clear()
        cold = measure(lambda: (cache.clear(), acceptance_status(unknown)), n)
        print(
            f"unknown, cold cache each time (4 calls: agreements, direct-signed, template, document): "
            f"median {median(cold) * 1e6:,.0f} µs, p95 {p95(cold) * 1e6:,.0f} µs"
        )
        ratio = median(cold) / figures["known_median_us"] * 1e6
        print(f"ratio unknown (cold) / known: {ratio:,.0f}x")
        figures.update(
            unknown_first_queries=first_queries,
            unknown_first_pc_calls=sum(first_calls.values()),
            unknown_later_pc_calls=later_calls,
            unknown_later_median_us=median(times) * 1e6,
            unknown_cold_median_us=median(cold) * 1e6,
        )
    return figures
