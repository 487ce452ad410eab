"""Evidence tests: a checkpoint folder per test, a few records, and an insider's tools (raw SQL with the log's
triggers switched off, on PostgreSQL and SQLite alike)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connection
from django.utils import timezone

from mca.attestation.legacy import confirm_acceptance
from mca.chain import entry_hash, record_values
from mca.choices import DeliveryState
from mca.db import SQLITE_TRIGGERS, drop_sqlite_triggers_sql
from mca.export import export_evidence_pack
from mca.models import AcceptanceDelivery, AcceptanceRecord
from tests.evidence.packs import unpack
from tests.mca.helpers import context, form_data


@pytest.fixture
def confirm(demo, demo_user):
    """Write one legacy confirmation through the application (a sealed version-3 record)."""

    def write(key: str = "northwind", user: str = "customer", **data) -> AcceptanceRecord:
        return confirm_acceptance(actor=demo_user(user), account=demo[key], data=form_data(**data), context=context())

    return write


@pytest.fixture
def records(confirm):
    return [confirm("northwind", "customer"), confirm("litware", "reseller"), confirm("tailspin", "wl-bss")]


@pytest.fixture
def story(confirm):
    """José Núñez's confirmation for Alpine Ski House, one unrelated record between, a second one later."""
    first = confirm("alpine-contoso", "reseller", first_name="José", last_name="Núñez", email="jose@alpine.example")
    other = confirm("northwind", "customer")
    second = confirm("alpine-fabrikam", "wl-bss", first_name="Zoë", last_name="Łukasz", email="zoe@alpine.example")
    AcceptanceDelivery.objects.filter(record=first).update(
        state=DeliveryState.SENT,
        attempts=1,
        sent_at=timezone.now(),
        last_status_code=201,
        response={"id": "agreement-1", "agreementType": "MicrosoftCustomerAgreement"},
    )
    return first, other, second


@pytest.fixture
def pack(tmp_path, demo, story):
    path = export_evidence_pack(demo["alpine-contoso"], tmp_path / "out")
    return path, unpack(path, tmp_path / "unpacked")


@contextmanager
def triggers_off():
    """The insider's first step: the log's append-only triggers switched off (needs the table owner's rights)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The test's transaction holds deferred foreign-key checks; ALTER TABLE wants none pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE mca_acceptancerecord DISABLE TRIGGER USER")
        else:
            for statement in drop_sqlite_triggers_sql():
                cursor.execute(statement)
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("ALTER TABLE mca_acceptancerecord ENABLE TRIGGER USER")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            else:
                for statement in SQLITE_TRIGGERS.values():
                    cursor.execute(statement)


def move_head(sequence: int, last_hash: str) -> None:
    """What ordinary application privileges allow: the chain head is a plain row."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE mca_chainhead SET last_sequence = %s, last_hash = %s WHERE id = 1", [sequence, last_hash]
        )


def delete_record(record_id: int) -> None:
    """Remove a record and what points at it (its delivery, knowledge, attestations), triggers off."""
    with triggers_off() as cursor:
        cursor.execute("DELETE FROM mca_acceptancedelivery WHERE record_id = %s", [record_id])
        # Knowledge rows are sealed: unlinking one would be named; deleting it only makes the gate ask again.
        cursor.execute("DELETE FROM mca_customerknowledge WHERE record_id = %s", [record_id])
        cursor.execute("DELETE FROM mca_acceptancerecord WHERE id = %s", [record_id])


def forged_copy(template: AcceptanceRecord, *, after: AcceptanceRecord, mac: str = "", key_id: str = "dev", **changes):
    """A record chained correctly after `after` (a valid SHA-256 chain), but sealed by someone without the key."""
    forged = AcceptanceRecord(
        **{
            f.attname: getattr(template, f.attname)
            for f in AcceptanceRecord._meta.concrete_fields
            if f.attname not in ("id", "idempotency_key")
        }
    )
    forged.sequence = after.sequence + 1
    forged.prev_hash = after.entry_hash
    for name, value in changes.items():
        setattr(forged, name, value)
    forged.entry_hash = entry_hash(record_values(forged), forged.hash_version)
    forged.key_id, forged.mac = key_id, mac
    return forged


def insert(record: AcceptanceRecord) -> AcceptanceRecord:
    """A plain INSERT (no trigger forbids it: the log is append-only, not append-never)."""
    [made] = AcceptanceRecord.objects.bulk_create([record])
    if made.pk is None:
        made = AcceptanceRecord.objects.get(sequence=record.sequence)
    return made


def rewrite(record_id: int, **values) -> None:
    """UPDATE one record, triggers off."""
    assignments = ", ".join(f"{connection.ops.quote_name(name)} = %s" for name in values)
    with triggers_off() as cursor:
        cursor.execute(f"UPDATE mca_acceptancerecord SET {assignments} WHERE id = %s", [*values.values(), record_id])
