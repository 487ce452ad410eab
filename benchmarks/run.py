"""Run the benchmarks against a dedicated database (never the dev db.sqlite3 or a test database).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mca_bench python -m benchmarks verify admin --records 100000
    python -m benchmarks            # the default set (gate, verify, admin) on a bench SQLite file, 20k records
    python -m benchmarks --quick gate verify admin checkout    # smaller sizes, for CI: well under a minute
    python -m benchmarks load --duration 60 --users 20         # gunicorn + locust, PostgreSQL and Redis
    python -m benchmarks campaign [--quick]   # 10,000 (quick 500) campaign links by Celery workers, one killed

The database is created and migrated if needed; records are appended until the log holds `--records`. `load`
needs PostgreSQL: without DATABASE_URL it uses `mca_bench_load` on 127.0.0.1:5432 (for the whole run).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

DEFAULT = ("gate", "verify", "admin")
SCENARIOS = (
    "gate",
    "verify",
    "admin",
    "api",
    "indexes",
    "checkout",
    "confirm",
    "load",
    "recheck",
    "readiness",
    "campaign",
)
LOG_SCENARIOS = ("verify", "admin", "api", "indexes")  # these need the log filled to --records
DEFAULT_SQLITE = f"sqlite:///{Path(tempfile.gettempdir()) / 'mca-bench.sqlite3'}"
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/mca_bench_load"
# Sizes: (default, --quick). An option given on the command line wins over both.
SIZES = {
    "records": (20_000, 2_000),
    "calls": (500, 50),
    "rounds": (300, 20),
    "repeat": (20, 3),
    "seconds": (10.0, 3.0),
    "duration": (60, 10),
    "users": (20, 10),
}


def _database_url(needs_postgres: bool = False) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return DEFAULT_POSTGRES if needs_postgres else DEFAULT_SQLITE
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    if "bench" not in name:
        sys.exit(f"Refusing to benchmark against {name!r}: use a dedicated database whose name contains 'bench'.")
    return url


def _ensure_postgres_database(url: str) -> None:
    if not url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def setup_django(needs_postgres: bool = False) -> str:
    url = _database_url(needs_postgres)
    os.environ["DATABASE_URL"] = url
    # Checkpoints of the bench log go beside it in the temp directory, never into the dev checkpoints/ folder.
    name = url.rsplit("/", 1)[-1].split("?", 1)[0].replace(".sqlite3", "")
    bench_checkpoints = Path(tempfile.gettempdir()) / f"{name}-checkpoints"
    os.environ.setdefault("MCA_CHECKPOINT_DIR", str(bench_checkpoints))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    _ensure_postgres_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from mca.models import AcceptanceRecord

    if os.environ["MCA_CHECKPOINT_DIR"] == str(bench_checkpoints) and not AcceptanceRecord.objects.exists():
        # A new (or dropped and re-created) bench database: an earlier one's checkpoints would not match its log.
        shutil.rmtree(bench_checkpoints, ignore_errors=True)
    return url


# Accounts per scenario: (default, --quick); --accounts wins over both.
ACCOUNTS = {"recheck": (100_000, 200), "readiness": (100_000, 2_000), "campaign": (10_000, 500)}


def _accounts(args: argparse.Namespace, scenario: str) -> int:
    default, quick = ACCOUNTS[scenario]
    return args.accounts or (quick if args.quick else default)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options, with each size left out taken from SIZES (its quick figure with --quick)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: {', '.join(DEFAULT)})")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (the second figure of each option)")
    parser.add_argument("--records", type=int, help="log size for verify/admin/api/indexes (20000; quick 2000)")
    parser.add_argument("--calls", type=int, help="gate: calls per measurement (500; quick 50)")
    parser.add_argument(
        "--rounds", type=int, help="checkout: interleaved rounds (300; quick 20); confirm: rounds per client count (2)"
    )
    parser.add_argument("--repeat", type=int, help="admin, api: requests per page, p50 and p95 of (20; quick 3)")
    parser.add_argument("--workers", type=int, default=None, help="loader: worker processes (default: CPUs)")
    parser.add_argument("--follow", type=int, default=100, help="api: next cursors followed from the first page")
    parser.add_argument(
        "--clients",
        default="8",
        help="confirm: concurrent clients (processes); several, comma-separated, are measured one after another",
    )
    parser.add_argument("--seconds", type=float, help="confirm: seconds per round (10; quick 3)")
    parser.add_argument("--flow", default="legacy", help="confirm: attestation flow (legacy or enhanced)")
    parser.add_argument(
        "--cadence",
        action="store_true",
        help="confirm: alternate rounds with the after-commit checkpoint scheduling on and off (issue 17's cost)",
    )
    parser.add_argument(
        "--rate", type=float, default=20.0, help="recheck: the simulator's limit in calls/s, and ours (whole calls)"
    )
    parser.add_argument(
        "--headroom",
        type=float,
        default=None,
        help="recheck: our window's margin over the simulator's second (default: PARTNER_CENTER_RATE_LIMIT_MARGIN)",
    )
    parser.add_argument("--duration", type=int, help="load: seconds of load (60; quick 10)")
    parser.add_argument("--users", type=int, help="load: simulated users (20; quick 10)")
    parser.add_argument(
        "--accounts",
        type=int,
        help="recheck, readiness, campaign: accounts (each scenario's own size: ACCOUNTS in benchmarks/run.py)",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="load: a user's mean pause between tasks in seconds (default 0: the next request as soon as the "
        "answer comes, so the figures are the stack's capacity)",
    )
    args = parser.parse_args(argv)
    # --rounds means two things: checkout's interleaved rounds (a size below) and confirm's rounds per client count,
    # whose default is 2 whatever checkout's size is.
    args.confirm_rounds = args.rounds or 2
    for option, (default, quick) in SIZES.items():
        if getattr(args, option) is None:
            setattr(args, option, quick if args.quick else default)
    args.scenarios = args.scenarios or list(DEFAULT)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = args.scenarios
    url = setup_django(needs_postgres=bool({"load", "recheck", "campaign"} & set(scenarios)))
    from django.db import connection

    print(
        f"# MCA benchmarks — {connection.vendor} ({url.split('@')[-1]}), {os.cpu_count()} CPU(s), "
        f"Python {platform.python_version()}{' (quick)' if args.quick else ''}"
    )
    from benchmarks import admin_pages, gate, verify
    from benchmarks.data import ensure_records

    if "gate" in scenarios:
        gate.run(calls=args.calls)
    if "checkout" in scenarios:
        from benchmarks import checkout

        checkout.run(rounds=args.rounds)
    if "confirm" in scenarios:
        from benchmarks import confirm

        for clients in (int(count) for count in str(args.clients).split(",")):
            confirm.run(
                clients=clients, seconds=args.seconds, rounds=args.confirm_rounds, flow=args.flow, cadence=args.cadence
            )
    if set(LOG_SCENARIOS) & set(scenarios):
        ensure_records(args.records, workers=args.workers)
    if "verify" in scenarios:
        verify.run()
    if "admin" in scenarios:
        admin_pages.run(repeat=args.repeat)
    if "api" in scenarios:
        from benchmarks import api_pages

        api_pages.run(repeat=args.repeat, follow=args.follow)
    if "indexes" in scenarios:
        from benchmarks import indexes

        indexes.run()
    if "recheck" in scenarios:
        from benchmarks import recheck

        recheck.run(accounts=_accounts(args, "recheck"), rate=args.rate, headroom=args.headroom)
    if "readiness" in scenarios:
        from benchmarks import readiness

        readiness.run(accounts=_accounts(args, "readiness"), repeat=args.repeat)
    if "load" in scenarios:
        from benchmarks import load

        try:
            figures = load.run(duration=args.duration, users=args.users, think=args.think)
        except KeyboardInterrupt:
            print("load: interrupted; gunicorn and locust stopped", flush=True)
            return 130
        if figures["errors"]:
            return 1
    if "campaign" in scenarios:
        from benchmarks import campaign

        if not campaign.run(size=_accounts(args, "campaign"))["ok"]:
            return 1
    return 0
