"""The acceptance log's hash chain: the canonical form of a record, and verification of the whole chain.

Canonical form, hash version N (changing it needs a new version; tests pin the bytes of a fixture per version):

    b"mca-acceptance-log/vN\\n" + the fields of HASHED_FIELDS_BY_VERSION[N], in that order, each encoded as
        "~"                    for None (SQL NULL)
        "<n>:<text>"           otherwise, where <text> is the value as text and <n> its length in characters:
                               str as is; int in decimal; bool "1"/"0"; date "YYYY-MM-DD";
                               datetime in UTC as "YYYY-MM-DDTHH:MM:SS.ffffffZ"
    all joined with no separator, UTF-8 encoded.

    entry_hash = SHA-256(canonical form) as lowercase hex. `prev_hash` is one of the fields, which chains each
    record to the one before it (sequence - 1); the first record's prev_hash is 64 zeros.

Length-prefixing makes the encoding unambiguous without escaping, and it is cheap to build from a
`values_list` row, so verification streams a million rows without model instances or JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection

from mca.models import GENESIS_HASH, AcceptanceRecord, ChainHead

HASHED_FIELDS_V1: tuple[str, ...] = (
    "sequence",
    "hash_version",
    "prev_hash",
    "created_at",
    "idempotency_key",
    "actor_user_id",
    "actor_username",
    "actor_display_name",
    "actor_role",
    "actor_organisation",
    "account_id",
    "account_name",
    "reseller_id",
    "reseller_name",
    "tenant_id",
    "channel",
    "host",
    "ip_address",
    "user_agent",
    "agreement_type",
    "template_id",
    "template_version_rank",
    "document_link",
    "language",
    "country",
    "form_data",
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_agreed",
    "order_number",
    "subscription_ref",
    "operation",
    "evidence_class",
    "log_sufficient_as_proof",
)
# Version 2: the event chain of Microsoft's enhanced attestation. Version-1 records (legacy confirmations written
# before it) keep their version and verify with the version-1 list.
HASHED_FIELDS_V2: tuple[str, ...] = (
    *HASHED_FIELDS_V1,
    "event",
    "attestation_id",
    "signatory_company",
    "authority_declared",
    "link_expires_at",
    "microsoft_answer",
)
HASHED_FIELDS_BY_VERSION: dict[int, tuple[str, ...]] = {1: HASHED_FIELDS_V1, 2: HASHED_FIELDS_V2}
CURRENT_VERSION = AcceptanceRecord.HASH_VERSION
HASHED_FIELDS = HASHED_FIELDS_BY_VERSION[CURRENT_VERSION]
# What verification reads per row: every field of the newest version, then the stored hash and the primary key.
# Every older list is a prefix of the newest, so one row serves each version.
VERIFY_COLUMNS: tuple[str, ...] = (*HASHED_FIELDS, "entry_hash", "id")
_SEQUENCE, _PREV_HASH = HASHED_FIELDS.index("sequence"), HASHED_FIELDS.index("prev_hash")
_VERSION = HASHED_FIELDS.index("hash_version")
_FIELD_COUNT = len(HASHED_FIELDS)
_PREFIX_COUNT = {version: len(fields) for version, fields in HASHED_FIELDS_BY_VERSION.items()}
assert all(HASHED_FIELDS[: len(fields)] == fields for fields in HASHED_FIELDS_BY_VERSION.values())


def prefix(version: int) -> str:
    return f"mca-acceptance-log/v{version}\n"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def canonical_bytes(values: Sequence[Any], version: int = CURRENT_VERSION) -> bytes:
    """The canonical form of one record, from its values in the order of its version's field list."""
    if version not in HASHED_FIELDS_BY_VERSION:
        raise ValueError(f"unknown hash version {version!r}")
    parts = [prefix(version)]
    for value in values[: _PREFIX_COUNT[version]]:
        text = _text(value)
        parts.append("~" if text is None else f"{len(text)}:{text}")
    return "".join(parts).encode()


def entry_hash(values: Sequence[Any], version: int = CURRENT_VERSION) -> str:
    return hashlib.sha256(canonical_bytes(values, version)).hexdigest()


def record_values(record: AcceptanceRecord) -> list[Any]:
    return [getattr(record, field) for field in HASHED_FIELDS_BY_VERSION[record.hash_version]]


def record_hash(record: AcceptanceRecord) -> str:
    return entry_hash(record_values(record), record.hash_version)


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    record_id: int | None
    problem: str

    def __str__(self) -> str:
        return f"record #{self.sequence} (id {self.record_id}): {self.problem}"


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    last_sequence: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


# One row as the verifier sees it: (sequence, id, prev_hash, stored entry_hash, recomputed hash).
HashedRow = tuple[int, int, str, str, str]


def _python_hashed_rows(chunk_size: int) -> Iterator[HashedRow]:
    """Every record in sequence order with its hash recomputed in Python (any database).

    Keyset pages (sequence > last) keep each query short and index-driven and never hold a long transaction
    open, so verifying a large log does not block appends.
    """
    last = -1
    queryset = AcceptanceRecord.objects.order_by("sequence").values_list(*VERIFY_COLUMNS)
    sha256 = hashlib.sha256
    while True:
        chunk = list(queryset.filter(sequence__gt=last)[:chunk_size])
        if not chunk:
            return
        for row in chunk:
            try:
                recomputed = sha256(canonical_bytes(row[:_FIELD_COUNT], row[_VERSION])).hexdigest()
            except ValueError:
                recomputed = f"unknown hash version {row[_VERSION]}"
            yield row[_SEQUENCE], row[-1], row[_PREV_HASH], row[_FIELD_COUNT], recomputed
        last = chunk[-1][_SEQUENCE]


def _sql_text(field_name: str) -> str:
    """The SQL that renders one column as `_text` renders its value in Python (NULL stays NULL)."""
    field = AcceptanceRecord._meta.get_field(field_name)  # attnames such as "account_id" resolve too
    column = connection.ops.quote_name(field.column)
    internal = field.get_internal_type()
    if internal == "DateTimeField":
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    if internal == "DateField":
        return f"to_char({column}, 'YYYY-MM-DD')"
    if internal == "BooleanField":
        return f"CASE WHEN {column} THEN '1' WHEN NOT {column} THEN '0' END"
    return f"{column}::text"  # text as is; integers and foreign keys in decimal


def canonical_sql(version: int = CURRENT_VERSION) -> str:
    """`canonical_bytes` as one PostgreSQL expression over a record row (see the format above)."""
    fields = HASHED_FIELDS_BY_VERSION[version]
    parts = [f"COALESCE(length({text}) || ':' || {text}, '~')" for text in map(_sql_text, fields)]
    return "convert_to(" + " || ".join([f"'{prefix(version).rstrip(chr(10))}' || chr(10)", *parts]) + ", 'UTF8')"


def hash_sql() -> str:
    """The recomputed hash of a row, by its own hash version (an unknown version never matches)."""
    cases = " ".join(
        f"WHEN {version} THEN encode(sha256({canonical_sql(version)}), 'hex')" for version in HASHED_FIELDS_BY_VERSION
    )
    return f"CASE hash_version {cases} ELSE 'unknown hash version' END"


def _postgresql_hashed_rows(chunk_size: int) -> Iterator[HashedRow]:
    """Every record in sequence order with its hash recomputed by PostgreSQL itself.

    Building the canonical form and hashing it in the database (its built-in sha256) sends five short columns per
    row instead of thirty-six, and skips building a Python object per value: a million records verify several
    times faster than through the ORM. `canonical_sql` mirrors `canonical_bytes`; a test checks they agree.
    """
    table = connection.ops.quote_name(AcceptanceRecord._meta.db_table)
    sql = (
        # Built from the model's own column names, never from input.
        f"SELECT sequence, id, prev_hash, entry_hash, {hash_sql()} "  # noqa: S608
        f"FROM {table} WHERE sequence > %s ORDER BY sequence LIMIT %s"
    )
    last = -1
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, [last, chunk_size])
            chunk = cursor.fetchall()
            if not chunk:
                return
            yield from chunk
            last = chunk[-1][0]


def hashed_rows(chunk_size: int = 10_000) -> Iterator[HashedRow]:
    if connection.vendor == "postgresql":
        return _postgresql_hashed_rows(chunk_size)
    return _python_hashed_rows(chunk_size)


def verify_hashed_rows(rows: Iterable[HashedRow], progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Check sequence continuity, the prev-hash links and each row's own hash; stop at the first break."""
    expected_prev, expected_sequence, checked = GENESIS_HASH, 1, 0
    for sequence, record_id, prev_hash, stored, recomputed in rows:
        if sequence != expected_sequence:
            problem = (
                f"sequence gap: expected #{expected_sequence}, found #{sequence}"
                if sequence > expected_sequence
                else f"sequence repeats or goes back: expected #{expected_sequence}"
            )
            return VerifyResult(checked, expected_sequence - 1, ChainBreak(sequence, record_id, problem))
        if prev_hash != expected_prev:
            problem = f"prev_hash {prev_hash[:12]}… does not match record #{sequence - 1}'s hash {expected_prev[:12]}…"
            return VerifyResult(checked, sequence - 1, ChainBreak(sequence, record_id, problem))
        if recomputed != stored:
            problem = (
                f"content does not match its hash (stored {stored[:12]}…, recomputed {recomputed[:12]}…): "
                "a field was changed after it was written"
            )
            return VerifyResult(checked, sequence - 1, ChainBreak(sequence, record_id, problem))
        checked += 1
        expected_prev, expected_sequence = stored, sequence + 1
        if progress is not None and checked % 10_000 == 0:
            progress(10_000)
    if progress is not None:
        progress(checked % 10_000)
    return VerifyResult(checked, expected_sequence - 1, None)


def verify_chain(*, chunk_size: int = 10_000, progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Verify the whole log from its first record, then that it ends where the chain head says it does
    (records removed from the end would leave an intact but shorter chain)."""
    head = ChainHead.objects.filter(pk=1).values_list("last_sequence", "last_hash").first() or (
        0,
        GENESIS_HASH,
    )
    result = verify_hashed_rows(hashed_rows(chunk_size), progress)
    if result.ok and result.last_sequence != head[0]:
        problem = (
            f"the chain head says the log ends at #{head[0]}, but the last record is #{result.last_sequence}: "
            "records are missing from the end"
        )
        return VerifyResult(result.checked, result.last_sequence, ChainBreak(result.last_sequence + 1, None, problem))
    return result
