"""The CSV shape of acceptance records, shared by the admin's export and the evidence export: one safe row per
record (formula-like text quoted against CSV injection), streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet

# (column header, values_list path) — the CSV shape shared by the admin's export and the evidence export.
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("sequence", "sequence"),
    ("created_at_utc", "created_at"),
    ("event", "event"),
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
    ("signatory_company", "signatory_company"),
    ("authority_declared", "authority_declared"),
    ("attestation_id", "attestation_id"),
    ("link_expires_at_utc", "link_expires_at"),
    ("microsoft_answer", "microsoft_answer"),
    ("form_data_as_entered", "form_data"),
    ("order_number", "order_number"),
    ("subscription_ref", "subscription_ref"),
    ("operation", "operation"),
    ("evidence_class", "evidence_class"),
    ("log_sufficient_as_proof", "log_sufficient_as_proof"),
    ("delivery_state", "delivery__state"),
    ("delivery_sent_at", "delivery__sent_at"),
    ("hash_version", "hash_version"),
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
