"""R7: append-only enforced by the model and by the database on both engines; tamper-evident chain."""

import hashlib
import io
from datetime import UTC, date, datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from bss.choices import Channel, Role
from mca.attestation.legacy import confirm_acceptance
from mca.chain import HASHED_FIELDS, HASHED_FIELDS_V1, HASHED_FIELDS_V2, canonical_bytes, entry_hash
from mca.db import SQLITE_TRIGGERS, drop_sqlite_triggers_sql
from mca.models import AcceptanceRecord, ImmutableRecordError
from mca.verify import verify_chain
from tests.mca.helpers import context, form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(demo, demo_user):
    made = []
    for key, user in [("northwind", "customer"), ("litware", "reseller"), ("tailspin", "wl-bss")]:
        made.append(confirm_acceptance(actor=demo_user(user), account=demo[key], data=form_data(), context=context()))
    return made


def test_model_refuses_to_save_an_existing_record(records):
    record = records[0]
    record.first_name = "Mallory"
    with pytest.raises(ImmutableRecordError):
        record.save()


def test_model_and_queryset_refuse_delete_and_update(records):
    with pytest.raises(ImmutableRecordError):
        records[0].delete()
    with pytest.raises(ImmutableRecordError):
        AcceptanceRecord.objects.all().delete()
    with pytest.raises(ImmutableRecordError):
        AcceptanceRecord.objects.filter(pk=records[0].pk).update(first_name="Mallory")
    assert AcceptanceRecord.objects.count() == 3


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE mca_acceptancerecord SET first_name = 'Mallory'",
        "DELETE FROM mca_acceptancerecord",
    ],
)
def test_database_refuses_update_and_delete_through_raw_sql(records, sql):
    with pytest.raises(DatabaseError, match=r"(?i)cannot"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AcceptanceRecord.objects.filter(first_name="Jane").count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # committed rows: TRUNCATE refuses pending FK checks otherwise
def test_postgresql_refuses_truncate(records):
    with pytest.raises(DatabaseError, match="cannot be truncated"), transaction.atomic(), connection.cursor() as c:
        c.execute("TRUNCATE mca_acceptancerecord CASCADE")
    assert AcceptanceRecord.objects.count() == 3


def tamper(record_id: int, sql_set: str) -> None:
    """Change a row behind the application's back, with the database's protection switched off."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # triggers do not fire
            cursor.execute(f"UPDATE mca_acceptancerecord SET {sql_set} WHERE id = %s", [record_id])
            cursor.execute("SET session_replication_role = DEFAULT")
        else:
            for statement in drop_sqlite_triggers_sql():
                cursor.execute(statement)
            cursor.execute(f"UPDATE mca_acceptancerecord SET {sql_set} WHERE id = %s", [record_id])
            for statement in SQLITE_TRIGGERS.values():
                cursor.execute(statement)


def test_intact_chain_verifies(records):
    result = verify_chain()
    assert result.ok and result.checked == 3


def test_verify_names_the_first_tampered_record(records):
    tamper(records[1].pk, "email = 'mallory@example.com'")
    result = verify_chain()
    assert not result.ok
    assert (result.first_break.sequence, result.first_break.record_id) == (2, records[1].pk)
    assert "does not match its hash" in result.first_break.problem
    assert result.checked == 1


def test_rehashing_a_tampered_record_is_caught_by_its_mac(records):
    """Version 3: a record rewritten and re-hashed without the log's key fails its own MAC (before the next link)."""
    record = records[0]
    values = [getattr(record, f) for f in HASHED_FIELDS]
    values[HASHED_FIELDS.index("email")] = "mallory@example.com"
    forged = entry_hash(values)
    tamper(record.pk, f"email = 'mallory@example.com', entry_hash = '{forged}'")
    result = verify_chain()
    assert (result.first_break.sequence, result.first_break.kind) == (1, "mac")
    assert "MAC does not verify" in result.first_break.problem


def test_removing_the_last_record_is_detected(records):
    last = records[-1].pk
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM mca_acceptancedelivery WHERE record_id = %s", [last])
        cursor.execute("DELETE FROM mca_customerknowledge WHERE record_id = %s", [last])
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            cursor.execute("DELETE FROM mca_acceptancerecord WHERE id = %s", [last])
            cursor.execute("SET session_replication_role = DEFAULT")
        else:
            for statement in drop_sqlite_triggers_sql():
                cursor.execute(statement)
            cursor.execute("DELETE FROM mca_acceptancerecord WHERE id = %s", [last])
            for statement in SQLITE_TRIGGERS.values():
                cursor.execute(statement)
    result = verify_chain()
    assert not result.ok and "missing from the end" in result.first_break.problem


def test_verify_command_passes_on_an_intact_log(records):
    out = io.StringIO()
    call_command("mca_verify_log", "--no-progress", stdout=out)
    assert "intact: 3 records verified" in out.getvalue()


def test_verify_command_fails_naming_the_record(records):
    tamper(records[2].pk, "date_agreed = '2020-01-01'")
    with pytest.raises(CommandError, match=rf"record #3 \(id {records[2].pk}\)"):
        call_command("mca_verify_log", "--no-progress", stdout=io.StringIO())


def _pinned_values() -> dict:
    values = {name: "" for name in HASHED_FIELDS}
    values.update(
        sequence=1,
        hash_version=1,
        prev_hash="0" * 64,
        created_at=datetime(2026, 11, 2, 14, 10, 5, 123456, tzinfo=UTC),
        idempotency_key=None,
        actor_user_id=7,
        actor_username="reseller",
        actor_role=Role.RESELLER,
        account_id=3,
        account_name="Adventure Works",
        reseller_id=None,
        channel=Channel.RESELLER_STOREFRONT,
        template_version_rank=0,
        first_name="Jöhn",
        date_agreed=date(2026, 11, 2),
        log_sufficient_as_proof=False,
    )
    return values


def test_canonical_form_is_pinned():
    """A refactor must not silently change how records hash (old records would stop verifying)."""
    ordered = [_pinned_values()[name] for name in HASHED_FIELDS_V1]
    assert canonical_bytes(ordered, 1) == (
        b"mca-acceptance-log/v1\n1:11:164:"
        + b"0" * 64
        + b"27:2026-11-02T14:10:05.123456Z~1:78:reseller0:8:reseller0:1:315:Adventure Works~0:0:"
        + b"19:reseller_storefront0:0:0:0:0:1:00:0:0:0:4:J\xc3\xb6hn0:0:0:10:2026-11-020:0:0:0:1:0"
    )
    assert entry_hash(ordered, 1) == "f1ce3f5c41c85da6f38e91c06bd2854161471c474d1e79d9dd23be6aec37b9df"


def test_canonical_form_version_2_is_pinned():
    """Version 2 (the enhanced attestation's events) appends its fields to version 1's, under its own prefix."""
    values = _pinned_values()
    values.update(
        hash_version=2,
        event="signatory_accepted",
        attestation_id="6f1c",
        signatory_company="Adventure Works",
        authority_declared=None,
        link_expires_at=datetime(2026, 11, 9, 0, 0, tzinfo=UTC),
        microsoft_answer='{"status":"accepted"}',
    )
    ordered = [values[name] for name in HASHED_FIELDS_V2]
    body = canonical_bytes(ordered, 2)
    assert body.startswith(b"mca-acceptance-log/v2\n1:11:264:")
    assert body.endswith(
        b'18:signatory_accepted4:6f1c15:Adventure Works~27:2026-11-09T00:00:00.000000Z21:{"status":"accepted"}'
    )
    assert entry_hash(ordered, 2) == hashlib.sha256(body).hexdigest()
    assert entry_hash(ordered, 2) == "c8db533e7bc0648791cec57723967430abb83adeda18986fee77ae6c2b3c7277"


def test_a_version_1_record_keeps_verifying_beside_newer_records(demo, demo_user, settings):
    """An installation that wrote version-1 records before it was keyed: MCA_LOG_KEYED_SINCE names its first
    sealed record, and its first checkpoint adopts the older records (written long ago, before checkpoints)."""
    from mca.chain import BreakKind, record_values
    from mca.checkpoints import CheckpointRefused
    from mca.log import account_snapshot, actor_snapshot
    from mca.models import GENESIS_HASH, AcceptanceRecord, ChainHead
    from mca.verify import verify_chain, write_checkpoint

    old = AcceptanceRecord(
        sequence=1,
        hash_version=1,
        prev_hash=GENESIS_HASH,
        created_at=datetime(2025, 6, 1, tzinfo=UTC),
        **actor_snapshot(demo_user("bss")),
        **account_snapshot(demo["litware"]),
        channel=Channel.BSS_EXECUTION,
        form_data="{}",
        first_name="Ann",
        last_name="Old",
        email="ann@example.com",
        phone="+12065550100",
        date_agreed=date(2025, 6, 1),
        evidence_class="attestation",
        log_sufficient_as_proof=False,
    )
    old.entry_hash = entry_hash(record_values(old), 1)
    old.save()
    ChainHead.objects.update_or_create(pk=1, defaults={"last_sequence": 1, "last_hash": old.entry_hash})
    assert old.entry_hash != entry_hash([getattr(old, name) for name in HASHED_FIELDS_V2], 2)

    new = confirm_acceptance(actor=demo_user("bss"), account=demo["litware"], data=form_data(), context=context())
    assert (new.sequence, new.hash_version, new.prev_hash) == (2, 3, old.entry_hash)
    # Without the floor moved, an unkeyed record is a break wherever it is.
    assert verify_chain().first_break.kind == BreakKind.DOWNGRADE
    settings.MCA_LOG_KEYED_SINCE = 2
    # No checkpoint covers #1, written in 2025: refused unless the operator adopts the log.
    assert verify_chain().first_break.kind == BreakKind.UNCOVERED
    with pytest.raises(CheckpointRefused, match="no checkpoint covers"):
        write_checkpoint()
    assert write_checkpoint(adopt=True).checkpoint.sequence == 2
    result = verify_chain()
    assert result.ok and result.checked == 2


@pytest.mark.postgres
def test_postgresql_recomputes_exactly_the_python_hash(demo, demo_user):
    """The SQL canonical form must match `canonical_bytes` byte for byte, NULLs and non-ASCII included."""
    from mca.chain import _postgresql_hashed_rows, _python_hashed_rows

    confirm_acceptance(
        actor=demo_user("wl-customer"),
        account=demo["tailspin"],
        data=form_data(first_name="Zoë", last_name="O'Brien-Łukasz"),
        context=context(idempotency_key="ünïcode-key", template_version_rank=None, ip_address=""),
    )
    confirm_acceptance(actor=demo_user("bss"), account=demo["litware"], data=form_data(), context=context())
    in_python = list(_python_hashed_rows(10))
    in_sql = list(_postgresql_hashed_rows(10))
    assert len(in_sql) == 2
    assert in_sql == in_python
    assert all(stored == recomputed for *_, stored, recomputed in in_sql)
