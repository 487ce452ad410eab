"""recheck: a re-check run (mca.recheck) of N synced accounts by 1, 2 and 4 real Celery worker processes, all
sharing one Partner Center rate limit in Redis, against the simulator limiting to a set rate; then a run where a
worker is SIGKILLed mid-way and the run resumes (the bench process plays beat's `resume_stalled_runs`).

Ours is set to the simulator's figure (N calls per second), over a window `headroom` longer
(PARTNER_CENTER_RATE_LIMIT_MARGIN): the margin, not a lower figure, is what keeps calls under Microsoft's limit.

Printed per run: wall time (first answer to last), calls/s achieved vs the set rate, calls over the limit counted at
the simulator, accounts lost (never answered) or asked twice (claimed twice), and the load average.

PostgreSQL and Redis (BENCH_REDIS_URL, default db 11: broker, cache, the shared limit). Each account costs two
calls (customer agreements, then direct-signed status): the simulator's customers have no partner confirmation,
half of them accepted directly.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection
from django.db.models import Max, Min

from benchmarks.gate import _free_port

BROKER = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
ROOT = Path(__file__).resolve().parents[1]
PREFIX = "Recheck bench "


def _seed(total: int) -> list[int]:
    from bss.models import Account
    from partner_center.simulator.models import SimCustomer

    have = Account.objects.filter(name__startswith=PREFIX).count()
    if have < total:
        tenants = [uuid.uuid4() for _ in range(total - have)]
        Account.objects.bulk_create(
            (Account(name=f"{PREFIX}{have + n}", partner_center_tenant_id=t) for n, t in enumerate(tenants)),
            batch_size=5000,
        )
        SimCustomer.objects.bulk_create(
            (
                SimCustomer(
                    tenant_id=t,
                    commerce_id=uuid.uuid4(),
                    company_name=f"{PREFIX}{have + n}",
                    domain=f"recheck{t.hex}.onmicrosoft.com",
                    direct_signed=bool(n % 2),
                )
                for n, t in enumerate(tenants)
            ),
            batch_size=5000,
        )
    return list(Account.objects.filter(name__startswith=PREFIX).order_by("pk").values_list("pk", flat=True)[:total])


def _simulator(rate: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "PARTNER_CENTER_SIMULATOR_RATE_LIMIT": rate, "REDIS_URL": BROKER}
    process = subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/simulator/partner-center"
    for _ in range(300):
        try:
            requests.get(f"{base}/_control/faults", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    return process, base


def _worker(base: str, rate: str, headroom: float) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": BROKER,
        "REDIS_URL": BROKER,  # the cache: Retry-After and the circuit shared by every worker
        "PARTNER_CENTER_BASE_URL": base,
        "PARTNER_CENTER_RATE_LIMIT": rate,
        "PARTNER_CENTER_RATE_LIMIT_STORAGE": BROKER,
        "PARTNER_CENTER_RATE_LIMIT_MARGIN": repr(headroom),
        "MCA_RECHECK_CLAIM_SECONDS": "10",
        "MCA_ATTESTATION_MIN_CHECK_SECONDS": "0",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "-l",
            "warning",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _close_leftover_runs() -> int:
    """Mark finished the bench's runs an earlier, aborted bench left open: the kill run's resume_stalled_runs would
    queue their items too, and their calls would count in this run's figures."""
    from django.utils import timezone

    from mca.models import RecheckRun

    return RecheckRun.objects.filter(source="bench", finished_at__isnull=True).update(finished_at=timezone.now())


def _one_run(
    label: str,
    ids: list[int],
    base: str,
    app_rate: str,
    headroom: float,
    sim_per_second: float,
    workers: int,
    kill: bool,
):
    # Calls per second our limit allows on average: N per period x (1 + headroom).
    ours = float(app_rate.split("/")[0]) / (1 + headroom)
    import redis

    from mca.models import RecheckRun
    from mca.recheck import enqueue_chunks, plan_run, resume_stalled_runs

    redis.Redis.from_url(BROKER).flushdb()
    requests.delete(f"{base}/_control/calls", timeout=10)
    left = _close_leftover_runs()
    if left:
        print(f"  closed {left} run(s) left open by an earlier, aborted bench", flush=True)
    started = [_worker(base, app_rate, headroom) for _ in range(workers)]
    try:
        run = plan_run(source="bench", account_ids=ids)
        RecheckRun.objects.filter(pk=run.pk).update(last_progress_at=None)
        enqueue_chunks(run, size=50)
        killed = False
        resumed = 0
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.finished_at is not None:
                break
            if kill and not killed and run.done >= run.planned * 0.4:
                started[0].send_signal(signal.SIGKILL)
                killed = True
                print(f"  killed worker pid {started[0].pid} at {run.done}/{run.planned} answered", flush=True)
            if killed:
                resumed += resume_stalled_runs()
            time.sleep(1)
    finally:
        _stop(started)
    run.refresh_from_db()
    items = run.items
    span = items.aggregate(first=Min("answered_at"), last=Max("answered_at"))
    seconds = (span["last"] - span["first"]).total_seconds() if span["last"] else 0.0
    calls = requests.get(f"{base}/_control/calls", timeout=10).json()["calls"]
    made = calls.get("customer_agreements", 0) + calls.get("direct_signed_status", 0)
    rate = made / seconds if seconds else 0.0
    lost = items.filter(outcome="").count()
    twice = items.filter(attempts__gt=1).count()
    load = os.getloadavg()
    print(
        f"{label}: {run.planned} accounts, {made} calls in {seconds:.1f} s = {rate:.1f} calls/s "
        f"({(rate / ours - 1) * 100:+.1f} % vs our {ours:.1f}/s, {(rate / sim_per_second - 1) * 100:+.1f} % vs the "
        f"simulator's {sim_per_second:g}/s); over the limit at the "
        f"simulator {calls.get('over_limit', 0)}; lost {lost}, asked twice {twice}; throttled {run.throttled}; "
        + (f"resumed {resumed} time(s); " if kill else "")
        + f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        flush=True,
    )
    return {"seconds": seconds, "rate": rate, "over": calls.get("over_limit", 0), "lost": lost, "twice": twice}


def run(
    accounts: int = 600, rate: float = 20.0, headroom: float | None = None, workers: tuple[int, ...] = (1, 2, 4)
) -> dict:
    """`rate`: the simulator's limit (calls per second, playing Microsoft's) and ours; `headroom`: our window's margin
    over the second (PARTNER_CENTER_RATE_LIMIT_MARGIN; None: the setting's)."""
    from config.celery import app

    if connection.vendor != "postgresql":
        sys.exit("recheck needs PostgreSQL (set DATABASE_URL to a bench database).")
    app.conf.update(task_always_eager=False, broker_url=BROKER)
    app.close()
    app.amqp._producer_pool = None
    settings.MCA_RECHECK_STALL_SECONDS = 12  # the bench plays beat: resume a run idle this long
    if headroom is None:
        headroom = settings.PARTNER_CENTER_RATE_LIMIT_MARGIN
    ids = _seed(accounts)
    # Per second (a longer window lets a short run burst through its first window and overstate the rate), whole
    # calls (`limits`' notation); ours the same figure, over a window `headroom` longer.
    whole = max(1, math.floor(rate))
    sim_limit = app_limit = f"{whole}/second"
    print(
        f"\n## recheck ({accounts} synced accounts, 2 calls each; simulator limit {sim_limit}, ours {app_limit} "
        f"per {1 + headroom:g} s (headroom {headroom:g}); broker/cache/limit {BROKER})",
        flush=True,
    )
    simulator, base = _simulator(sim_limit)
    figures = {}
    try:
        for count in workers:
            figures[count] = _one_run(f"{count} worker(s)", ids, base, app_limit, headroom, whole, count, kill=False)
        figures["kill"] = _one_run("2 workers, one killed at 40 %", ids, base, app_limit, headroom, whole, 2, kill=True)
    finally:
        _stop([simulator])
    return figures
