"""gate: `acceptance_status` for a customer known here vs. a synced customer unknown here (asks the simulator).

The simulator is Django's `runserver` on a free port in a subprocess, on the same database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from benchmarks.timing import measure, median, p95
from demo.accounts import seed_demo_data
from mca.knowledge import knowledge_key, remember_acceptance
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


def _one(account) -> tuple[int, dict]:
    reset_call_counts()
    with CaptureQueriesContext(connection) as queries:
        acceptance_status(account)
    return len(queries), {k: v for k, v in call_counts().items() if v}


def run(calls: int = 500) -> dict:
    from demo.simulator import seed_simulator

    accounts = seed_demo_data()
    seed_simulator()
    known, unknown = accounts["northwind"], accounts["litware"]
    remember_acceptance(key=knowledge_key(known), kind="confirmed_here", accepted_at=known.created_at)
    print("\n## gate (acceptance_status)")
    queries, pc_calls = _one(known)
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
    with simulator() as base:
        settings.PARTNER_CENTER_BASE_URL = base
        cache.clear()
        queries, pc_calls = _one(unknown)
        n = max(5, calls // 20)
        times = measure(lambda: acceptance_status(unknown), n)
        print(
            f"unknown synced:   {queries} query(ies), Partner Center calls {pc_calls} (first check); "
            f"median {median(times) * 1e6:,.0f} µs, p95 {p95(times) * 1e6:,.0f} µs over {n} calls "
            "(later checks use the client's cache)"
        )
        cache.clear()
        cold = measure(lambda: (cache.clear(), acceptance_status(unknown)), n)
        print(f"unknown, cold cache each time: median {median(cold) * 1e6:,.0f} µs, p95 {p95(cold) * 1e6:,.0f} µs")
        ratio = median(cold) / figures["known_median_us"] * 1e6
        print(f"ratio unknown (cold) / known: {ratio:,.0f}x")
        figures.update(unknown_queries=queries, unknown_pc_calls=pc_calls, unknown_cold_median_us=median(cold) * 1e6)
    return figures
