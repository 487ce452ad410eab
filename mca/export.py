"""Getting acceptance records out: CSV rows (admin export, evidence export), the R14 evidence export (a folder)
and the evidence pack (one zip per customer that a third party verifies with `verify.py` alone)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.utils import timezone

from bss.models import Account
from mca.chain import (
    HASHED_FIELDS_BY_VERSION,
    KEYED_VERSION,
    VerifyResult,
    _text,
    canonical_bytes,
    content_digest,
    mac_problem,
    record_hash,
    record_values,
)
from mca.choices import EvidenceClass
from mca.knowledge import known_acceptance, still_counts
from mca.models import GENESIS_HASH, AcceptanceDelivery, AcceptanceRecord, Attestation, KnownTemplate
from mca.rules import cloud_agreement_counts
from mca.verify import verify_chain


@dataclass(frozen=True)
class RecordCheck:
    """One record's own chain check: its content against its hash, and its link to the record before it."""

    sequence: int
    hash_ok: bool
    link_ok: bool
    problem: str
    mac_ok: bool = True

    @property
    def ok(self) -> bool:
        return self.hash_ok and self.link_ok and self.mac_ok

    def __str__(self) -> str:
        return (
            f"Record #{self.sequence}: intact (hash, seal and link to the previous record match)"
            if self.ok
            else (f"Record #{self.sequence}: {self.problem}")
        )


def check_record(record: AcceptanceRecord, known_hashes: dict[int, str] | None = None) -> RecordCheck:
    """Recompute the record's hash and check its prev_hash against the previous record's entry_hash.

    The previous hash comes from `known_hashes` (sequence -> entry_hash) when it holds it, else one indexed query.
    """
    problems = []
    try:
        computed = record_hash(record)
    except ValueError as error:
        computed = str(error)
    hash_ok = computed == record.entry_hash
    if not hash_ok:
        problems.append(
            f"content does not match its hash (stored {record.entry_hash[:12]}…, recomputed {computed[:12]}…)"
        )
    mac_ok = True
    if record.hash_version >= KEYED_VERSION:
        problem = mac_problem(record.entry_hash, record.key_id, record.mac)
        if problem:
            mac_ok = False
            problems.append(problem)
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
    return RecordCheck(record.sequence, hash_ok, link_ok, "; ".join(problems), mac_ok)


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


# --- R14: the evidence export for one customer ---

RECORD_FIELDS: tuple[str, ...] = tuple(
    field.attname for field in AcceptanceRecord._meta.concrete_fields if field.attname != "id"
)


def customer_accounts(account: Account) -> QuerySet[Account]:
    """The accounts that are the same Microsoft customer: all accounts of its tenant, or the account alone."""
    if account.partner_center_tenant_id is not None:
        return Account.objects.filter(partner_center_tenant_id=account.partner_center_tenant_id).order_by("pk")
    return Account.objects.filter(pk=account.pk)


def _record_json(record: AcceptanceRecord) -> dict[str, Any]:
    data: dict[str, Any] = {"id": record.pk}
    data.update({name: getattr(record, name) for name in RECORD_FIELDS})
    try:
        data["form_data_parsed"] = json.loads(record.form_data)
    except ValueError:
        data["form_data_parsed"] = None
    data["confirmer"] = record.confirmer
    return data


def _delivery_json(record: AcceptanceRecord) -> dict[str, Any]:
    try:
        delivery = record.delivery
    except AcceptanceDelivery.DoesNotExist:
        return {"record_sequence": record.sequence, "record_id": record.pk, "state": None}
    return {
        "record_sequence": record.sequence,
        "record_id": record.pk,
        "state": delivery.state,
        "state_display": delivery.get_state_display(),
        "request_id": str(delivery.request_id),
        "tenant_id": delivery.tenant_id,
        "template_id": delivery.template_id,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "last_error": delivery.last_error,
        "last_status_code": delivery.last_status_code,
        "already_confirmed": delivery.already_confirmed,
        "partner_center_answer": delivery.response,
        "sent_at": delivery.sent_at,
    }


def _how_known(account: Account) -> str:
    """How the customer's acceptance is known now, from what is stored here (Partner Center is not asked)."""
    knowledge = known_acceptance(account)
    if knowledge is not None:
        text = f"{knowledge.get_kind_display()}, accepted {knowledge.accepted_at:%Y-%m-%d}"
        if knowledge.confirmed_by:
            text += f" by {knowledge.confirmed_by}"
        text += (
            f"; last verified at Partner Center {knowledge.verified_at:%Y-%m-%d %H:%M} UTC"
            if (knowledge.verified_at)
            else "; known here only (not verified at Partner Center)"
        )
        if not still_counts(knowledge):
            text += ". It no longer counts (a partner confirmation from before the MCA refresh): acceptance needed"
        return text + "."
    if cloud_agreement_counts(account.cloud_agreement_accepted_at):
        return (
            f"Microsoft Cloud Agreement accepted {account.cloud_agreement_accepted_at:%Y-%m-%d} (before the cut-over)."
        )
    return "Nothing is known here: acceptance would be asked for" + (
        " (Partner Center is asked at the next check)." if account.is_synced else "."
    )


@dataclass
class Evidence:
    """What one customer's evidence holds, gathered once for the folder export and the pack."""

    account: Account
    accounts: list[Account]
    records: list[AcceptanceRecord]
    checks: list[RecordCheck]
    chain: VerifyResult
    now: datetime
    files: dict[str, str]


def gather_evidence(
    account: Account, *, now: datetime | None = None, within: QuerySet[Account] | None = None
) -> Evidence:
    """records.json / records.csv: every record of the customer (all accounts of its Partner Center tenant, or the
    account if not synced), every field, the form as entered. chain.json: the whole chain's verification (records,
    head and checkpoints) and, per record, its own hash, seal and link check. deliveries.json: what Partner Center
    was sent and answered. attestations.json: the enhanced attestations' progress. README.md: a summary.
    `within` (e.g. `Account.objects.visible_to(user)`) limits it to the accounts a user may see: white-label staff
    get their own account's records, not another reseller's of the same tenant."""
    customers = customer_accounts(account)
    accounts = list(customers if within is None else customers.filter(pk__in=within))
    records = list(
        AcceptanceRecord.objects.filter(account__in=[a.pk for a in accounts])
        .select_related("delivery")
        .order_by("sequence")
    )
    now = now or timezone.now()
    chain = verify_chain()
    known = {r.sequence: r.entry_hash for r in records}
    checks = [check_record(record, known) for record in records]
    files: dict[str, str] = {
        "records.json": _dumps([_record_json(record) for record in records]),
        "records.csv": csv_text(
            csv_rows(AcceptanceRecord.objects.filter(pk__in=[r.pk for r in records]).order_by("sequence"))
        ),
        "chain.json": _dumps(
            {
                "verified_at": now,
                "whole_chain": {
                    "intact": chain.ok,
                    "records_checked": chain.checked,
                    "last_sequence": chain.last_sequence,
                    "first_break": str(chain.first_break) if chain.first_break else None,
                },
                "breaks": [{"kind": b.kind, "sequence": b.sequence, "text": str(b)} for b in chain.breaks],
                "checkpoints_checked": chain.checkpoints_checked,
                "records": [
                    {
                        "sequence": check.sequence,
                        "entry_hash": record.entry_hash,
                        "prev_hash": record.prev_hash,
                        "hash_ok": check.hash_ok,
                        "prev_link_ok": check.link_ok,
                        "mac_ok": check.mac_ok,
                        "problem": check.problem or None,
                    }
                    for record, check in zip(records, checks, strict=True)
                ],
                "hash_format": "see mca/chain.py: SHA-256 over the length-prefixed canonical form of each record's "
                "hash_version (1: the legacy confirmation's fields; 2: plus the event fields; 3: the content "
                "without prev_hash, then SHA-256 of prefix + prev_hash + content digest, sealed with an HMAC)",
            }
        ),
        "deliveries.json": _dumps([_delivery_json(record) for record in records]),
        "attestations.json": _dumps(_attestations_json(accounts)),
    }
    files["README.md"] = _readme(account, accounts, records, checks, chain, now)
    return Evidence(account, accounts, records, checks, chain, now, files)


def export_evidence(account: Account, out_dir: Path | str, *, within: QuerySet[Account] | None = None) -> Path:
    """Write the evidence for one Microsoft customer (R14) into a new folder under `out_dir`; returns the folder.

    The files of `gather_evidence`, and SHA256SUMS: the files' digests, so the hand-over can be checked. The
    evidence pack (`export_evidence_pack`) holds the same and what a third party needs to verify it alone.
    """
    evidence = gather_evidence(account, within=within)
    folder = Path(out_dir) / f"mca-evidence-account-{account.pk}-{evidence.now:%Y%m%dT%H%M%SZ}"
    folder.mkdir(parents=True, exist_ok=False)
    for name, text in evidence.files.items():
        (folder / name).write_text(text, encoding="utf-8")
    sums = "".join(f"{hashlib.sha256(text.encode()).hexdigest()}  {name}\n" for name, text in evidence.files.items())
    (folder / "SHA256SUMS").write_text(sums, encoding="utf-8")
    return folder


def _attestations_json(accounts: list[Account]) -> list[dict[str, Any]]:
    """Each enhanced attestation's progress (mutable, outside the log): its link, expiry and state."""
    rows = Attestation.objects.filter(account__in=[a.pk for a in accounts]).select_related("form_record")
    return [
        {
            "form_record_sequence": attestation.form_record.sequence,
            "state": attestation.state,
            "state_display": attestation.get_state_display(),
            "microsoft_attestation_id": attestation.attestation_id,
            "signatory": attestation.signatory_name,
            "signatory_email": attestation.signatory_email,
            "link_expires_at": attestation.expires_at,
            "accepted_at": attestation.accepted_at,
            "created_at": attestation.created_at,
            "last_error": attestation.last_error,
        }
        for attestation in rows.order_by("created_at")
    ]


def _dumps(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False) + "\n"


def _readme(account, accounts, records, checks, chain, now) -> str:
    first_party = [r for r in records if r.evidence_class == EvidenceClass.FIRST_PARTY]
    by_state = Counter(_delivery_json(r)["state"] or "none" for r in records)
    lines = [
        f"# MCA acceptance evidence: {account.name}",
        "",
        f"Exported {now:%Y-%m-%d %H:%M:%S} UTC.",
        "",
        "## Customer",
        "",
        f"- Account: {account.name} (id {account.pk}), {account.owner_name}",
        f"- Partner Center tenant: {account.partner_center_tenant_id or 'none yet (not synced)'}",
    ]
    if len(accounts) > 1:
        others = ", ".join(f"{a.name} (id {a.pk}, {a.owner_name})" for a in accounts if a.pk != account.pk)
        lines.append(f"- The same Microsoft customer in other accounts (records included): {others}")
    lines += [
        f"- Acceptance known now: {_how_known(account)}",
        "",
        "## Records",
        "",
        f"{len(records)} acceptance log record(s); {len(first_party)} first-party, "
        f"{len(records) - len(first_party)} attestation(s).",
        "",
    ]
    if records:
        lines += [
            "| # | created (UTC) | step | account | by | channel | evidence | log alone is proof | delivery |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for record in records:
            delivery = _delivery_json(record)
            lines.append(
                f"| {record.sequence} | {record.created_at:%Y-%m-%d %H:%M:%S} | {record.get_event_display()} | "
                f"{record.account_name} | "
                f"{record.confirmer} | {record.get_channel_display()} | {record.get_evidence_class_display()} | "
                f"{'yes' if record.log_sufficient_as_proof else 'no'} | {delivery.get('state_display', 'none')} |"
            )
        lines.append("")
    lines.append(
        "A first-party record (the customer's own user accepted) is sufficient proof on its own. "
        "An attestation (a reseller or BSS user confirmed on the customer's behalf) is backed by Partner Center's "
        "record of the confirmation: see deliveries.json."
        if first_party
        else "No first-party record: the proof is the attestation together with Partner Center's answer "
        "(deliveries.json)."
    )
    broken = [c for c in checks if not c.ok]
    lines += [
        "",
        "## Chain",
        "",
        f"- Whole log: {'intact' if chain.ok else 'NOT intact'}, {chain.checked} record(s) verified"
        + (f"; first break: {chain.first_break}" if chain.first_break else ""),
        f"- This customer's records: {len(checks) - len(broken)} of {len(checks)} match their hash and link"
        + ("" if not broken else "; " + "; ".join(str(c) for c in broken)),
        "",
        "## Delivery to Partner Center",
        "",
    ]
    lines += [f"- {state}: {count}" for state, count in sorted(by_state.items())] or ["- no records"]
    lines += [
        "",
        "## Files",
        "",
        "- records.json, records.csv: every record, every field, the form exactly as entered",
        "- chain.json: the whole-chain verification and each record's own check",
        "- deliveries.json: each record's delivery state and Partner Center's answer",
        "- attestations.json: each enhanced attestation's link, expiry and progress (the signatory's story)",
        "- SHA256SUMS: digests of the files above (`sha256sum -c SHA256SUMS`)",
        "",
    ]
    return "\n".join(lines)


# --- the evidence pack: one zip per customer, verifiable by a third party with verify.py alone ---

VERIFY_SCRIPT = Path(__file__).resolve().parent / "evidence_verify.py"
PROOF_FORMAT = "mca-evidence-proof/v1"
# A font with every script's letters for the PDF (Debian's fonts-dejavu-core); Helvetica (Latin-1) otherwise.
PDF_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
)


def _field_texts(record: AcceptanceRecord) -> dict[str, str | None]:
    """The record's hashed fields as the canonical form renders them (what verify.py decodes)."""
    names = HASHED_FIELDS_BY_VERSION[record.hash_version]
    if record.hash_version >= KEYED_VERSION:
        names = tuple(name for name in names if name != "prev_hash")
    return {name: _text(getattr(record, name)) for name in names}


def _proof_record(record: AcceptanceRecord) -> dict[str, Any]:
    values = record_values(record)
    version = record.hash_version
    return {
        "sequence": record.sequence,
        "id": record.pk,
        "event": record.event,
        "name": f"{record.first_name} {record.last_name}",
        "hash_version": version,
        "canonical_b64": base64.b64encode(canonical_bytes(values, version)).decode("ascii"),
        "fields": _field_texts(record),
        "prev_hash": record.prev_hash,
        "content_digest": content_digest(values, version) if version >= KEYED_VERSION else None,
        "entry_hash": record.entry_hash,
        "key_id": record.key_id,
        "mac": record.mac,
    }


def chain_links(first: int, last: int) -> list[dict[str, Any]]:
    """(sequence, hash_version, prev_hash, content_digest, entry_hash) of records first..last: what links them,
    without their content. Version-1/2 records have no separate content digest (None)."""
    from mca.chain import _FIELD_COUNT, _VERSION, VERIFY_COLUMNS

    links = []
    rows = (
        AcceptanceRecord.objects.filter(sequence__gte=first, sequence__lte=last)
        .order_by("sequence")
        .values_list(*VERIFY_COLUMNS)
    )
    for row in rows.iterator(chunk_size=2000):
        version = row[_VERSION]
        values = row[:_FIELD_COUNT]
        links.append(
            {
                "sequence": row[0],
                "hash_version": version,
                "prev_hash": values[2],
                "content_digest": content_digest(values, version) if version >= KEYED_VERSION else None,
                "entry_hash": row[-2],
            }
        )
    return links


def _proof(records: list[AcceptanceRecord]) -> tuple[dict[str, Any], dict[str, bytes], list[str]]:
    """proof.json, the checkpoint files it needs (pack name -> exact bytes), and notes for the README.

    Each record gets a chain segment up to the first checkpoint at or after it (checkpoints are hourly, so
    segments are short); overlapping segments share one query."""
    from mca.checkpoints import checkpoint_storage, load_checkpoints, raw_public_key, trusted_public_keys

    checkpoints = sorted(load_checkpoints().checkpoints, key=lambda c: (c.sequence, c.time))
    notes: list[str] = []
    covers: dict[int, Any] = {}
    for record in records:
        cover = next((c for c in checkpoints if c.sequence >= record.sequence), None)
        if cover is None:
            notes.append(f"Record #{record.sequence} is not covered by a checkpoint yet (written after the last one).")
            continue
        covers[record.sequence] = cover
    # Merge the [record, checkpoint] ranges and fetch each merged range once.
    ranges: list[list[int]] = []
    for sequence, cover in sorted(covers.items()):
        if ranges and sequence <= ranges[-1][1] + 1:
            ranges[-1][1] = max(ranges[-1][1], cover.sequence)
        else:
            ranges.append([sequence, cover.sequence])
    links_by_sequence: dict[int, dict[str, Any]] = {}
    for first, last in ranges:
        links_by_sequence.update({link["sequence"]: link for link in chain_links(first, last)})
    files: dict[str, bytes] = {}
    segments = []
    storage = checkpoint_storage()
    for sequence, cover in sorted(covers.items()):
        pack_name = "checkpoints/" + cover.name.rsplit("/", 1)[-1]
        if pack_name not in files:
            with storage.open(cover.name, "rb") as handle:
                files[pack_name] = handle.read()
        segments.append(
            {
                "from_sequence": sequence,
                "to_sequence": cover.sequence,
                "checkpoint_file": pack_name,
                "links": [links_by_sequence[s] for s in range(sequence, cover.sequence + 1) if s in links_by_sequence],
            }
        )
    older = [r.sequence for r in records if r.hash_version < KEYED_VERSION]
    if older:
        notes.append(
            f"Records {', '.join(f'#{s}' for s in older)} are of hash version 1/2 (before the keyed chain): their own "
            "hashes are checked from their content; other customers' version-1/2 records between them and a "
            "checkpoint are linked by hash only, so the proof is complete from the first version-3 record on."
        )
    used_keys = {cover.key_id for cover in covers.values()}
    public_keys = [key for key_id, key in trusted_public_keys().items() if key_id in used_keys] or [raw_public_key()]
    proof = {
        "format": PROOF_FORMAT,
        "log_id": settings.MCA_LOG_ID,
        "fields_by_version": {str(v): list(fields) for v, fields in HASHED_FIELDS_BY_VERSION.items()},
        "records": [_proof_record(record) for record in records],
        "segments": segments,
        "checkpoint_files": sorted(files),
        "public_keys": [base64.b64encode(key).decode("ascii") for key in public_keys],
        "notes": notes,
    }
    return proof, files, notes


def _microsoft_answers(records: list[AcceptanceRecord]) -> list[dict[str, Any]]:
    """Microsoft's raw answers: each record's (what the log sealed) and each delivery's (Partner Center's answer)."""
    answers: list[dict[str, Any]] = []
    for record in records:
        if record.microsoft_answer:
            try:
                answer: Any = json.loads(record.microsoft_answer)
            except ValueError:
                answer = record.microsoft_answer
            answers.append(
                {"record_sequence": record.sequence, "event": record.event, "source": "record", "answer": answer}
            )
        delivery = _delivery_json(record)
        if delivery.get("partner_center_answer") is not None or delivery.get("last_error"):
            answers.append(
                {
                    "record_sequence": record.sequence,
                    "event": record.event,
                    "source": "delivery",
                    "state": delivery["state"],
                    "status_code": delivery.get("last_status_code"),
                    "answer": delivery.get("partner_center_answer"),
                    "last_error": delivery.get("last_error") or None,
                }
            )
    return answers


def _templates(records: list[AcceptanceRecord]) -> dict[str, Any]:
    """The agreement template and document each record names as shown, and what is known of them now."""
    shown = [
        {
            "record_sequence": r.sequence,
            "agreement_type": r.agreement_type,
            "template_id": r.template_id,
            "template_version_rank": r.template_version_rank,
            "document_link": r.document_link,
            "language": r.language,
            "country": r.country,
        }
        for r in records
    ]
    keys = {(r.agreement_type, r.country, r.language) for r in records}
    known = [
        {
            "agreement_type": t.agreement_type,
            "country": t.country,
            "language": t.language,
            "template_id": t.template_id,
            "version_rank": t.version_rank,
            "document_link": t.document_link,
            "updated_at": t.updated_at,
        }
        for t in KnownTemplate.objects.order_by("agreement_type", "country", "language")
        if (t.agreement_type, t.country, t.language) in keys
    ]
    return {"shown": shown, "known_now": known}


def _pdf_text(text: str, unicode_font: bool) -> str:
    if unicode_font:
        return text
    return text.encode("latin-1", "replace").decode("latin-1")


def summary_pdf(evidence: Evidence, proof: dict[str, Any]) -> bytes:
    """A human-readable summary of the pack (fpdf2): the customer, each record with its names, the chain, the
    checkpoints and how to verify."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(f"MCA acceptance evidence: {evidence.account.name}")
    pdf.set_creator("mca-acceptance")
    pdf.set_creation_date(evidence.now)
    font = next((path for path in PDF_FONTS if Path(path).is_file()), None)
    if font is not None:
        pdf.add_font("Body", fname=font)
        family = "Body"
    else:
        family = "Helvetica"
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()

    def line(text: str, size: int = 10, gap: float = 1.5) -> None:
        pdf.set_font(family, size=size)
        pdf.multi_cell(0, size * 0.5, _pdf_text(text, font is not None), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    account = evidence.account
    line(f"MCA acceptance evidence: {account.name}", 16, 3)
    line(f"Exported {evidence.now:%Y-%m-%d %H:%M:%S} UTC. Account {account.name} (id {account.pk}).")
    line(f"Belongs to: {account.owner_name}.")
    line(f"Partner Center tenant: {account.partner_center_tenant_id or 'none yet (not synced)'}")
    line(f"Acceptance known now: {_how_known(account)}", gap=4)
    line(f"Records ({len(evidence.records)})", 13, 2)
    for record, check in zip(evidence.records, evidence.checks, strict=True):
        delivery = _delivery_json(record)
        line(f"#{record.sequence} {record.get_event_display()} — {record.created_at:%Y-%m-%d %H:%M:%S} UTC", 11, 1)
        line(
            f"Signatory / person named: {record.first_name} {record.last_name} <{record.email}>"
            + (f", {record.signatory_company}" if record.signatory_company else "")
            + f". By: {record.confirmer}, {record.actor_organisation or 'no organisation'}. Channel: "
            f"{record.get_channel_display()}. Evidence: {record.get_evidence_class_display()}"
            f"{' (the log alone is proof)' if record.log_sufficient_as_proof else ''}. Order: "
            f"{record.order_number or '-'}. Template {record.template_id or '-'} ({record.language}, "
            f"{record.country}). Delivery to Partner Center: {delivery.get('state_display', 'none')}. "
            f"Hash check: {'intact' if check.ok else 'NOT intact: ' + check.problem}. Entry hash "
            f"{record.entry_hash}.",
            9,
            3,
        )
    chain = evidence.chain
    line("Chain and checkpoints", 13, 2)
    line(
        f"Whole log: {'intact' if chain.ok else 'NOT intact'}, {chain.checked} record(s) verified, "
        f"{chain.checkpoints_checked} signed checkpoint(s) checked"
        + (f"; first break: {chain.first_break}" if chain.first_break else "")
        + "."
    )
    for segment in proof["segments"]:
        line(
            f"Record #{segment['from_sequence']} is linked through {len(segment['links'])} record(s) to the signed "
            f"checkpoint at #{segment['to_sequence']} ({segment['checkpoint_file']}).",
            9,
        )
    for note in proof["notes"]:
        line(note, 9)
    line("How to verify", 13, 2)
    line(
        "Unzip the pack and run `python3 verify.py` in its folder (Python 3.11 or newer, nothing else). It checks "
        "every file against SHA256SUMS, each record's bytes against its hashes, the links up to the signed "
        "checkpoints and their Ed25519 signatures; pass --public-key with the key the CSP publishes. Public key "
        f"id(s): {', '.join(sorted(_key_ids(proof)))}."
    )
    return bytes(pdf.output())


def _key_ids(proof: dict[str, Any]) -> set[str]:
    from mca.checkpoints import key_id_for

    return {key_id_for(base64.b64decode(key)) for key in proof["public_keys"]}


def _pack_readme(evidence: Evidence, proof: dict[str, Any], refused: str) -> str:
    lines = [
        evidence.files["README.md"].rstrip("\n"),
        "- proof.json: each record's canonical bytes (base64), content digest, entry hash and MAC; the chain from "
        "each record to a signed checkpoint (sequence, prev_hash, content digest, entry hash of every record "
        "between, never their content); the public key(s)",
        "- checkpoints/: the signed checkpoints of the log's head, exactly as stored outside the database",
        "- microsoft-answers.json: Microsoft's raw answers (each step's, and each delivery's)",
        "- template.json: the agreement template and document shown for each record",
        "- summary.pdf: this summary for a person",
        "- verify.py: the verifier (Python standard library only)",
        "",
        "## Verify this pack",
        "",
        "    unzip mca-evidence-*.zip && cd mca-evidence-*/ && python3 verify.py",
        "",
        "verify.py needs nothing but Python 3.11+. It prints PASS or FAIL per check and exits non-zero on any "
        "failure: the files against SHA256SUMS; each record's canonical bytes against its content digest and entry "
        "hash; every link from each record to a signed checkpoint; each checkpoint's Ed25519 signature. Give it the "
        "public key the CSP publishes (`--public-key BASE64`) rather than trusting the one in the pack. Public key "
        f"id(s) used: {', '.join(sorted(_key_ids(proof)))}.",
        "",
        "The records' MACs (HMAC-SHA256 with a key the CSP keeps outside its database) are checked by the CSP "
        "(`manage.py mca_verify_log`); the checkpoints are signed only over a chain whose MACs verified.",
    ]
    if proof["notes"] or refused:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in proof["notes"]]
        if refused:
            lines.append(f"- No new checkpoint could be signed for this export: {refused}")
    return "\n".join(lines) + "\n"


def export_evidence_pack(account: Account, out_dir: Path | str, *, within: QuerySet[Account] | None = None) -> Path:
    """One zip with everything about one Microsoft customer's acceptance (R14) that a third party can verify.

    A checkpoint of the current head is signed first (so the newest records are covered), unless the log does not
    verify; the pack then says so. Returns the path of the zip, created under `out_dir`."""
    from mca.checkpoints import CheckpointRefused
    from mca.verify import write_checkpoint

    refused = ""
    try:
        write_checkpoint()
    except CheckpointRefused as error:
        refused = str(error)
    evidence = gather_evidence(account, within=within)
    proof, checkpoint_files, _ = _proof(evidence.records)
    stem = f"mca-evidence-account-{account.pk}-{evidence.now:%Y%m%dT%H%M%SZ}"
    files: dict[str, bytes] = {name: text.encode("utf-8") for name, text in evidence.files.items()}
    files["README.md"] = _pack_readme(evidence, proof, refused).encode("utf-8")
    files["proof.json"] = _dumps(proof).encode("utf-8")
    files["microsoft-answers.json"] = _dumps(_microsoft_answers(evidence.records)).encode("utf-8")
    files["template.json"] = _dumps(_templates(evidence.records)).encode("utf-8")
    files["summary.pdf"] = summary_pdf(evidence, proof)
    files["verify.py"] = VERIFY_SCRIPT.read_bytes()
    files.update(checkpoint_files)
    files["SHA256SUMS"] = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())
    ).encode("utf-8")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stem}.zip"
    with zipfile.ZipFile(path, "x", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(f"{stem}/{name}", date_time=evidence.now.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if name == "verify.py" else 0o644) << 16
            archive.writestr(info, data)
    return path
