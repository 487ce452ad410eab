"""Run the benchmarks against a dedicated database (never the dev db.sqlite3 or a test database).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mca_bench python -m benchmarks verify admin --records 100000
    python -m benchmarks            # the quick set (gate, verify, admin) on a bench SQLite file, 20k records

The database is created and migrated if needed; records are appended until the log holds `--records`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

QUICK = ("gate", "verify", "admin")
SCENARIOS = ("gate", "verify", "admin", "checkout")
DEFAULT_SQLITE = f"sqlite:///{Path(tempfile.gettempdir()) / 'mca-bench.sqlite3'}"


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return DEFAULT_SQLITE
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


def setup_django() -> str:
    url = _database_url()
    os.environ["DATABASE_URL"] = url
    # Checkpoints of the bench log go beside it in the temp directory, never into the dev checkpoints/ folder.
    name = url.rsplit("/", 1)[-1].split("?", 1)[0].replace(".sqlite3", "")
    os.environ.setdefault("MCA_CHECKPOINT_DIR", str(Path(tempfile.gettempdir()) / f"{name}-checkpoints"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    _ensure_postgres_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--records", type=int, default=20_000, help="log size for verify/admin (default 20000)")
    parser.add_argument("--calls", type=int, default=500, help="gate: calls per measurement (default 500)")
    parser.add_argument("--rounds", type=int, default=300, help="checkout: interleaved rounds (default 300)")
    parser.add_argument("--repeat", type=int, default=5, help="admin: requests per page (median of)")
    args = parser.parse_args(argv)
    scenarios = args.scenarios or list(QUICK)
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")

    url = setup_django()
    from django.db import connection

    print(
        f"# MCA benchmarks — {connection.vendor} ({url.split('@')[-1]}), {os.cpu_count()} CPU(s), "
        f"Python {platform.python_version()}"
    )
    from benchmarks import admin_pages, gate, verify
    from benchmarks.data import ensure_records

    if "gate" in scenarios:
        gate.run(calls=args.calls)
    if "checkout" in scenarios:
        from benchmarks import checkout

        checkout.run(rounds=args.rounds)
    if {"verify", "admin"} & set(scenarios):
        ensure_records(args.records)
    if "verify" in scenarios:
        verify.run()
    if "admin" in scenarios:
        admin_pages.run(repeat=args.repeat)
    return 0
