"""confirm: confirmations per second with N concurrent clients (processes), against the database's own limit.

Two workloads run alternately in one run, each for `--seconds`, `--clients` processes at a time:

- **confirm**: `gate.submit_acceptance` (permission, form validation, template, the chained record, knowledge,
  the delivery outbox row, all in one transaction) by the CSP's BSS user for synced bench customers, the legacy
  one-step form (it counts at once, so the whole write path runs). Deliveries are handed to the sender through a
  Redis queue (db 12, purged afterwards) as production does, never sent; a checkpoint writer process does what a
  worker does with the checkpoint task the clients schedule (MCA_CHECKPOINT_AFTER_COMMIT). Set REDIS_URL to give
  the clients the shared Redis cache production has (else the local file cache).
- **raw**: the least a chained append can cost in this database: one transaction that locks a head row, inserts a
  copy of a real record (same columns and indexes, `CREATE TABLE ... (LIKE ... INCLUDING ALL)`), moves the head and
  inserts an outbox row, from plain psycopg with the hashes computed in Python.

Printed: confirmations/s and raw transactions/s per round, their ratio, latency p50/p99, and whether the chain
verifies afterwards. PostgreSQL only (SQLite serialises every writer; its figure would say nothing).

With `--cadence` (issue 17: a checkpoint within MCA_CHECKPOINT_MAX_LAG_SECONDS of any new record) the confirm
rounds alternate between the after-commit checkpoint scheduling ON (MCA_CHECKPOINT_AFTER_COMMIT, the clients
schedule as production does, and a checkpoint writer process does what the worker does when the scheduled task
fires: verify from the last checkpoint and sign, every lag seconds) and OFF (no scheduling, no writer), and print
both rates and their ratio.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import date

from django.db import connection, connections

from benchmarks.data import ensure_accounts

BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")
RAW_TABLES = ("bench_raw_record", "bench_raw_delivery", "bench_raw_head")


@dataclass
class ClientResult:
    done: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0  # the client process's own CPU time (Python), not the database's


def _use_broker() -> None:
    """Deliveries are queued on Redis as in production (not run in-process: that would call Partner Center)."""
    from config.broker import transport_for
    from config.celery import app

    app.conf.update(task_always_eager=False, broker_url=BROKER, broker_transport=transport_for(BROKER))


def _confirm_client(args: tuple[int, float, float, list[int]]) -> ClientResult:
    index, start_at, stop_at, account_ids = args
    connections.close_all()
    _use_broker()
    from django.contrib.auth import get_user_model

    from bss.models import Account
    from mca import gate
    from mca.context import ConfirmationContext

    actor = get_user_model().objects.get(username="bss")
    accounts = list(Account.objects.filter(pk__in=account_ids).select_related("reseller"))
    result = ClientResult()
    n = 0
    while time.time() < start_at:
        time.sleep(0.001)
    cpu_started = time.process_time()
    while time.time() < stop_at:
        account = accounts[n % len(accounts)]
        n += 1
        data = {
            "first_name": "Ana",
            "last_name": "Bench-" + "abcdefgh"[index % 8],
            "email": f"ana.{index}.{n}@bench.example",
            "phone": "+12065550100",
            "date_agreed": date.today().isoformat(),
            "accepted": "on",
        }
        context = ConfirmationContext(
            channel="api",
            host="bench.example",
            ip_address="192.0.2.10",
            user_agent="bench",
            idempotency_key=uuid.uuid4().hex,
        )
        started = time.perf_counter()
        try:
            gate.submit_acceptance(actor=actor, account=account, data=data, context=context)
        except Exception as error:  # counted and shown, the run goes on
            result.failed += 1
            result.errors.append(repr(error)[:200])
            continue
        result.latencies.append(time.perf_counter() - started)
        result.done += 1
    result.cpu_seconds = time.process_time() - cpu_started
    connections.close_all()
    return result


def _raw_client(args: tuple[int, float, float, str, list]) -> ClientResult:
    import psycopg

    _index, start_at, stop_at, dsn, template = args
    columns, values = template
    sequence_at = columns.index("sequence")
    hash_at = columns.index("entry_hash")
    key_at = columns.index("idempotency_key")
    insert_record = (
        f"INSERT INTO bench_raw_record ({', '.join(columns)}) "  # noqa: S608 - the model's column names
        f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING id"
    )
    result = ClientResult()
    with psycopg.connect(dsn) as db:
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < stop_at:
            row = list(values)
            started = time.perf_counter()
            with db.transaction():
                sequence, last_hash = db.execute(
                    "SELECT last_sequence, last_hash FROM bench_raw_head WHERE id = 1 FOR UPDATE"
                ).fetchone()
                row[sequence_at] = sequence + 1
                row[hash_at] = hashlib.sha256(f"{last_hash}{sequence + 1}".encode()).hexdigest()
                row[key_at] = uuid.uuid4().hex
                record_id = db.execute(insert_record, row).fetchone()[0]
                db.execute(
                    "UPDATE bench_raw_head SET last_sequence = %s, last_hash = %s WHERE id = 1",
                    [sequence + 1, row[hash_at]],
                )
                db.execute(
                    "INSERT INTO bench_raw_delivery (record_id, account_id, state, request_id, tenant_id, template_id,"
                    " attempts, last_error, already_confirmed, next_attempt_at, created_at, updated_at)"
                    " VALUES (%s, %s, 'pending', %s, '', '', 0, '', false, now(), now(), now())",
                    [record_id, row[columns.index("account_id")], uuid.uuid4()],
                )
            result.latencies.append(time.perf_counter() - started)
            result.done += 1
    return result


def _prepare_raw() -> tuple[list[str], list]:
    """Scratch copies of the record and delivery tables (indexes included, no triggers) and a head row."""
    from mca.models import AcceptanceRecord

    with connection.cursor() as cursor:
        for table in RAW_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute("CREATE TABLE bench_raw_record (LIKE mca_acceptancerecord INCLUDING ALL)")
        cursor.execute("CREATE TABLE bench_raw_delivery (LIKE mca_acceptancedelivery INCLUDING ALL)")
        cursor.execute("CREATE TABLE bench_raw_head (LIKE mca_chainhead INCLUDING ALL)")
        cursor.execute("INSERT INTO bench_raw_head (id, last_sequence, last_hash) VALUES (1, 0, %s)", ["0" * 64])
    sample = AcceptanceRecord.objects.order_by("-sequence").first()
    columns = [f.column for f in AcceptanceRecord._meta.concrete_fields if f.column != "id"]
    values = [getattr(sample, f.attname) for f in AcceptanceRecord._meta.concrete_fields if f.column != "id"]
    return columns, values


def _drop_raw() -> None:
    with connection.cursor() as cursor:
        for table in RAW_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _checkpoint_writer(start_at: float, stop_at: float, lag: float) -> None:
    """What a worker does with the checkpoint task the clients schedule: when the time the task was scheduled for
    comes (the cache key holds it), run `write_checkpoint_task`'s body — clear the key, then verify and sign. (A
    writer that signed every `lag` seconds without clearing the key left it in place for its whole timeout, so every
    commit after its fire time asked the cache twice: a cost production does not have.)"""
    connections.close_all()
    import logging

    from django.core.cache import cache

    from mca.checkpoints import _SCHEDULED, scheduled_checkpoint_due

    logging.getLogger("mca.checkpoints").setLevel(logging.WARNING)  # its "written" lines would cut the round's line
    from mca.verify import write_checkpoint

    while time.time() < start_at:
        time.sleep(0.01)
    while time.time() < stop_at:
        fires_at = cache.get(_SCHEDULED)
        if isinstance(fires_at, float) and time.time() >= fires_at:
            scheduled_checkpoint_due()
            write_checkpoint()
        else:
            time.sleep(0.05)
    connections.close_all()


def _round(worker, jobs: list, seconds: float, *, checkpoints_every: float | None = None) -> tuple[float, ClientResult]:
    context = multiprocessing.get_context("fork")
    connections.close_all()
    writer = None
    if checkpoints_every is not None:
        start_at = jobs[0][1]
        writer = context.Process(target=_checkpoint_writer, args=(start_at, start_at + seconds, checkpoints_every))
        writer.start()
    with context.Pool(len(jobs)) as pool:
        results = pool.map(worker, jobs)
    if writer is not None:
        writer.join()
    total = ClientResult()
    for result in results:
        total.done += result.done
        total.failed += result.failed
        total.latencies += result.latencies
        total.errors += result.errors
        total.cpu_seconds += result.cpu_seconds
    return total.done / seconds, total


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1e3


def _dsn() -> str:
    settings = connection.settings_dict
    return (
        f"host={settings['HOST'] or 'localhost'} port={settings['PORT'] or 5432} dbname={settings['NAME']} "
        f"user={settings['USER']}" + (f" password={settings['PASSWORD']}" if settings["PASSWORD"] else "")
    )


def _purge_broker() -> None:
    import redis

    redis.Redis.from_url(BROKER).flushdb()


def run(clients: int = 8, seconds: float = 10.0, rounds: int = 2, flow: str = "legacy", cadence: bool = False) -> dict:
    with_cadence = ", checkpoint cadence on/off" if cadence else ""
    print(f"\n## confirm ({flow} flow, {clients} clients, {rounds} x {seconds:.0f} s each, alternating{with_cadence})")
    if connection.vendor != "postgresql":
        print("skipped: PostgreSQL only (set DATABASE_URL to a PostgreSQL database whose name contains 'bench')")
        return {}
    from django.conf import settings

    from benchmarks.gate import simulator
    from demo.simulator import seed_simulator

    settings.MCA_ATTESTATION_FLOW = flow  # the forked clients inherit it
    seed_simulator()
    with simulator() as base:
        # Only the agreement template is asked (once per client process, then from the client's cache).
        settings.PARTNER_CENTER_BASE_URL = base
        return _measure(clients, seconds, rounds, cadence)


def _measure(clients: int, seconds: float, rounds: int, cadence: bool = False) -> dict:
    from django.conf import settings

    from bss.models import Account
    from mca.knowledge import knowledge_key
    from mca.models import AcceptanceRecord, CustomerKnowledge

    ensure_accounts(0)
    accounts = list(
        Account.objects.filter(name__startswith="Bench ", partner_center_tenant_id__isnull=False).order_by("pk")[:500]
    )
    # Every client confirms for customers of its own: confirmations for one customer queue on its knowledge row.
    per_client = max(1, len(accounts) // clients)
    groups = [[a.pk for a in accounts[i * per_client : (i + 1) * per_client]] for i in range(clients)]
    # A customer confirmed before is the common case at this rate; warm up so knowledge rows exist.
    CustomerKnowledge.objects.filter(key__in=[knowledge_key(a) for a in accounts]).delete()
    before = AcceptanceRecord.objects.count()
    # Warm up here, before the clients are forked: they inherit what the first confirmations load (the phone
    # number metadata, the client's cached template, the broker connection's modules), as a long-running worker has.
    warm = _confirm_client((0, 0.0, time.time() + 1.0, [a.pk for a in accounts]))
    if not warm.done:
        raise SystemExit(f"no confirmation succeeded: {sorted(set(warm.errors))[:3]}")
    connections.close_all()
    columns_values = _prepare_raw()
    dsn = _dsn()
    scheduling = settings.MCA_CHECKPOINT_AFTER_COMMIT
    lag = settings.MCA_CHECKPOINT_MAX_LAG_SECONDS
    if cadence and seconds < 2 * lag:
        print(f"note: rounds shorter than 2 x MCA_CHECKPOINT_MAX_LAG_SECONDS ({lag:.0f} s) see under 2 checkpoints")
    # No worker signs checkpoints here: sign the bench log's head now, so that the verdict at the end is about the
    # chain (a log no checkpoint covers is "not intact") and the cadence's "on" rounds verify only what they append.
    from mca.verify import write_checkpoint

    write_checkpoint(adopt=True)
    cadence_rates: dict[bool, list[float]] = {True: [], False: []}
    confirm_rates: list[float] = []
    raw_rates: list[float] = []
    confirm_total = ClientResult()
    raw_total = ClientResult()
    try:
        for number in range(1, rounds + 1):
            start = time.time() + 1.0
            rate, result = _round(
                _raw_client, [(i, start, start + seconds, dsn, columns_values) for i in range(clients)], seconds
            )
            raw_rates.append(rate)
            raw_total.latencies += result.latencies
            print(f"round {number}: raw chained transaction {rate:,.0f}/s", end="; ")
            # On first in odd rounds, off first in even ones: neither setting always follows the raw round.
            order = (True, False) if number % 2 else (False, True)
            for cadence_on in order if cadence else (scheduling,):
                settings.MCA_CHECKPOINT_AFTER_COMMIT = cadence_on  # the forked clients inherit it
                start = time.time() + 1.0
                rate, result = _round(
                    _confirm_client,
                    [(i, start, start + seconds, groups[i]) for i in range(clients)],
                    seconds,
                    # As in production, a worker runs the checkpoint task the clients schedule: without it the
                    # task's cache key stays past its time and every commit asks the cache twice.
                    checkpoints_every=lag if cadence_on else None,
                )
                cadence_rates[cadence_on].append(rate)
                _add_confirm_round(confirm_total, result)
                confirm_rates.append(rate)
                cpu = result.cpu_seconds / max(1, result.done) * 1e3
                label = f"cadence {'on' if cadence_on else 'off'}: " if cadence else ""
                print(
                    f"{label}confirmations {rate:,.0f}/s ({result.failed} failed; client CPU {cpu:.1f} ms each)",
                    end="; " if cadence and cadence_on == order[0] else "\n",
                )
    finally:
        settings.MCA_CHECKPOINT_AFTER_COMMIT = scheduling
        _drop_raw()
        _purge_broker()
    return _report(
        rounds, before, confirm_rates, raw_rates, confirm_total, raw_total, cadence_rates if cadence else None
    )


def _add_confirm_round(total: ClientResult, result: ClientResult) -> None:
    total.latencies += result.latencies
    total.failed += result.failed
    total.errors += result.errors


def _report(
    rounds: int,
    before: int,
    confirm_rates: list[float],
    raw_rates: list[float],
    confirm_total: ClientResult,
    raw_total: ClientResult,
    cadence_rates: dict[bool, list[float]] | None,
) -> dict:
    from mca.models import AcceptanceRecord
    from mca.verify import verify_chain

    confirms = statistics.median(confirm_rates)
    raws = statistics.median(raw_rates)
    added = AcceptanceRecord.objects.count() - before
    verdict = verify_chain()
    print(
        f"confirmations: {confirms:,.0f}/s (median of {rounds}), p50 {_pct(confirm_total.latencies, 0.5):.1f} ms, "
        f"p99 {_pct(confirm_total.latencies, 0.99):.1f} ms, {confirm_total.failed} failed"
    )
    print(
        f"raw chained transaction: {raws:,.0f}/s, p50 {_pct(raw_total.latencies, 0.5):.1f} ms, "
        f"p99 {_pct(raw_total.latencies, 0.99):.1f} ms"
    )
    print(f"ratio confirmations / raw: {confirms / raws:.2f}")
    figures: dict = {}
    if cadence_rates is not None:
        on, off = statistics.median(cadence_rates[True]), statistics.median(cadence_rates[False])
        print(
            f"checkpoint cadence: on {on:,.0f}/s, off {off:,.0f}/s (medians of {rounds}); ratio on/off {on / off:.3f} "
            f"({(1 - on / off) * 100:+.1f} % drop)"
        )
        figures = {"cadence_on_per_s": on, "cadence_off_per_s": off, "cadence_ratio": on / off}
    print(f"records written: {added:,}; chain verifies: {'yes' if verdict.ok else 'NO: ' + str(verdict.breaks[:3])}")
    for error in sorted(set(confirm_total.errors))[:5]:
        print(f"  error: {error}")
    return {
        "confirmations_per_s": confirms,
        "raw_per_s": raws,
        "ratio": confirms / raws,
        "chain_ok": verdict.ok,
        **figures,
    }
