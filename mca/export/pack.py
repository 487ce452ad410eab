"""The evidence pack: one zip per customer, verifiable by a third party with verify.py alone."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from bss.models import Account
from mca.chain import HASHED_FIELDS_BY_VERSION, KEYED_VERSION, canonical_bytes, content_digest, record_values
from mca.evidence_verify import MANIFEST_FORMAT
from mca.export.csv import CSV_COLUMNS
from mca.export.gathering import Evidence, _delivery_json, _dumps, field_texts, gather_evidence, record_labels
from mca.export.pdf import _keys_with_ids, summary_pdf
from mca.models import AcceptanceRecord, KnownTemplate

VERIFY_SCRIPT = Path(__file__).resolve().parent.parent / "evidence_verify.py"
PROOF_FORMAT = "mca-evidence-proof/v1"


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
        "fields": field_texts(record),
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
    # The newest checkpoint anchors the manifest's "complete up to": the customer's records up to its head.
    head = checkpoints[-1] if checkpoints else None
    if head is not None:
        head_name = "checkpoints/" + head.name.rsplit("/", 1)[-1]
        if head_name not in files:
            with storage.open(head.name, "rb") as handle:
                files[head_name] = handle.read()
    older = [r.sequence for r in records if r.hash_version < KEYED_VERSION]
    if older:
        notes.append(
            f"Records {', '.join(f'#{s}' for s in older)} are of hash version 1/2 (before the keyed chain): their own "
            "hashes are checked from their content; other customers' version-1/2 records between them and a "
            "checkpoint are linked by hash only, so the proof is complete from the first version-3 record on."
        )
    used_keys = {cover.key_id for cover in covers.values()} | ({head.key_id} if head else set())
    public_keys = [key for key_id, key in trusted_public_keys().items() if key_id in used_keys] or [raw_public_key()]
    proof = {
        "format": PROOF_FORMAT,
        "log_id": settings.MCA_LOG_ID,
        "fields_by_version": {str(v): list(fields) for v, fields in HASHED_FIELDS_BY_VERSION.items()},
        "records": [_proof_record(record) for record in records],
        "segments": segments,
        "checkpoint_files": sorted(files),
        "head": {"sequence": head.sequence, "head_hash": head.head_hash} if head else None,
        "public_keys": [base64.b64encode(key).decode("ascii") for key in public_keys],
        # What verify.py needs to re-render the readable files from the hashed fields.
        "field_kinds": _field_kinds(),
        "csv_columns": dict(CSV_COLUMNS),
        "labels": record_labels(),
        "notes": notes,
    }
    return proof, files, notes


def _field_kinds() -> dict[str, str]:
    """Hashed fields whose readable form differs from their canonical text (times, booleans)."""
    from django.db import models

    kinds = {}
    for field in AcceptanceRecord._meta.concrete_fields:
        if isinstance(field, models.DateTimeField):
            kinds[field.attname] = "datetime"
        elif isinstance(field, models.BooleanField):
            kinds[field.attname] = "bool"
    return kinds


def _manifest(evidence: Evidence, proof: dict[str, Any], files: dict[str, bytes]) -> bytes:
    """manifest.json: the customer, its records (sequence, entry hash) complete up to the newest signed head, and
    the SHA-256 of every file, signed with the checkpoint key (domain-separated from checkpoints)."""
    from mca.checkpoints import canonical_json, key_id_for, raw_public_key, signing_key

    private = signing_key()
    public = raw_public_key(private)
    account = evidence.account
    body = {
        "log_id": settings.MCA_LOG_ID,
        "exported_at": evidence.now.isoformat(),
        "key_id": key_id_for(public),
        "customer": {
            "account_id": account.pk,
            "account_ids": [a.pk for a in evidence.accounts],
            "name": account.name,
            "tenant_id": str(account.partner_center_tenant_id) if account.partner_center_tenant_id else None,
        },
        "records": [{"sequence": r.sequence, "entry_hash": r.entry_hash} for r in evidence.records],
        "record_count": len(evidence.records),
        "complete_up_to": proof["head"],
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    signature = private.sign((MANIFEST_FORMAT + "\n").encode() + canonical_json(body))
    document = {
        "format": MANIFEST_FORMAT,
        "manifest": body,
        "signature": base64.b64encode(signature).decode("ascii"),
        "public_key": base64.b64encode(public).decode("ascii"),
        "algorithm": "Ed25519",
    }
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


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
        "- manifest.json: the customer, its records and every file's SHA-256, signed with the CSP's key",
        "",
        "## Verify this pack",
        "",
        "    unzip mca-evidence-*.zip && cd mca-evidence-*/",
        "    python3 verify.py --key-url https://<the CSP's site>/.well-known/mca-log/   # or --public-key BASE64",
        "",
        "verify.py needs nothing but Python 3.11+. It prints PASS or FAIL per check and exits non-zero on any "
        "failure: the signed manifest (the customer, its complete list of records, every file's hash); each record's "
        "canonical bytes against its content digest and entry hash; every link from each record to a signed "
        "checkpoint; each checkpoint's Ed25519 signature; each record being the customer's; and every readable file "
        "(records.json, records.csv, this README's table, chain.json, template.json, Microsoft's answers) against "
        "the hashed bytes. A key must be given, obtained from the CSP and not from this pack: without one the run "
        "fails, since anyone can re-sign a forged pack with a key of their own.",
        "",
        "Public key(s) that signed this pack (Ed25519, base64; compare with the one the CSP publishes):",
        "",
        *[f"    {key}   ({key_id})" for key, key_id in _keys_with_ids(proof)],
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
    files["manifest.json"] = _manifest(evidence, proof, files)
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
