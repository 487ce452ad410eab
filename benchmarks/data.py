"""Bench data: demo accounts plus generated customers, and a hash-chained log of N records appended fast.

Records are built as values (no model save), hashed and sealed exactly as `mca.log.append` does (hash version 3:
`mca.chain.entry_hash`, then `mca.chain.seal` with the configured MAC key) in a background thread, and inserted in
batches while the next is built — on PostgreSQL by `COPY ... FROM STDIN` with the delivery rows by one
INSERT ... SELECT per batch and the secondary indexes built once at the end; elsewhere by `bulk_create` (INSERT
only: the log's triggers allow it). The chain head is moved to the last record so `verify_chain` sees a complete
log.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from bss.choices import Channel, Operation, Role
from bss.models import Account, Reseller
from demo.accounts import seed_demo_data
from mca.chain import HASHED_FIELDS, entry_hash, seal
from mca.choices import DeliveryState, EvidenceClass
from mca.models import AcceptanceDelivery, AcceptanceRecord, ChainHead

BATCH = 10_000
RECORD_COLUMNS = [f.attname for f in AcceptanceRecord._meta.concrete_fields if f.attname != "id"]
# One delivery per record, written by the database from the records just copied (states spread by id).
DELIVERIES_SQL = """
INSERT INTO mca_acceptancedelivery (record_id, account_id, state, request_id, tenant_id, template_id, attempts,
    last_error, already_confirmed, created_at, updated_at)
SELECT id, account_id, (ARRAY['pending','sent','failing','waiting','refused','sent'])[1 + (id %% 6)::int],
    gen_random_uuid(), '', '', 1, '', false, now(), now()
FROM mca_acceptancerecord WHERE sequence > %s AND sequence <= %s
"""
FIRST_NAMES = ["Anna", "Ben", "Carla", "David", "Eva", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam"]
LAST_NAMES = ["Smith", "Müller", "Garcia", "Rossi", "Dubois", "Jansen", "Nowak", "Silva", "Kim", "Olsen", "Brown"]
COMPANY_WORDS = ["Northern", "Blue", "Alpine", "Harbor", "Summit", "Cedar", "Lumen", "Atlas", "Orbit", "Vista"]
COMPANY_KINDS = ["Traders", "Logistics", "Foods", "Labs", "Systems", "Consulting", "Media", "Energy", "Health"]
ROLES = [Role.CUSTOMER, Role.RESELLER, Role.CSP_BSS, Role.WHITE_LABEL_BSS]


def ensure_accounts(count: int = 500) -> list[Account]:
    seed_demo_data()
    resellers = [*Reseller.objects.all(), None]
    have = Account.objects.filter(name__startswith="Bench ").count()
    rng = random.Random(7)  # noqa: S311 - test data, not security
    Account.objects.bulk_create(
        Account(
            name=f"Bench {rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)} {n}",
            reseller=rng.choice(resellers),
            partner_center_tenant_id=uuid.uuid4() if n % 2 else None,
        )
        for n in range(have, count)
    )
    return list(Account.objects.select_related("reseller"))


def ensure_records(total: int) -> None:
    existing = AcceptanceRecord.objects.count()
    if existing >= total:
        print(f"log holds {existing} records (>= {total}); nothing to add")
        return
    accounts = ensure_accounts()
    head, _ = ChainHead.objects.get_or_create(pk=1)
    to_add = total - existing
    postgresql = connection.vendor == "postgresql"
    # A large load on PostgreSQL runs without the secondary indexes (trigram GINs, btrees) and builds them once at
    # the end, as pg_restore does: several times faster than maintaining them row by row. Unique indexes stay.
    rebuild = _drop_secondary_indexes() if postgresql and to_add >= 100_000 else []
    if postgresql:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")  # bench data: a crash may lose the last batches
    rng = random.Random(head.last_sequence)  # noqa: S311 - test data, not security
    started = time.monotonic()
    added = 0
    for records in _in_background(_batches(to_add, head.last_sequence, head.last_hash, accounts, total)):
        first_sequence, sequence = records[0]["sequence"], records[-1]["sequence"]
        with transaction.atomic():
            if postgresql:
                _copy_records(records)
                with connection.cursor() as cursor:
                    cursor.execute(DELIVERIES_SQL, [first_sequence - 1, sequence])
            else:
                made = AcceptanceRecord.objects.bulk_create(
                    [AcceptanceRecord(**values) for values in records], batch_size=BATCH
                )
                AcceptanceDelivery.objects.bulk_create(
                    [
                        AcceptanceDelivery(
                            record_id=record.pk,
                            account_id=record.account_id,
                            state=rng.choice(DeliveryState.values),
                            request_id=uuid.uuid4(),
                            attempts=1,
                        )
                        for record in made
                    ],
                    batch_size=BATCH,
                )
            ChainHead.objects.filter(pk=1).update(last_sequence=sequence, last_hash=records[-1]["entry_hash"])
        added += len(records)
        if added % 50_000 < BATCH or added == to_add:
            rate = added / (time.monotonic() - started)
            print(f"  inserted {added}/{to_add} records ({rate:,.0f}/s)", flush=True)
    if rebuild:
        built = time.monotonic()
        with connection.cursor() as cursor:
            for statement in rebuild:
                cursor.execute(statement)
        overall = time.monotonic() - started
        print(
            f"  rebuilt {len(rebuild)} indexes in {time.monotonic() - built:.1f} s; {to_add} records loaded in "
            f"{overall:.1f} s overall ({to_add / overall:,.0f}/s)",
            flush=True,
        )
    if postgresql:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE mca_acceptancerecord")
            cursor.execute("ANALYZE mca_acceptancedelivery")
    print(f"log now holds {AcceptanceRecord.objects.count()} records")


def _batches(to_add: int, sequence: int, prev: str, accounts: list[Account], total: int) -> Iterator[list[dict]]:
    """The records to append, in batches: values hashed and sealed exactly as `mca.log.append` does."""
    rng = random.Random(sequence)  # noqa: S311 - test data, not security
    start = datetime(2024, 1, 1, tzinfo=UTC)
    step = timedelta(seconds=max(1, int(2 * 365 * 86400 / max(total, 1))))
    made = 0
    while made < to_add:
        records = []
        for _ in range(min(BATCH, to_add - made)):
            sequence += 1
            account = rng.choice(accounts)
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first.lower()}.{sequence}@{account.name.split()[-1].lower()}.example"
            role = rng.choice(ROLES)
            first_party = role == Role.CUSTOMER
            values = {
                "sequence": sequence,
                "hash_version": AcceptanceRecord.HASH_VERSION,
                "prev_hash": prev,
                "created_at": start + step * sequence,
                "idempotency_key": None,
                "actor_user_id": rng.randint(1, 5000),
                "actor_username": f"user{rng.randint(1, 5000)}",
                "actor_display_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                "actor_role": role,
                "actor_organisation": account.reseller.name if account.reseller else "Cloud Provider",
                "account_id": account.pk,
                "account_name": account.name,
                "reseller_id": account.reseller_id,
                "reseller_name": account.reseller.name if account.reseller else "",
                "tenant_id": str(account.partner_center_tenant_id or ""),
                "channel": rng.choice(Channel.values),
                "host": "shop.example",
                "ip_address": f"203.0.113.{rng.randint(1, 254)}",
                "user_agent": "bench",
                "agreement_type": "MicrosoftCustomerAgreement",
                "template_id": "117a77b0-9360-443b-8795-c6dedc750cf9",
                "template_version_rank": 0,
                "document_link": "https://www.microsoft.com/licensing/docs/customeragreement",
                "language": "en-US",
                "country": "US",
                "form_data": json.dumps(
                    {"first_name": first, "last_name": last, "email": email, "phone": "+12065550100"},
                    separators=(",", ":"),
                ),
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone": "+12065550100",
                "date_agreed": (start + step * sequence).date(),
                "order_number": f"SO-{sequence:06d}",
                "subscription_ref": "",
                "operation": Operation.NEW_PURCHASE,
                "evidence_class": EvidenceClass.FIRST_PARTY if first_party else EvidenceClass.ATTESTATION,
                "log_sufficient_as_proof": first_party,
                "event": "confirmation",
                "attestation_id": "",
                "signatory_company": "",
                "authority_declared": None,
                "link_expires_at": None,
                "microsoft_answer": "",
            }
            prev = entry_hash([values[name] for name in HASHED_FIELDS])
            values["entry_hash"] = prev
            values["key_id"], values["mac"] = seal(prev)
            records.append(values)
        made += len(records)
        yield records


def _in_background(batches: Iterator[list[dict]]) -> Iterator[list[dict]]:
    """Build the next batches in a thread while the database takes the current one (psycopg waits without the
    GIL): hashing and copying overlap."""
    done = object()
    ready: queue.Queue = queue.Queue(maxsize=3)

    def produce() -> None:
        for batch in batches:
            ready.put(batch)
        ready.put(done)

    threading.Thread(target=produce, daemon=True).start()
    while (batch := ready.get()) is not done:
        yield batch


def _copy_records(records: list[dict]) -> None:
    """COPY one batch into the log (PostgreSQL): several times faster than INSERT for large batches."""
    columns = ", ".join(connection.ops.quote_name(name) for name in RECORD_COLUMNS)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY mca_acceptancerecord ({columns}) FROM STDIN") as copy:
        for values in records:
            copy.write_row([values[name] for name in RECORD_COLUMNS])


def _drop_secondary_indexes() -> list[str]:
    """Drop the log's and the deliveries' non-unique indexes; returns the statements that recreate them."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            JOIN pg_class c ON c.relname = i.indexname
            JOIN pg_index x ON x.indexrelid = c.oid
            WHERE i.tablename IN ('mca_acceptancerecord', 'mca_acceptancedelivery')
              AND NOT x.indisunique AND NOT x.indisprimary
            """
        )
        found = cursor.fetchall()
        for name, _ in found:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
    return [definition for _, definition in found]
