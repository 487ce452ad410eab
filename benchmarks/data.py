"""Bench data: demo accounts plus generated resellers and customers, and a hash-chained log of N records with a
delivery row each, appended fast.

Records are hashed and sealed with `mca.chain`'s own functions, exactly as `mca.log.append` does (hash version 3):
the content digest (`content_digest`) does not depend on the previous record, so worker processes build the
records and their digests in parallel chunks; the parent chains them in order (`link_hash` over the previous
entry hash and the digest, then the MAC with the configured key, a few microseconds a record) and streams them to
PostgreSQL with `COPY ... FROM STDIN`, the delivery rows in the same pass (the loader assigns the record ids, so
each delivery names its record without reading it back). Elsewhere (SQLite) `bulk_create` takes the same records.

A large load on PostgreSQL (100 000 records or more) runs as pg_restore does: the two tables' secondary indexes,
unique constraints and foreign keys are dropped first and built once at the end (unique indexes, then the
constraints on them, then the foreign keys, validated), two at a time on two connections, with a large
`maintenance_work_mem`. The chain head is moved with each batch, so `verify_chain` sees a complete log.
"""

from __future__ import annotations

import multiprocessing
import operator
import os
import random
import resource
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from bss.choices import Channel, Operation, Role
from bss.models import Account, Reseller
from demo.accounts import seed_demo_data
from mca.chain import HASHED_FIELDS, content_digest, current_key_id, entry_hash, link_hash, log_keys, mac_for
from mca.choices import DeliveryState, EvidenceClass
from mca.models import AcceptanceDelivery, AcceptanceRecord, ChainHead

CHUNK = 5_000  # records a worker builds at a time
BATCH = 20_000  # records per transaction (COPY statements of CHUNK records each)
DROP_INDEXES_FROM = 100_000  # loads at least this big build the indexes once at the end
REBUILD_CONNECTIONS = 2
REBUILD_MEMORY = "512MB"  # maintenance_work_mem per index build (GIN builds sort far fewer runs with it)
RECORDS_PER_ACCOUNT = 50  # a customer has a handful of records in life; 50 keeps the account count sane
BENCH_RESELLERS = 40
# COPY column order: the columns that vary per record, then the constant ones, then the chain columns — workers
# write everything before the chain columns, the parent appends those in order.
CHAIN_COLUMNS = ("prev_hash", "entry_hash", "key_id", "mac")
DELIVERY_COLUMNS = (
    "record_id",
    "account_id",
    "state",
    "request_id",
    "tenant_id",
    "template_id",
    "attempts",
    "next_attempt_at",
    "last_error",
    "last_status_code",
    "already_confirmed",
    "sent_at",
    "created_at",
    "updated_at",
)
# Most deliveries went through; a few wait, retry or were refused (weights per 100).
DELIVERY_STATES = [
    str(state.value)
    for state in [DeliveryState.SENT] * 94
    + [DeliveryState.FAILING] * 2
    + [DeliveryState.WAITING_FOR_CUSTOMER] * 2
    + [DeliveryState.PENDING, DeliveryState.REFUSED]
]
FIRST_NAMES = ["Anna", "Ben", "Carla", "David", "Eva", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam"]
LAST_NAMES = ["Smith", "Müller", "Garcia", "Rossi", "Dubois", "Jansen", "Nowak", "Silva", "Kim", "Olsen", "Brown"]
COMPANY_WORDS = ["Northern", "Blue", "Alpine", "Harbor", "Summit", "Cedar", "Lumen", "Atlas", "Orbit", "Vista"]
COMPANY_KINDS = ["Traders", "Logistics", "Foods", "Labs", "Systems", "Consulting", "Media", "Energy", "Health"]
# Plain strings (not the enums): the COPY writer and the hash take them as they are.
ROLES = [str(role.value) for role in (Role.CUSTOMER, Role.RESELLER, Role.CSP_BSS, Role.WHITE_LABEL_BSS)]
CHANNELS = [str(value) for value in Channel.values]
FIRST_PARTY, ATTESTATION = str(EvidenceClass.FIRST_PARTY.value), str(EvidenceClass.ATTESTATION.value)
# What every generated record has in common: written into the COPY once as text, not formatted per record.
CONSTANT_VALUES: dict[str, Any] = {
    "hash_version": AcceptanceRecord.HASH_VERSION,
    "host": "shop.example",
    "user_agent": "bench",
    "agreement_type": "MicrosoftCustomerAgreement",
    "template_id": "117a77b0-9360-443b-8795-c6dedc750cf9",
    "template_version_rank": 0,
    "document_link": "https://www.microsoft.com/licensing/docs/customeragreement",
    "language": "en-US",
    "country": "US",
    "phone": "+12065550100",
    "subscription_ref": "",
    "operation": str(Operation.NEW_PURCHASE.value),
    "event": "confirmation",
    "attestation_id": "",
    "signatory_company": "",
    "authority_declared": None,
    "link_expires_at": None,
    "microsoft_answer": "",
}
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 86400  # records spread over two years whatever their number


@dataclass(frozen=True)
class Customer:
    """What a record snapshots of its account (plain values: workers receive these, never model instances)."""

    pk: int
    name: str
    reseller_id: int | None
    reseller_name: str
    tenant_id: str


@dataclass(frozen=True)
class Chunk:
    """Records [first_sequence, first_sequence + count) with ids from first_id, built by a worker."""

    first_sequence: int
    first_id: int
    count: int
    step_seconds: int


def ensure_accounts(records: int) -> list[Customer]:
    """The demo data, BENCH_RESELLERS resellers and one customer account per RECORDS_PER_ACCOUNT records."""
    seed_demo_data()
    have = Reseller.objects.filter(slug__startswith="bench-").count()
    Reseller.objects.bulk_create(
        Reseller(name=f"Bench Reseller {n}", slug=f"bench-{n}") for n in range(have, BENCH_RESELLERS)
    )
    resellers = [*Reseller.objects.all(), None]
    wanted = max(500, records // RECORDS_PER_ACCOUNT)
    have = Account.objects.filter(name__startswith="Bench ").count()
    rng = random.Random(7)  # noqa: S311 - test data, not security
    Account.objects.bulk_create(
        (
            Account(
                name=f"Bench {rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)} {n}",
                reseller=rng.choice(resellers),
                partner_center_tenant_id=uuid.uuid4() if n % 2 else None,
            )
            for n in range(have, wanted)
        ),
        batch_size=5_000,
    )
    return [
        Customer(
            account.pk,
            account.name,
            account.reseller_id,
            account.reseller.name if account.reseller else "",
            str(account.partner_center_tenant_id or ""),
        )
        for account in Account.objects.select_related("reseller").order_by("pk")
    ]


def record_values(rng: random.Random, sequence: int, customer: Customer, step_seconds: int) -> dict[str, Any]:
    """One generated record's fields (not its chain fields), as `mca.log.append` would store them."""
    # One draw of 64 random bits, cut into the choices below (a million records: rng.choice is 0.5 µs a call).
    bits = rng.getrandbits(64)
    first, last = FIRST_NAMES[bits % 12], LAST_NAMES[(bits >> 4) % 11]
    email = f"{first.lower()}.{sequence}@{customer.name.split()[-1].lower()}.example"
    role = ROLES[(bits >> 8) % 4]
    first_party = role == Role.CUSTOMER
    created = START + timedelta(seconds=step_seconds * sequence)
    return {
        **CONSTANT_VALUES,
        "prev_hash": "",  # known only when the record is chained (the parent process sets it in the row)
        "sequence": sequence,
        "created_at": created,
        # Every channel sends one (the form's hidden field, the API's Idempotency-Key header).
        "idempotency_key": random_uuid(rng),
        "actor_user_id": 1 + (bits >> 12) % 5000,
        "actor_username": f"user{1 + (bits >> 25) % 5000}",
        "actor_display_name": f"{FIRST_NAMES[(bits >> 38) % 12]} {LAST_NAMES[(bits >> 42) % 11]}",
        "actor_role": role,
        "actor_organisation": customer.reseller_name or "Cloud Provider",
        "account_id": customer.pk,
        "account_name": customer.name,
        "reseller_id": customer.reseller_id,
        "reseller_name": customer.reseller_name,
        "tenant_id": customer.tenant_id,
        "channel": CHANNELS[(bits >> 46) % len(CHANNELS)],
        "ip_address": f"203.0.113.{1 + (bits >> 50) % 254}",
        "form_data": (f'{{"first_name":"{first}","last_name":"{last}","email":"{email}","phone":"+12065550100"}}'),
        "first_name": first,
        "last_name": last,
        "email": email,
        "date_agreed": created.date(),
        "order_number": f"SO-{sequence:06d}",
        "evidence_class": FIRST_PARTY if first_party else ATTESTATION,
        "log_sufficient_as_proof": first_party,
    }


_hashed_values = operator.itemgetter(*HASHED_FIELDS)


def _digest(values: dict[str, Any]) -> str:
    """The record's content digest by `mca.chain`'s rules. prev_hash is outside the content from version 3 on:
    the placeholder record_values gives it is not hashed."""
    return content_digest(_hashed_values(values))


# --- COPY text format (PostgreSQL's, not the hash's): \N for NULL, backslash escapes, tab-separated ---

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: Any) -> str:
    kind = type(value)
    if kind is str:
        # Most values need no escape: look before translating (translate walks every character in Python).
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(_ESCAPES)
        return value
    if kind is int:
        return str(value)
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return copy_text(str(value))


VARIABLE_COLUMNS = (
    "id",
    *(
        field.attname
        for field in AcceptanceRecord._meta.concrete_fields
        if field.attname not in ("id", *CONSTANT_VALUES, *CHAIN_COLUMNS)
    ),
)
RECORD_COLUMNS = (*VARIABLE_COLUMNS, *CONSTANT_VALUES, *CHAIN_COLUMNS)
assert set(RECORD_COLUMNS) == {field.attname for field in AcceptanceRecord._meta.concrete_fields}
# The constant columns between the variable ones and the chain ones, tab-separated, as one piece of text.
CONSTANT_TEXT = "\t" + "\t".join(copy_text(value) for value in CONSTANT_VALUES.values()) + "\t"


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID from the bench's seeded generator (reproducible data), as text (4x faster than uuid.UUID)."""
    value = rng.getrandbits(128) & ~(0xF << 76 | 0xC << 60) | (0x4 << 76 | 0x8 << 60)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# --- worker processes: build and digest chunks in parallel ---

# Record rows are formatted in one go (no per-field escaping) when none of their text can need an escape: the
# generator's own words never do (checked here), a customer's name may (checked per customer, in the worker).
ROW_FORMAT = "\t".join(f"{{{name}}}" for name in VARIABLE_COLUMNS) + CONSTANT_TEXT
assert all(copy_text(word) == word for word in (*FIRST_NAMES, *LAST_NAMES, *ROLES, *CHANNELS, *DELIVERY_STATES))

_customers: list[Customer] = []
_plain: set[int] = set()  # customers whose text needs no COPY escape


def _init_worker(customers: list[Customer]) -> None:
    global _customers, _plain
    _customers = customers
    _plain = {
        customer.pk
        for customer in customers
        if all(copy_text(text) == text for text in (customer.name, customer.reseller_name, customer.tenant_id))
    }


def record_row(values: dict[str, Any], plain: bool) -> str:
    """A record's COPY text up to its chain columns. `values` is consumed (its dates become text)."""
    if not plain:
        return "\t".join([copy_text(values[name]) for name in VARIABLE_COLUMNS]) + CONSTANT_TEXT
    values["created_at"] = values["created_at"].isoformat()
    values["date_agreed"] = values["date_agreed"].isoformat()
    values["log_sufficient_as_proof"] = "t" if values["log_sufficient_as_proof"] else "f"
    if values["reseller_id"] is None:
        values["reseller_id"] = "\\N"
    return ROW_FORMAT.format_map(values)


def build_chunk(chunk: Chunk) -> tuple[list[str], list[str], str]:
    """(record rows without their chain columns, content digests, delivery rows) as COPY text."""
    rng = random.Random(chunk.first_sequence)  # noqa: S311 - test data, not security
    bodies, digests, deliveries = [], [], []
    for offset in range(chunk.count):
        sequence, record_id = chunk.first_sequence + offset, chunk.first_id + offset
        customer = rng.choice(_customers)
        values = record_values(rng, sequence, customer, chunk.step_seconds)
        values["id"] = record_id
        digests.append(_digest(values))
        created = values["created_at"]
        bodies.append(record_row(values, customer.pk in _plain))
        state = rng.choice(DELIVERY_STATES)
        retrying = state in (DeliveryState.PENDING, DeliveryState.FAILING)
        sent = state == DeliveryState.SENT
        created_text = created.isoformat()
        # DELIVERY_COLUMNS, in that order.
        deliveries.append(
            f"{record_id}\t{customer.pk}\t{state}\t{random_uuid(rng)}\t{copy_text(customer.tenant_id)}\t"
            f"{CONSTANT_VALUES['template_id'] if sent else ''}\t"
            f"{0 if state == DeliveryState.WAITING_FOR_CUSTOMER else 1}\t"
            f"{(created + timedelta(minutes=30)).isoformat() if retrying else NULL}\t"
            f"{'Partner Center answered 503' if state == DeliveryState.FAILING else ''}\t"
            f"{201 if sent else NULL}\tf\t{created_text if sent else NULL}\t{created_text}\t{created_text}"
        )
    return bodies, digests, "\n".join(deliveries) + "\n"


def _chunks(to_add: int, first_sequence: int, first_id: int, step_seconds: int) -> Iterator[Chunk]:
    for start in range(0, to_add, CHUNK):
        count = min(CHUNK, to_add - start)
        yield Chunk(first_sequence + start, first_id + start, count, step_seconds)


def _built_in_order(chunks: Iterator[Chunk], customers: list[Customer], workers: int) -> Iterator[tuple]:
    """Each chunk built by a pool of worker processes, yielded in order; at most 2 per worker wait at a time."""
    if workers <= 1:
        _init_worker(customers)
        yield from map(build_chunk, chunks)
        return
    connection.close()  # the children must not inherit an open connection; the parent reconnects on its next query
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(customers,)) as pool:
        waiting: deque = deque()
        for chunk in chunks:
            waiting.append(pool.apply_async(build_chunk, (chunk,)))
            if len(waiting) >= 2 * workers:
                yield waiting.popleft().get()
        while waiting:
            yield waiting.popleft().get()


# --- loading ---


def ensure_records(total: int, *, workers: int | None = None) -> dict[str, float]:
    """Append generated records until the log holds `total`; returns the load's figures (empty when none)."""
    existing = AcceptanceRecord.objects.count()
    if existing >= total:
        print(f"log holds {existing:,} records (>= {total:,}); nothing to add")
        return {}
    customers = ensure_accounts(total)
    head, _ = ChainHead.objects.get_or_create(pk=1)
    to_add = total - existing
    step_seconds = max(1, SPAN_SECONDS // max(total, 1))
    if connection.vendor != "postgresql":
        figures = _load_with_orm(to_add, head.last_sequence, head.last_hash, customers, step_seconds)
    else:
        workers = workers or os.cpu_count() or 1
        figures = _load_with_copy(to_add, head.last_sequence, head.last_hash, customers, step_seconds, workers)
    _checkpoint_loaded_head()
    return figures


def _checkpoint_loaded_head() -> None:
    """The generated history is dated in the past, so verification would call it uncovered (no checkpoint within
    MCA_CHECKPOINT_OVERDUE_SECONDS): sign its head as the application's cadence would have, without re-verifying
    what this loader just chained."""
    from mca.checkpoints import _save, sign_checkpoint

    head = ChainHead.objects.get(pk=1)
    moment = timezone.now()
    checkpoint = sign_checkpoint(sequence=head.last_sequence, head_hash=head.last_hash, moment=moment)
    _save("checkpoints", checkpoint.sequence, moment, checkpoint.file_json())


def _load_with_copy(
    to_add: int, sequence: int, prev: str, customers: list[Customer], step_seconds: int, workers: int
) -> dict[str, float]:
    started, python_started = time.monotonic(), _python_cpu()
    rebuild = _drop_indexes() if to_add >= DROP_INDEXES_FROM else None
    copy_backend: float | None = 0.0  # CPU seconds of the backend(s) that took the COPY
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COALESCE(MAX(id), 0) FROM mca_acceptancerecord")
            first_id = cursor.fetchone()[0] + 1
        record_columns = ", ".join(connection.ops.quote_name(name) for name in RECORD_COLUMNS)
        delivery_columns = ", ".join(connection.ops.quote_name(name) for name in DELIVERY_COLUMNS)
        key_id = current_key_id()
        key = log_keys()[key_id]
        added = 0
        chunks = _chunks(to_add, sequence + 1, first_id, step_seconds)
        batches = _in_batches(_built_in_order(chunks, customers, workers))
        waited = 0.0  # the parent waiting for the workers: when it is most of the copy, building is the bound
        while True:
            before = time.monotonic()
            batch = next(batches, None)
            waited += time.monotonic() - before
            if batch is None:
                break
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")  # bench data: a crash may lose the last batch
                backend_before = _backend_cpu(cursor)
                raw = cursor.cursor
                with raw.copy(f"COPY mca_acceptancerecord ({record_columns}) FROM STDIN") as copy:
                    for bodies, digests, _ in batch:
                        rows = []
                        for body, digest in zip(bodies, digests, strict=True):
                            entry = link_hash(prev, digest)
                            rows.append(f"{body}{prev}\t{entry}\t{key_id}\t{mac_for(entry, key)}\n")
                            prev = entry
                        copy.write("".join(rows))
                        sequence += len(bodies)
                with raw.copy(f"COPY mca_acceptancedelivery ({delivery_columns}) FROM STDIN") as copy:
                    for _, _, deliveries in batch:
                        copy.write(deliveries)
                ChainHead.objects.filter(pk=1).update(last_sequence=sequence, last_hash=prev)
                backend_after = _backend_cpu(cursor)
            if copy_backend is not None and backend_before is not None and backend_after is not None:
                copy_backend += backend_after - backend_before
            else:
                copy_backend = None
            added += sum(len(bodies) for bodies, _, _ in batch)
            if added % 100_000 < BATCH or added == to_add:
                rate = added / (time.monotonic() - started)
                print(f"  copied {added:,}/{to_add:,} records and deliveries ({rate:,.0f}/s)", flush=True)
        with connection.cursor() as cursor:
            # The ids were the loader's: the table's identity continues after them.
            last_id = first_id + to_add - 1
            cursor.execute("SELECT setval(pg_get_serial_sequence('mca_acceptancerecord', 'id'), %s)", [last_id])
    except BaseException:
        if rebuild is not None:
            print("  load failed: putting the indexes and constraints back", flush=True)
            _restore(rebuild)
        raise
    copied = time.monotonic() - started
    parent_cpu, workers_cpu = (now - then for now, then in zip(_python_cpu(), python_started, strict=True))
    python_cpu = parent_cpu + workers_cpu
    rebuilt, built = 0.0, []
    with connection.cursor() as cursor:
        backend_before = _backend_cpu(cursor)
    if rebuild is not None:
        before = time.monotonic()
        built = _restore(rebuild)
        rebuilt = time.monotonic() - before
    before = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE mca_acceptancerecord")
        cursor.execute("ANALYZE mca_acceptancedelivery")
        backend_after = _backend_cpu(cursor)
    analysed = time.monotonic() - before
    overall = time.monotonic() - started
    build_cpus = [cpu for _, _, cpu in built]
    after_copy_backend = (
        None
        if backend_before is None or backend_after is None or None in build_cpus
        else backend_after - backend_before + sum(build_cpus)
    )
    figures = {
        "records": to_add,
        "workers": workers,
        "copy_seconds": copied,
        "copy_rate": to_add / copied,
        "waited_for_workers_seconds": waited,
        "rebuild_seconds": rebuilt,
        "analyze_seconds": analysed,
        "overall_seconds": overall,
        "overall_rate": to_add / overall,
        "python_cpu_seconds": python_cpu,
        "copy_backend_cpu_seconds": copy_backend,
        "rebuild_backend_cpu_seconds": after_copy_backend,
    }
    print(
        f"  load: {to_add:,} records and their deliveries with {workers} worker process(es): copy {copied:.1f} s "
        f"({to_add / copied:,.0f}/s; {waited:.1f} s of it waiting for the workers)"
        + (f", indexes and constraints built in {rebuilt:.1f} s" if rebuild is not None else "")
        + f", ANALYZE {analysed:.1f} s; overall {overall:.1f} s = {to_add / overall:,.0f} records/s",
        flush=True,
    )
    if built:
        slowest = ", ".join(f"{name} {seconds:.1f} s" for name, seconds, _ in sorted(built, key=lambda b: -b[1])[:4])
        print(f"  {len(built)} indexes built on {REBUILD_CONNECTIONS} connections; the slowest: {slowest}")
    if copy_backend is not None and after_copy_backend is not None:
        total = python_cpu + copy_backend + after_copy_backend
        print(
            f"  CPU time (what the load costs whatever else runs): Python {python_cpu:.1f} s (parent "
            f"{parent_cpu:.1f} s, workers {workers_cpu:.1f} s), "
            f"PostgreSQL {copy_backend:.1f} s copying + {after_copy_backend:.1f} s building indexes and "
            f"constraints and analysing = {total:.1f} CPU s, {total / to_add * 1e6:.0f} µs a record; on "
            f"{os.cpu_count()} idle CPUs no faster than {to_add / (total / (os.cpu_count() or 1)):,.0f} records/s"
        )
    if rebuild is not None:
        # Not part of the load: what autovacuum would do next after a big one (it sets the visibility map, so the
        # admin's filtered counts can be index-only scans, as on a table in service). Done now, so that it does
        # not run in the middle of the timings that follow.
        before = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM mca_acceptancerecord")
            cursor.execute("VACUUM mca_acceptancedelivery")
        figures["vacuum_seconds"] = time.monotonic() - before
        print(f"  then VACUUM (as autovacuum would; not counted in the load): {figures['vacuum_seconds']:.1f} s")
    print(f"log now holds {AcceptanceRecord.objects.count():,} records")
    return figures


def _python_cpu() -> tuple[float, float]:
    """CPU seconds of this process, and of its reaped children (the worker processes, once their pool is closed)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _backend_cpu(cursor) -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL backend, when the database runs on this host
    (read from /proc); None otherwise. With the machine shared, CPU time is what a run costs, whatever the load."""
    cursor.execute("SELECT pg_backend_pid()")
    try:
        with open(f"/proc/{cursor.fetchone()[0]}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _in_batches(chunks: Iterator[tuple]) -> Iterator[list[tuple]]:
    batch, size = [], 0
    for chunk in chunks:
        batch.append(chunk)
        size += len(chunk[0])
        if size >= BATCH:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


@dataclass(frozen=True)
class Rebuild:
    """What a large load dropped, as the statements that put it back."""

    indexes: list[str]  # CREATE [UNIQUE] INDEX ..., secondary and unique-constraint indexes alike
    unique_constraints: list[str]  # ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX ...
    foreign_keys: list[str]  # ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ...


def _drop_indexes() -> Rebuild:
    """Drop the log's and the deliveries' foreign keys, unique constraints and secondary indexes (primary keys
    stay: other tables reference them); returns how to put them back."""
    tables = ["mca_acceptancerecord", "mca_acceptancedelivery"]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT k.conrelid::regclass::text, k.conname, k.contype, pg_get_constraintdef(k.oid),
                   pg_get_indexdef(k.conindid)
            FROM pg_constraint k
            WHERE k.conrelid::regclass::text = ANY(%s) AND k.contype IN ('f', 'u')
            """,
            [tables],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            JOIN pg_class c ON c.relname = i.indexname
            JOIN pg_index x ON x.indexrelid = c.oid
            WHERE i.tablename = ANY(%s) AND NOT x.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)
            """,
            [tables],
        )
        plain = cursor.fetchall()
        foreign_keys, unique, indexes = [], [], [definition for _, definition in plain]
        for table, name, kind, definition, index_definition in constraints:
            if kind == "f":
                foreign_keys.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            else:
                indexes.append(index_definition)
                unique.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{name}"')
        for table, name, _kind, _, _ in sorted(constraints, key=lambda row: row[2]):  # foreign keys first
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in plain:
            cursor.execute(f'DROP INDEX "{name}"')
    return Rebuild(indexes, unique, foreign_keys)


def _build_index(statement: str) -> tuple[str, float, float | None]:
    """One CREATE INDEX on this thread's own connection (PostgreSQL builds one index per backend; two threads
    build two side by side); returns the index name, the seconds it took and its backend's CPU seconds."""
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SET maintenance_work_mem = '{REBUILD_MEMORY}'")
            # Two builds already share the CPUs; parallel workers would only hide their CPU time from the count.
            cursor.execute("SET max_parallel_maintenance_workers = 0")
            before = _backend_cpu(cursor)
            cursor.execute(statement)
            after = _backend_cpu(cursor)
    finally:
        connection.close()  # Django's connections are per thread: this one is the pool thread's
    cpu = None if before is None or after is None else after - before
    return statement.split(" INDEX ", 1)[1].split(" ", 1)[0], time.monotonic() - started, cpu


def _restore(rebuild: Rebuild) -> list[tuple[str, float, float | None]]:
    """Build the indexes (two at a time, the trigram GINs first: they take longest), then the constraints;
    returns each index's build time and CPU time."""
    ordered = sorted(rebuild.indexes, key=lambda statement: "gin" not in statement)
    with ThreadPoolExecutor(REBUILD_CONNECTIONS) as pool:
        built = list(pool.map(_build_index, ordered))
    with connection.cursor() as cursor:
        for statement in [*rebuild.unique_constraints, *rebuild.foreign_keys]:
            cursor.execute(statement)
    return built


def _load_with_orm(
    to_add: int, sequence: int, prev: str, customers: list[Customer], step_seconds: int
) -> dict[str, float]:
    """SQLite: the same records through `bulk_create` (INSERT only: the log's triggers allow it)."""
    started = time.monotonic()
    rng = random.Random(sequence)  # noqa: S311 - test data, not security
    for chunk in _chunks(to_add, sequence + 1, 0, step_seconds):
        records = []
        for offset in range(chunk.count):
            values = record_values(rng, chunk.first_sequence + offset, rng.choice(customers), step_seconds)
            values["prev_hash"] = prev
            values["entry_hash"] = prev = entry_hash([values[name] for name in HASHED_FIELDS])
            values["key_id"] = current_key_id()
            values["mac"] = mac_for(prev, log_keys()[values["key_id"]])
            records.append(AcceptanceRecord(**values))
        with transaction.atomic():
            made = AcceptanceRecord.objects.bulk_create(records)
            AcceptanceDelivery.objects.bulk_create(
                AcceptanceDelivery(
                    record_id=record.pk,
                    account_id=record.account_id,
                    state=rng.choice(DELIVERY_STATES),
                    request_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    attempts=1,
                )
                for record in made
            )
            ChainHead.objects.filter(pk=1).update(last_sequence=made[-1].sequence, last_hash=prev)
    elapsed = time.monotonic() - started
    print(f"  load: {to_add:,} records by bulk_create in {elapsed:.1f} s ({to_add / elapsed:,.0f}/s)")
    print(f"log now holds {AcceptanceRecord.objects.count():,} records")
    return {"records": to_add, "overall_seconds": elapsed, "overall_rate": to_add / elapsed}


# --- readiness (issue 19): accounts in every state, with open orders, renewals and scheduled seat changes -------

READINESS_MARK = "BENCH-SUB-"  # the generated subscriptions' partner_center_subscription_id prefix


def ensure_readiness_data(accounts: int) -> dict[str, float]:
    """`accounts` customer accounts (`ensure_accounts`), and for them what the readiness page reads: what is known
    about each customer (about 45 % accepted, 10 % stale, the rest unknown when synced or required when not), an
    auto-renewing subscription for 40 % (a third renewing with other seats or another term), a scheduled seat change
    for 10 %, an open order for 5 %; then the stored readiness. Each part is created once (a second run adds only
    what a larger `accounts` needs)."""
    from bss.choices import BillingTerm, OrderStatus
    from bss.models import Order, OrderLine, Product, ScheduledSeatChange, Subscription
    from mca.choices import AcceptanceKind
    from mca.knowledge import knowledge_key
    from mca.models import AccountReadiness, CustomerKnowledge
    from mca.readiness import refresh_readiness
    from mca.seal import seal_knowledge

    figures: dict[str, float] = {}
    started = time.perf_counter()
    ensure_accounts(accounts * RECORDS_PER_ACCOUNT)
    figures["accounts_s"] = time.perf_counter() - started
    rng = random.Random(19)  # noqa: S311 - test data, not security
    products = list(Product.objects.filter(sku__in=["MS-M365-BS", "MS-M365-E3", "ACR-CYBER-BACKUP"]).order_by("sku"))
    today = timezone.localdate()
    started = time.perf_counter()
    done = set(
        Subscription.objects.filter(partner_center_subscription_id__startswith=READINESS_MARK).values_list(
            "account_id", flat=True
        )
    )
    known = set(CustomerKnowledge.objects.values_list("key", flat=True))
    planned_marker = set(Order.objects.filter(number__startswith="SO-BR-").values_list("account_id", flat=True))
    knowledge, subscriptions, orders = [], [], []
    for account in Account.objects.filter(name__startswith="Bench ").only("pk", "partner_center_tenant_id"):
        # The same draw for an account on every run: a second run adds no knowledge to the ones drawn "none".
        draw = random.Random(account.pk * 7919).random()  # noqa: S311 - test data, not security
        key = knowledge_key(account)
        if key not in known and draw < 0.55:
            stale = draw >= 0.45
            row = CustomerKnowledge(
                key=key,
                kind=AcceptanceKind.PARTNER_CENTER_ATTESTATION if stale else AcceptanceKind.DIRECT_AT_MICROSOFT,
                accepted_at=datetime(2022, 6, 1, tzinfo=UTC) if stale else datetime(2025, 6, 1, tzinfo=UTC),
                verified_at=timezone.now(),
            )
            seal_knowledge(row)
            knowledge.append(row)
            known.add(key)
        # Plans too are drawn per account, the same on every run: drawn from the run's shared stream, skipping the
        # accounts already planned shifted it, and a second run gave 40 % of the others a subscription (64 %).
        plan = random.Random(account.pk * 7919 + 1)  # noqa: S311 - test data, not security
        subscribed, ordered = plan.random() < 0.4, plan.random() < 0.05
        if subscribed and account.pk not in done:
            changed = plan.random() < 0.33
            subscriptions.append(
                Subscription(
                    account_id=account.pk,
                    product=plan.choice(products),
                    seats=10,
                    partner_center_subscription_id=f"{READINESS_MARK}{account.pk}",
                    renews_on=today + timedelta(days=plan.randrange(1, 365)),
                    next_term_seats=plan.choice([5, 15]) if changed else None,
                    next_term_billing_term=BillingTerm.MONTHLY if changed and plan.random() < 0.3 else "",
                )
            )
        if ordered and account.pk not in planned_marker:
            orders.append(
                Order(
                    number=f"SO-BR-{account.pk}", account_id=account.pk, channel="storefront", status=OrderStatus.PLACED
                )
            )
    CustomerKnowledge.objects.bulk_create(knowledge, batch_size=5_000)
    Subscription.objects.bulk_create(subscriptions, batch_size=5_000)
    Order.objects.bulk_create(orders, batch_size=5_000)
    product = products[0]
    created = {order.number: order.pk for order in Order.objects.filter(number__in=[o.number for o in orders])}
    OrderLine.objects.bulk_create(
        (OrderLine(order_id=created[o.number], product=product, quantity=3, unit_price=product.price) for o in orders),
        batch_size=5_000,
    )
    new_subscriptions = Subscription.objects.filter(
        partner_center_subscription_id__in=[s.partner_center_subscription_id for s in subscriptions]
    ).only("pk")
    ScheduledSeatChange.objects.bulk_create(
        (
            ScheduledSeatChange(
                subscription_id=s.pk,
                seats=rng.choice([8, 12]),
                effective_on=today + timedelta(days=rng.randrange(1, 90)),
            )
            for s in new_subscriptions.iterator()
            if rng.random() < 0.25
        ),
        batch_size=5_000,
    )
    figures["plans_s"] = time.perf_counter() - started
    missing = Account.objects.filter(readiness__isnull=True).exists()
    if knowledge or subscriptions or orders or missing:
        started = time.perf_counter()
        refresh_readiness()
        figures["refresh_s"] = time.perf_counter() - started
    figures["accounts"] = Account.objects.count()
    figures["stored"] = AccountReadiness.objects.count()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")
    return figures
