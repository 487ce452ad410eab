"""The acceptance log's hash chain: the canonical form of a record, its keyed seal, and verification of the chain.

Canonical form, hash version N (changing it needs a new version; tests pin the bytes of a fixture per version):

    b"mca-acceptance-log/vN\\n" + the fields of the version's list, in that order, each encoded as
        "~"                    for None (SQL NULL)
        "<n>:<text>"           otherwise, where <text> is the value as text and <n> its length in characters:
                               str as is; int in decimal; bool "1"/"0"; date "YYYY-MM-DD";
                               datetime in UTC as "YYYY-MM-DDTHH:MM:SS.ffffffZ"
    all joined with no separator, UTF-8 encoded.

Versions 1 and 2: the list includes `prev_hash`, and entry_hash = SHA-256(canonical form) as lowercase hex.

Version 3 separates the content from the link and keys each record:

    content_digest = SHA-256(canonical form of CONTENT_FIELDS_V3)        (version 2's fields without prev_hash)
    entry_hash     = SHA-256(b"mca-acceptance-log/v3\\n" + prev_hash + content_digest)   (both as ASCII hex)
    mac            = HMAC-SHA256(MCA_LOG_HMAC_KEYS[key_id], entry_hash as ASCII hex)

so a proof that two records are linked needs only (prev_hash, content_digest, entry_hash) of the records between
them, never their content; and a row inserted or rewritten by someone who can write the database but does not
hold the key (it lives in the settings, never in the database) carries no valid MAC. The two inputs never
collide: a content form's first field is "<n>:" or "~", never 128 hex digits.

The first record's prev_hash is 64 zeros. Length-prefixing makes the encoding unambiguous without escaping, and it
is cheap to build from a `values_list` row, so verification streams a million rows without model instances.

Verification of the records themselves (`verify_hashed_rows`: sequence continuity, link, content, MAC, no version
going back) is here; `mca.verify.verify_chain`, a module above this one and `mca.checkpoints`, adds the end of the
log against the chain head and against the signed checkpoints kept outside the database: records missing up to a
checkpoint, a chain recomputed since one, an extra record past the head are each named.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.conf import settings
from django.db import connection

from mca.models import GENESIS_HASH, AcceptanceRecord

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
# Version 3: version 2's record fields; the content digest covers all of them but prev_hash, which is chained
# outside it (see the module docstring).
HASHED_FIELDS_V3: tuple[str, ...] = HASHED_FIELDS_V2
CONTENT_FIELDS_V3: tuple[str, ...] = tuple(name for name in HASHED_FIELDS_V3 if name != "prev_hash")
HASHED_FIELDS_BY_VERSION: dict[int, tuple[str, ...]] = {1: HASHED_FIELDS_V1, 2: HASHED_FIELDS_V2, 3: HASHED_FIELDS_V3}
KEYED_VERSION = 3  # from this version on, records carry key_id and mac
CURRENT_VERSION = AcceptanceRecord.HASH_VERSION
HASHED_FIELDS = HASHED_FIELDS_BY_VERSION[CURRENT_VERSION]
# What verification reads per row: every field of the newest version, the seal, the stored hash and the primary
# key. Every older list is a prefix of the newest, so one row serves each version.
VERIFY_COLUMNS: tuple[str, ...] = (*HASHED_FIELDS, "key_id", "mac", "entry_hash", "id")
_SEQUENCE, _PREV_HASH = HASHED_FIELDS.index("sequence"), HASHED_FIELDS.index("prev_hash")
_VERSION = HASHED_FIELDS.index("hash_version")
_FIELD_COUNT = len(HASHED_FIELDS)
_KEY_ID, _MAC, _STORED = _FIELD_COUNT, _FIELD_COUNT + 1, _FIELD_COUNT + 2
_PREFIX_COUNT = {version: len(fields) for version, fields in HASHED_FIELDS_BY_VERSION.items()}
assert all(HASHED_FIELDS[: len(fields)] == fields for fields in HASHED_FIELDS_BY_VERSION.values())
assert _PREV_HASH == 2 and HASHED_FIELDS_V3[:2] + HASHED_FIELDS_V3[3:] == CONTENT_FIELDS_V3


def prefix(version: int) -> str:
    return f"mca-acceptance-log/v{version}\n"


_V3_LINK_PREFIX = prefix(3).encode()


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
    """The canonical form of one record, from its values in the order of its version's field list.

    Versions 1 and 2: the whole record, prev_hash included (its SHA-256 is the entry hash). Version 3: the
    content without prev_hash (its SHA-256 is the content digest)."""
    if version not in HASHED_FIELDS_BY_VERSION:
        raise ValueError(f"unknown hash version {version!r}")
    values = values[: _PREFIX_COUNT[version]]
    if version >= KEYED_VERSION:
        values = [*values[:_PREV_HASH], *values[_PREV_HASH + 1 :]]
    parts = [prefix(version)]
    append = parts.append
    for value in values:
        # str and int inline (most fields; bool is not `int` by type), everything else through `_text`.
        kind = type(value)
        if kind is str:
            text = value
        elif kind is int:
            text = str(value)
        elif value is None:
            append("~")
            continue
        else:
            text = _text(value)
        append(f"{len(text)}:{text}")
    return "".join(parts).encode()


def content_digest(values: Sequence[Any], version: int = CURRENT_VERSION) -> str:
    """Version 3: SHA-256 of the content (everything but prev_hash). Versions 1 and 2 have none."""
    if version < KEYED_VERSION:
        raise ValueError(f"hash version {version} records have no separate content digest")
    return hashlib.sha256(canonical_bytes(values, version)).hexdigest()


def link_hash(prev_hash: str, digest: str) -> str:
    """Version 3's entry hash: the previous record's entry hash and this record's content digest, chained."""
    return hashlib.sha256(_V3_LINK_PREFIX + prev_hash.encode("ascii") + digest.encode("ascii")).hexdigest()


def entry_hash(values: Sequence[Any], version: int = CURRENT_VERSION) -> str:
    if version >= KEYED_VERSION and version in HASHED_FIELDS_BY_VERSION:
        return link_hash(values[_PREV_HASH], hashlib.sha256(canonical_bytes(values, version)).hexdigest())
    return hashlib.sha256(canonical_bytes(values, version)).hexdigest()


def record_values(record: AcceptanceRecord) -> list[Any]:
    return [getattr(record, field) for field in HASHED_FIELDS_BY_VERSION[record.hash_version]]


def record_hash(record: AcceptanceRecord) -> str:
    return entry_hash(record_values(record), record.hash_version)


# --- the keyed seal (version 3) ---


def log_keys() -> dict[str, bytes]:
    """The MAC keys by id, from the settings (never from the database)."""
    return settings.MCA_LOG_HMAC_KEYS


def current_key_id() -> str:
    return settings.MCA_LOG_HMAC_KEY_ID


def mac_for(entry_hash_hex: str, key: bytes) -> str:
    return hmac.digest(key, entry_hash_hex.encode("ascii"), "sha256").hex()


def seal(entry_hash_hex: str) -> tuple[str, str]:
    """(key_id, mac) for a new record's entry hash, with the current key."""
    key_id = current_key_id()
    return key_id, mac_for(entry_hash_hex, log_keys()[key_id])


def mac_problem(entry_hash_hex: str, key_id: str, mac: str, keys: dict[str, bytes] | None = None) -> str | None:
    """Why a version-3 record's seal does not verify, or None when it does."""
    keys = log_keys() if keys is None else keys
    if not key_id or not mac:
        return "it carries no MAC: it was not written by the application (a version-3 record is always sealed)"
    key = keys.get(key_id)
    if key is None:
        return (
            f"it names MAC key {key_id!r}, which is not among MCA_LOG_HMAC_KEYS: it cannot be checked "
            "(a forged key id, or a retired key missing from the settings)"
        )
    if not hmac.compare_digest(mac_for(entry_hash_hex, key), mac):
        return (
            f"its MAC does not verify with key {key_id!r}: it was written or rewritten by someone without the "
            "log's key (a forged append or a rewrite)"
        )
    return None


# --- verification ---


class BreakKind:
    """What kind of break: each has its own message (and tests)."""

    MISSING = "missing"  # records absent: a gap, the end short of the head, or short of a checkpoint
    EXTRA = "extra"  # records past the chain head
    REPEAT = "repeat"  # a sequence number repeats or goes back
    CONTENT = "content"  # the content does not match the stored hash
    LINK = "link"  # prev_hash does not match the previous record's hash
    MAC = "mac"  # the keyed seal is missing or does not verify
    VERSION = "version"  # an unknown hash version
    DOWNGRADE = "downgrade"  # a record of an older (unkeyed) hash version after newer ones or after a checkpoint
    CHECKPOINT = "checkpoint"  # the record at a checkpoint's sequence is not the one the checkpoint signed
    CHECKPOINT_SIGNATURE = "checkpoint_signature"  # a checkpoint file that does not verify
    CHECKPOINT_STORAGE = "checkpoint_storage"  # the checkpoints could not be read at all
    UNCOVERED = "uncovered"  # records no checkpoint covers, long after they were written: absence is not trust
    KNOWLEDGE = "knowledge"  # a CustomerKnowledge row whose seal does not verify (forged or edited "accepted")
    HEAD = "head"  # the chain head names a different hash for the last record


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    record_id: int | None
    problem: str
    kind: str = BreakKind.CONTENT

    def __str__(self) -> str:
        if self.kind == BreakKind.KNOWLEDGE:
            return self.problem
        if self.record_id is None:
            return f"at #{self.sequence}: {self.problem}"
        return f"record #{self.sequence} (id {self.record_id}): {self.problem}"


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    last_sequence: int
    first_break: ChainBreak | None = None
    # Every break found (the chain stops at its first; the end, the head and each checkpoint are checked too).
    breaks: tuple[ChainBreak, ...] = ()
    last_hash: str = GENESIS_HASH
    last_id: int | None = None
    # Where verification started: 0 for the whole log, a checkpoint's sequence for an incremental run.
    started_after: int = 0
    checkpoints_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.first_break is None and not self.breaks


# One row as the verifier sees it:
# (sequence, id, prev_hash, hash_version, key_id, mac, stored entry_hash, recomputed entry_hash).
HashedRow = tuple[int, int, str, int, str, str, str, str]


def _python_hashed_rows(chunk_size: int, after: int = 0) -> Iterator[HashedRow]:
    """Every record after sequence `after`, in sequence order, with its hash recomputed in Python (any database).

    Keyset pages (sequence > last) keep each query short and index-driven and never hold a long transaction
    open, so verifying a large log does not block appends.
    """
    last = after
    queryset = AcceptanceRecord.objects.order_by("sequence").values_list(*VERIFY_COLUMNS)
    while True:
        chunk = list(queryset.filter(sequence__gt=last)[:chunk_size])
        if not chunk:
            return
        for row in chunk:
            version = row[_VERSION]
            try:
                recomputed = entry_hash(row[:_FIELD_COUNT], version)
            except ValueError:
                recomputed = f"unknown hash version {version}"
            yield row[_SEQUENCE], row[-1], row[_PREV_HASH], version, row[_KEY_ID], row[_MAC], row[_STORED], recomputed
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


def _prefix_sql(version: int) -> str:
    return f"'{prefix(version).rstrip(chr(10))}' || chr(10)"


def canonical_sql(version: int = CURRENT_VERSION) -> str:
    """`canonical_bytes` as one PostgreSQL expression over a record row (see the format above)."""
    fields = HASHED_FIELDS_BY_VERSION[version]
    if version >= KEYED_VERSION:
        fields = CONTENT_FIELDS_V3
    parts = [f"COALESCE(length({text}) || ':' || {text}, '~')" for text in map(_sql_text, fields)]
    return "convert_to(" + " || ".join([_prefix_sql(version), *parts]) + ", 'UTF8')"


def content_digest_sql(version: int = CURRENT_VERSION) -> str:
    return f"encode(sha256({canonical_sql(version)}), 'hex')"


def hash_sql() -> str:
    """The recomputed entry hash of a row, by its own hash version (an unknown version never matches)."""
    cases = []
    for version in HASHED_FIELDS_BY_VERSION:
        if version >= KEYED_VERSION:
            link = f"convert_to({_prefix_sql(version)} || prev_hash || {content_digest_sql(version)}, 'UTF8')"
            cases.append(f"WHEN {version} THEN encode(sha256({link}), 'hex')")
        else:
            cases.append(f"WHEN {version} THEN encode(sha256({canonical_sql(version)}), 'hex')")
    return f"CASE hash_version {' '.join(cases)} ELSE 'unknown hash version ' || hash_version::text END"


def _postgresql_hashed_rows(chunk_size: int, after: int = 0) -> Iterator[HashedRow]:
    """Every record after sequence `after`, in sequence order, with its hash recomputed by PostgreSQL itself.

    Building the canonical form and hashing it in the database (its built-in sha256) sends eight short columns
    per row instead of forty-five, and skips building a Python object per value: a million records verify
    several times faster than through the ORM. Only the MAC is computed in Python (the key never goes to the
    database), over the entry hash returned. `canonical_sql` mirrors `canonical_bytes`; a test checks they agree.
    """
    table = connection.ops.quote_name(AcceptanceRecord._meta.db_table)
    sql = (
        # Built from the model's own column names, never from input.
        f"SELECT sequence, id, prev_hash, hash_version, key_id, mac, entry_hash, {hash_sql()} "  # noqa: S608
        f"FROM {table} WHERE sequence > %s ORDER BY sequence LIMIT %s"
    )
    last = after
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, [last, chunk_size])
            chunk = cursor.fetchall()
            if not chunk:
                return
            yield from chunk
            last = chunk[-1][0]


def hashed_rows(chunk_size: int = 10_000, after: int = 0) -> Iterator[HashedRow]:
    if connection.vendor == "postgresql":
        return _postgresql_hashed_rows(chunk_size, after)
    return _python_hashed_rows(chunk_size, after)


def verify_hashed_rows(
    rows: Iterable[HashedRow],
    progress: Callable[[int], None] | None = None,
    *,
    after: int = 0,
    after_hash: str = GENESIS_HASH,
    after_version: int = 0,
    keyed_after: int | None = None,
    keys: dict[str, bytes] | None = None,
) -> VerifyResult:
    """Check sequence continuity, the prev-hash links, each row's own hash and (version 3) its MAC; stop at the
    first break. Starts after record #`after` whose hash is `after_hash` (0 and the genesis hash: the whole log).

    A record may never have an older hash version than one before it, nor an unkeyed version after sequence
    `keyed_after` (the first checkpoint signed by a version-3 writer): an insider could otherwise rewrite records
    as version 2, which needs no key.
    """
    keys = log_keys() if keys is None else keys
    compare = hmac.compare_digest
    expected_prev, expected_sequence, checked, highest = after_hash, after + 1, 0, after_version
    last_id: int | None = None

    def broken(sequence: int, record_id: int | None, kind: str, problem: str) -> VerifyResult:
        found = ChainBreak(sequence, record_id, problem, kind)
        return VerifyResult(
            checked, expected_sequence - 1, found, (found,), expected_prev, last_id, started_after=after
        )

    for sequence, record_id, prev_hash, version, key_id, mac, stored, recomputed in rows:
        if sequence != expected_sequence:
            if sequence > expected_sequence:
                missing = (
                    f"#{expected_sequence}"
                    if sequence == expected_sequence + 1
                    else f"#{expected_sequence}–#{sequence - 1}"
                )
                return broken(
                    sequence,
                    record_id,
                    BreakKind.MISSING,
                    f"sequence gap: expected #{expected_sequence}, found #{sequence}: record(s) {missing} are "
                    "missing before it (deleted)",
                )
            return broken(
                sequence,
                record_id,
                BreakKind.REPEAT,
                f"sequence repeats or goes back: expected #{expected_sequence}",
            )
        if version not in HASHED_FIELDS_BY_VERSION:
            return broken(sequence, record_id, BreakKind.VERSION, f"unknown hash version {version}")
        if version < highest:
            return broken(
                sequence,
                record_id,
                BreakKind.DOWNGRADE,
                f"hash version {version} after version-{highest} records: an unkeyed record where only sealed ones "
                "are written (forged or rewritten without the key)",
            )
        if keyed_after is not None and sequence > keyed_after and version < KEYED_VERSION:
            return broken(
                sequence,
                record_id,
                BreakKind.DOWNGRADE,
                f"hash version {version} at or after the keyed-since floor (#{keyed_after + 1}, from which every "
                "record is sealed): an unkeyed record where only sealed ones are written (forged or rewritten "
                "without the key)",
            )
        if prev_hash != expected_prev:
            return broken(
                sequence,
                record_id,
                BreakKind.LINK,
                f"prev_hash {prev_hash[:12]}… does not match record #{sequence - 1}'s hash {expected_prev[:12]}…",
            )
        if recomputed != stored:
            return broken(
                sequence,
                record_id,
                BreakKind.CONTENT,
                f"content does not match its hash (stored {stored[:12]}…, recomputed {recomputed[:12]}…): "
                "a field was changed after it was written",
            )
        if version >= KEYED_VERSION:
            key = keys.get(key_id)
            if key is None or not mac or not compare(hmac.digest(key, stored.encode("ascii"), "sha256").hex(), mac):
                return broken(sequence, record_id, BreakKind.MAC, mac_problem(stored, key_id, mac, keys) or "bad MAC")
        checked += 1
        highest = version
        expected_prev, expected_sequence, last_id = stored, sequence + 1, record_id
        if progress is not None and checked % 10_000 == 0:
            progress(10_000)
    if progress is not None:
        progress(checked % 10_000)
    return VerifyResult(checked, expected_sequence - 1, None, (), expected_prev, last_id, started_after=after)


def record_at(sequence: int) -> tuple[int, str, int, str, str, list[Any]] | None:
    """(id, entry_hash, hash_version, key_id, mac, values) of the record at `sequence`, or None."""
    row = AcceptanceRecord.objects.filter(sequence=sequence).values_list(*VERIFY_COLUMNS).first()
    if row is None:
        return None
    return row[-1], row[_STORED], row[_VERSION], row[_KEY_ID], row[_MAC], list(row[:_FIELD_COUNT])
