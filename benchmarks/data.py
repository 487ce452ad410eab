"""Bench data: demo accounts plus generated customers, and a hash-chained log of N records appended fast.

Records are built as values (no model save), hashed with `mca.chain.entry_hash` exactly as `confirm_acceptance`
does, and inserted with large `bulk_create` batches (INSERT only — the log's triggers allow it), with one delivery
row each; the chain head is moved to the last record so `verify_chain` sees a complete log.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from bss.choices import Channel, Operation, Role
from bss.models import Account, Reseller
from demo.accounts import seed_demo_data
from mca.chain import HASHED_FIELDS, entry_hash
from mca.choices import DeliveryState, EvidenceClass
from mca.models import AcceptanceDelivery, AcceptanceRecord, ChainHead

BATCH = 5_000
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
    sequence, prev = head.last_sequence, head.last_hash
    rng = random.Random(sequence)  # noqa: S311 - test data, not security
    start = datetime(2024, 1, 1, tzinfo=UTC)
    step = timedelta(seconds=max(1, int(2 * 365 * 86400 / max(total, 1))))
    to_add = total - existing
    started = time.monotonic()
    added = 0
    while added < to_add:
        records, deliveries = [], []
        for _ in range(min(BATCH, to_add - added)):
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
            }
            prev = entry_hash([values[name] for name in HASHED_FIELDS])
            records.append(AcceptanceRecord(entry_hash=prev, **values))
        with transaction.atomic():
            made = AcceptanceRecord.objects.bulk_create(records, batch_size=BATCH)
            for record in made:
                deliveries.append(
                    AcceptanceDelivery(
                        record_id=record.pk,
                        account_id=record.account_id,
                        state=rng.choice(DeliveryState.values),
                        request_id=uuid.uuid4(),
                        attempts=1,
                    )
                )
            AcceptanceDelivery.objects.bulk_create(deliveries, batch_size=BATCH)
            ChainHead.objects.filter(pk=1).update(last_sequence=sequence, last_hash=prev)
        added += len(records)
        if added % 50_000 < BATCH or added == to_add:
            rate = added / (time.monotonic() - started)
            print(f"  inserted {added}/{to_add} records ({rate:,.0f}/s)", flush=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE mca_acceptancerecord")
            cursor.execute("ANALYZE mca_acceptancedelivery")
    print(f"log now holds {AcceptanceRecord.objects.count()} records")
