"""Getting acceptance records out: CSV rows (admin export, evidence export) and the R14 evidence export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet

from mca.chain import entry_hash, record_values
from mca.models import GENESIS_HASH, AcceptanceRecord


@dataclass(frozen=True)
class RecordCheck:
    """One record's own chain check: its content against its hash, and its link to the record before it."""

    sequence: int
    hash_ok: bool
    link_ok: bool
    problem: str

    @property
    def ok(self) -> bool:
        return self.hash_ok and self.link_ok

    def __str__(self) -> str:
        return (
            f"Record #{self.sequence}: intact (hash and link to the previous record match)"
            if self.ok
            else (f"Record #{self.sequence}: {self.problem}")
        )


def check_record(record: AcceptanceRecord, known_hashes: dict[int, str] | None = None) -> RecordCheck:
    """Recompute the record's hash and check its prev_hash against the previous record's entry_hash.

    The previous hash comes from `known_hashes` (sequence -> entry_hash) when it holds it, else one indexed query.
    """
    problems = []
    computed = entry_hash(record_values(record))
    hash_ok = computed == record.entry_hash
    if not hash_ok:
        problems.append(
            f"content does not match its hash (stored {record.entry_hash[:12]}…, recomputed {computed[:12]}…)"
        )
    if record.sequence == 1:
        expected = GENESIS_HASH
    elif known_hashes is not None and record.sequence - 1 in known_hashes:
        expected = known_hashes[record.sequence - 1]
    else:
        expected = (
            AcceptanceRecord.objects.filter(sequence=record.sequence - 1).values_list("entry_hash", flat=True).first()
        )
    if expected is None:
        link_ok = False
        problems.append(f"record #{record.sequence - 1} before it is missing")
    else:
        link_ok = record.prev_hash == expected
        if not link_ok:
            problems.append(f"prev_hash does not match record #{record.sequence - 1}'s hash")
    return RecordCheck(record.sequence, hash_ok, link_ok, "; ".join(problems))


# (column header, values_list path) — the CSV shape shared by the admin's export and the evidence export.
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("sequence", "sequence"),
    ("created_at_utc", "created_at"),
    ("account_id", "account_id"),
    ("account_name", "account_name"),
    ("reseller_id", "reseller_id"),
    ("reseller_name", "reseller_name"),
    ("tenant_id", "tenant_id"),
    ("actor_user_id", "actor_user_id"),
    ("actor_username", "actor_username"),
    ("actor_display_name", "actor_display_name"),
    ("actor_role", "actor_role"),
    ("actor_organisation", "actor_organisation"),
    ("channel", "channel"),
    ("host", "host"),
    ("ip_address", "ip_address"),
    ("user_agent", "user_agent"),
    ("agreement_type", "agreement_type"),
    ("template_id", "template_id"),
    ("template_version_rank", "template_version_rank"),
    ("document_link", "document_link"),
    ("language", "language"),
    ("country", "country"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("email", "email"),
    ("phone", "phone"),
    ("date_agreed", "date_agreed"),
    ("form_data_as_entered", "form_data"),
    ("order_number", "order_number"),
    ("subscription_ref", "subscription_ref"),
    ("operation", "operation"),
    ("evidence_class", "evidence_class"),
    ("log_sufficient_as_proof", "log_sufficient_as_proof"),
    ("delivery_state", "delivery__state"),
    ("delivery_sent_at", "delivery__sent_at"),
    ("prev_hash", "prev_hash"),
    ("entry_hash", "entry_hash"),
)
CSV_HEADER = [header for header, _ in CSV_COLUMNS]
CSV_PATHS = [path for _, path in CSV_COLUMNS]

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell value a spreadsheet shows as text: formula-like text gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_rows(queryset: QuerySet, *, chunk_size: int = 2000) -> Iterator[list[Any]]:
    """The header, then one safe row per record, streamed (server-side cursor on PostgreSQL)."""
    yield CSV_HEADER
    for row in queryset.values_list(*CSV_PATHS).iterator(chunk_size=chunk_size):
        yield [csv_cell(value) for value in row]


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


def csv_text(rows: Iterable[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(rows)
    return buffer.getvalue()
