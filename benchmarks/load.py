"""load: gunicorn (2 sync workers, `config.wsgi`, the simulator served by it too) on the bench PostgreSQL database
and Redis (cache and broker, as in production), started by `drills.stack.Stack`, and a bounded `locust --headless`
run of storefront browsing, checkouts and API calls (`benchmarks/locustfile.py`) for a fixed time with a fixed
number of users. Prints requests/s, p50/p99 and errors per request and per kind, in total, the orders written
(checked against the successful place-order requests), the Partner Center calls the load caused, and the CPU per
request of gunicorn, PostgreSQL and locust (read from /proc: a figure the shared machine's noise moves less).

gunicorn and locust are stopped whatever happens (failure, Ctrl-C, SIGTERM, SIGHUP; `atexit` as a last resort; a
stack whose runner died anyway is ended by the next drill run or `python -m drills --stop-stale`); the bench database
is kept; in the bench Redis database (`BENCH_REDIS_URL`, default db 12: not the tests' 15 nor the drills' 13) the
run's own keys (its key prefix) are deleted before and after.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection, connections
from django.test import Client
from rest_framework.authtoken.models import Token

from bss.models import Order, Product, Reseller
from demo.accounts import seed_demo_data
from demo.simulator import seed_simulator
from drills.http import Simulator
from drills.lifecycle import stop_on_exit, stop_stale
from drills.stack import BIN, ROOT, RUN_ENV, Stack
from mca.knowledge import knowledge_key, remember_acceptance

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
KINDS = ("browse", "checkout", "api")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BENCH_ENV = {
    # The per-user (1200/min) and per-token (600/min) API throttles would answer most of the integrators' calls 429
    # at this rate: a throttle doing its job, not a capacity figure. Raised here only; the throttle still runs.
    "API_THROTTLE_USER": "1000000/minute",
    "API_THROTTLE_TOKEN": "1000000/minute",
    # Each worker keeps its database connection for the whole run (production renews it every 60 s, a cost of
    # one connection a minute): PostgreSQL's CPU is read from the backends connected at the end, so none may have
    # been replaced on the way.
    "CONN_MAX_AGE": "3600",
}


@dataclass
class Timings:
    """Counts and a response-time histogram (locust's buckets: 1 ms below 100 ms, 10 ms below 1 s, ...)."""

    requests: int = 0
    failures: int = 0
    histogram: Counter[int] = field(default_factory=Counter)

    def add(self, entry: dict) -> None:
        self.requests += entry["num_requests"]
        self.failures += entry["num_failures"]
        self.histogram.update({int(ms): n for ms, n in entry["response_times"].items()})

    def percentile(self, fraction: float) -> int:
        """The smallest bucket at or below which `fraction` of the requests fall (locust's own definition)."""
        wanted = fraction * sum(self.histogram.values())
        seen = 0
        for ms in sorted(self.histogram):
            seen += self.histogram[ms]
            if seen >= wanted:
                return ms
        return 0


def _plan(users: int, think: float) -> dict:
    """Seed data, Northwind's acceptance known here, the bss user's token and one session per possible shopper."""
    accounts = seed_demo_data()
    seed_simulator()
    northwind = accounts["northwind"]
    remember_acceptance(key=knowledge_key(northwind), kind="confirmed_here", accepted_at=northwind.created_at)
    users_by_name = get_user_model().objects.in_bulk(["customer", "bss"], field_name="username")
    token, _ = Token.objects.get_or_create(user=users_by_name["bss"])
    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    sessions = []
    for _ in range(users):
        client = Client()
        client.force_login(users_by_name["customer"])
        sessions.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
    return {
        "think_seconds": [think / 2, think * 3 / 2],
        "sessions": sessions,
        "api_token": token.key,
        "account_id": northwind.pk,
        "product_id": Product.objects.get(sku="MS-M365-E3").pk,
        "white_label_slug": Reseller.objects.filter(is_white_label=True).order_by("pk").first().slug,
    }


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a process, from Linux's /proc; None when it is gone or unreadable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _gunicorn_cpu(master: int) -> float:
    """CPU seconds of gunicorn's master and its workers."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        stat = _proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is not None and master in (int(entry.name), stat[0]):
            total += stat[1]
    return total


def _postgres_cpu(db_name: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the bench database (the workers' connections)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [db_name])
        pids = [row[0] for row in cursor.fetchall()]
    connections.close_all()
    return {pid: stat[1] for pid in pids if (stat := _proc_stat(pid))}


@dataclass
class CpuUse:
    """CPU seconds used during the run by the server side (gunicorn, PostgreSQL) and by the load generator."""

    gunicorn: float
    postgres: float
    locust: float

    def line(self, requests: int) -> str:
        per_request = {name: seconds * 1000 / max(requests, 1) for name, seconds in vars(self).items()}
        server = per_request["gunicorn"] + per_request["postgres"]
        ceiling = (os.cpu_count() or 1) * 1000 / server if server else 0
        return (
            f"CPU per request: gunicorn {per_request['gunicorn']:.2f} ms, PostgreSQL {per_request['postgres']:.2f} ms, "
            f"locust {per_request['locust']:.2f} ms; at this cost "
            f"{os.cpu_count()} CPU(s) for the server alone serve at most about {ceiling:,.0f} req/s"
        )


def _locust(stack: Stack, plan_file: Path, out: Path, *, users: int, duration: int) -> None:
    locust = BIN / "locust"
    argv = [
        str(locust),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        stack.base_url,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{duration}s",
        "--stop-timeout",
        "10",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
        "--csv",
        str(out / "load"),
        "--json-file",
        str(out / "load"),
    ]
    log = (stack.log_dir / "locust.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 - locust from this venv, our locustfile
        argv,
        cwd=ROOT,
        env={**os.environ, "MCA_LOAD_PLAN": str(plan_file), RUN_ENV: stack.run_id},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        code = process.wait(timeout=duration + 90)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    if code != 0:
        raise RuntimeError(f"locust exited with {code} (see {stack.log_dir}/locust.log)")


def _row(label: str, timings: Timings, seconds: float) -> str:
    return (
        f"{label:<32} {timings.requests:>9,} {timings.requests / seconds:>8.1f} {timings.percentile(0.5):>7} "
        f"{timings.percentile(0.99):>7} {timings.failures:>7}"
    )


def _report(out: Path, *, users: int, duration: int, think: float, orders_written: int, pc_calls: int) -> dict:
    entries = json.loads((out / "load.json").read_text())
    started = min(entry["start_time"] for entry in entries)
    ended = max(entry["last_request_timestamp"] or entry["start_time"] for entry in entries)
    seconds = max(ended - started, 1.0)
    by_name = {entry["name"]: entry for entry in entries}
    kinds = {kind: Timings() for kind in KINDS}
    total = Timings()
    pace = f"think time {think:g} s on average" if think else "no think time"
    print(
        f"\n## load ({users} users, {pace}, {duration} s; gunicorn 2 sync workers; PostgreSQL + Redis; locust headless)"
    )
    print(f"{'request':<32} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}")
    # By kind; within a kind in the order locust first saw them (a checkout's steps in order).
    for name in sorted(by_name, key=lambda n: KINDS.index(n.split(":")[0]) if n.split(":")[0] in KINDS else 9):
        timings = Timings()
        timings.add(by_name[name])
        kinds.setdefault(name.split(":")[0], Timings()).add(by_name[name])
        total.add(by_name[name])
        print(_row(name, timings, seconds))
    for kind, timings in kinds.items():
        if timings.requests:
            print(_row(f"{kind} (all)", timings, seconds))
    print(_row("total", total, seconds))
    with (out / "load_failures.csv").open() as failures_file:
        failures = list(csv.DictReader(failures_file))
    for failure in failures:
        print(f"  error: {failure['Occurrences']} × {failure['Method']} {failure['Name']}: {failure['Error']}")
    placed = sum(
        by_name[name]["num_requests"] - by_name[name]["num_failures"]
        for name in ("checkout: place order", "api: place order")
        if name in by_name
    )
    lost = orders_written != placed
    print(
        f"orders written: {orders_written:,} for {placed:,} successful place-order requests"
        f"{' — MISMATCH' if lost else ''}; Partner Center calls during the run: {pc_calls}"
    )
    return {
        "requests": total.requests,
        "rps": total.requests / seconds,
        "p50_ms": total.percentile(0.5),
        "p99_ms": total.percentile(0.99),
        "errors": total.failures + (1 if lost else 0),
        "orders_written": orders_written,
        "pc_calls": pc_calls,
    }


def run(duration: int = 60, users: int = 20, think: float = 0.0, flow: str = "enhanced") -> dict:
    if connection.vendor != "postgresql":
        raise SystemExit("The load scenario needs PostgreSQL: set DATABASE_URL=postgres://.../mca_bench_...")
    if not (BIN / "locust").exists():
        raise SystemExit("The load scenario needs locust: pip install -e '.[bench]' (make bench installs it)")
    for stale in stop_stale():  # a stack left by a killed bench or drill run would share the CPUs with this one
        print(stale.line(), flush=True)
    plan = _plan(users, think)
    close_old_connections()
    out = Path(tempfile.mkdtemp(prefix="mca-bench-load-"))
    stack = Stack(
        database_url=os.environ["DATABASE_URL"],  # the runner's bench database (benchmarks.run.setup_django)
        redis_url=REDIS_URL,
        cache_in_redis=True,
        log_dir=out,
        extra_env=BENCH_ENV,
        web_workers=2,
    )
    stack.flow = flow  # enhanced: production's default (the drills run legacy)
    plan_file = out / "plan.json"
    plan_file.write_text(json.dumps(plan))
    first_order = Order.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with stop_on_exit(stack):
        try:
            stack.create_database()  # the bench database is kept: this only deletes the run's own Redis keys
            stack.start_simulator()
            stack.start_web()
            simulator = Simulator(stack.simulator_url)
            simulator.reset_calls()
            master = stack.processes["gunicorn"].pid
            gunicorn_before, postgres_before = _gunicorn_cpu(master), _postgres_cpu(stack.db_name)
            locust_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started, load_before = time.monotonic(), os.getloadavg()[0]
            _locust(stack, plan_file, out, users=users, duration=duration)
            elapsed, load_after = time.monotonic() - started, os.getloadavg()[0]
            locust_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            postgres_after = _postgres_cpu(stack.db_name)
            cpu = CpuUse(
                gunicorn=_gunicorn_cpu(master) - gunicorn_before,
                postgres=sum(seconds - postgres_before.get(pid, 0.0) for pid, seconds in postgres_after.items()),
                locust=(locust_after.ru_utime + locust_after.ru_stime)
                - (locust_before.ru_utime + locust_before.ru_stime),
            )
            pc_calls = sum(simulator.calls().values())
        finally:
            connections.close_all()
    orders_written = Order.objects.filter(pk__gt=first_order).count()
    figures = _report(
        out, users=users, duration=duration, think=think, orders_written=orders_written, pc_calls=pc_calls
    )
    print(cpu.line(figures["requests"]))
    print(
        f"machine: {os.cpu_count()} CPU(s) shared by gunicorn, PostgreSQL, Redis, locust and any other work; "
        f"1-min load average {load_before:.1f} before, {load_after:.1f} at the end"
    )
    # Locust warns when its own process is CPU-bound: its timings then include its own queueing.
    if "CPU usage above" in (out / "locust.log").read_text(errors="replace"):
        print("note: locust reported its CPU usage above 90% during the run (see locust.log)")
    print(f"(locust ran {elapsed:.0f} s; logs and raw stats in {out})")
    sys.stdout.flush()
    return figures
