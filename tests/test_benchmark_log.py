"""Smoke tests of the benchmarks' own code, on small logs. Figures are printed by `python -m benchmarks`, never
asserted here: what is checked is that the loader writes a log that verifies (one delivery per record), that a
big load's drop-and-rebuild puts back exactly the indexes and constraints it took away, and that each log scenario
runs."""

from __future__ import annotations

import random

import pytest
from django.db import connection

from benchmarks import admin_pages, api_pages, data, indexes
from mca.models import AcceptanceDelivery, AcceptanceRecord, ChainHead
from mca.verify import verify_chain


def _schema() -> set[tuple[str, ...]]:
    """The two tables' indexes and constraints (PostgreSQL), as (name, definition)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT indexname, indexdef FROM pg_indexes
            WHERE tablename IN ('mca_acceptancerecord', 'mca_acceptancedelivery')
            UNION ALL
            SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid IN ('mca_acceptancerecord'::regclass, 'mca_acceptancedelivery'::regclass)
            """
        )
        return set(cursor.fetchall())


@pytest.mark.django_db
def test_loaded_log_verifies_and_each_record_has_a_delivery(capsys):
    data.ensure_records(300, workers=1)
    data.ensure_records(450, workers=1)  # appending to an existing log continues its chain

    result = verify_chain()
    assert result.ok, result.first_break
    assert result.checked == 450
    assert AcceptanceDelivery.objects.count() == 450
    assert not AcceptanceRecord.objects.filter(delivery__isnull=True).exists()
    assert ChainHead.objects.get(pk=1).last_sequence == 450
    assert AcceptanceRecord.objects.exclude(idempotency_key=None).count() == 450
    assert "450 records" in capsys.readouterr().out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the big-load path builds indexes on other connections and VACUUMs
def test_big_load_puts_back_every_index_and_constraint(monkeypatch, capsys):
    before = _schema()
    monkeypatch.setattr(data, "DROP_INDEXES_FROM", 1)
    monkeypatch.setattr(data, "CHUNK", 100)
    monkeypatch.setattr(data, "BATCH", 200)

    figures = data.ensure_records(700, workers=2)  # two worker processes, chunks of 100, 4 transactions

    assert _schema() == before
    assert figures["records"] == 700
    assert verify_chain().ok
    assert AcceptanceDelivery.objects.count() == 700
    # The loader chose the record ids: the table's identity continues after them.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('mca_acceptancerecord', 'id'))")
        assert cursor.fetchone()[0] > AcceptanceRecord.objects.order_by("-id").values_list("id", flat=True)[0]
    assert "indexes built" in capsys.readouterr().out


@pytest.mark.postgres
@pytest.mark.django_db
def test_log_indexes_are_the_ones_queries_use():
    names = {name for name, _ in _schema()}

    for dropped in (
        "mca_record_account_created",
        "mca_record_reseller_created",
        "mca_record_channel_created",
        "mca_record_evidence_created",
        "mca_record_email",
        "mca_record_last_name",
        "mca_record_account_name",
        "mca_record_attestation",
        "mca_acceptancerecord_entry_hash_key",
        "mca_acceptancerecord_idempotency_key_65ab0173_like",
    ):
        assert dropped not in names
    assert not [name for name in names if name.startswith("mca_acceptancerecord_entry_hash")]
    for kept in (
        "mca_acceptancerecord_sequence_key",
        "mca_acceptancerecord_idempotency_key_key",
        "mca_record_channel",
        "mca_record_evidence",
        "mca_record_email_trgm",
        "mca_delivery_due",
    ):
        assert kept in names


@pytest.mark.django_db
def test_log_scenarios_run_on_a_small_log(capsys):
    data.ensure_records(200, workers=1)

    admin = admin_pages.run(repeat=2)
    api = api_pages.run(repeat=2, follow=3)
    found = indexes.run()

    assert admin["unfiltered"]["queries"] > 0
    assert admin["e-mail"]["p95_ms"] > 0
    assert api["first page"]["queries"] > 0
    assert any(label.startswith("page at depth 150") for label in api)
    out = capsys.readouterr().out
    if connection.vendor == "postgresql":
        assert found["indexes"] == len(indexes.indexes_of())
        assert "mca_acceptancerecord_sequence_key" in out
        assert "bytes/record" in out
    else:
        assert "PostgreSQL only" in out


def test_copy_rows_formatted_in_one_go_match_the_field_by_field_ones():
    customer = data.Customer(7, "Bench Alpine Labs 7", None, "", "")
    odd = data.Customer(8, "Tab\tand back\\slash", 3, "Reseller\nNewline", "")
    data._init_worker([customer, odd])
    assert data._plain == {7}

    for who, reseller_id in ((customer, None), (data.Customer(9, "Bench Orbit Media 9", 4, "R", "x"), 4)):
        values = data.record_values(random.Random(1), 42, who, 60)
        values["id"] = 42
        general = "\t".join(data.copy_text(values[name]) for name in data.VARIABLE_COLUMNS) + data.CONSTANT_TEXT
        assert data.record_row(dict(values), plain=True) == general
        assert values["reseller_id"] == reseller_id
    values = data.record_values(random.Random(1), 43, odd, 60)
    values["id"] = 43
    row = data.record_row(values, plain=False)
    assert "Tab\\tand back\\\\slash" in row and "Reseller\\nNewline" in row
    assert row.count("\t") == len(data.VARIABLE_COLUMNS) + len(data.CONSTANT_VALUES)
