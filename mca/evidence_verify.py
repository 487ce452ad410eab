#!/usr/bin/env python3
"""Verify an MCA acceptance evidence pack with nothing but Python's standard library.

Run it in the unpacked pack's folder:

    python3 verify.py --public-key BASE64            # the key the CSP publishes (README: "Public key")
    python3 verify.py --key-url https://csp.example/.well-known/mca-log/   # or fetched from the CSP's site

A key must be given: the pack's own copy of the key proves nothing (anyone can re-sign a forged pack with a key of
their own), so running without one is a FAIL. It checks, printing PASS or FAIL for each:
  0. manifest.json: signed by the CSP's key; it names the customer (account ids, tenant), lists the customer's
     records (sequence and entry hash; none missing, none added, every record the customer's) and the SHA-256 of
     every file of the pack, so nothing readable in the pack can be edited, added or removed.
  1. SHA256SUMS: every file of the pack is the file that was exported (for `sha256sum -c`; not signed).
  2. Each acceptance record: its canonical bytes hash to its content digest and entry hash (hash version 3:
     SHA-256 of the content, then SHA-256 of "mca-acceptance-log/v3\\n" + prev_hash + content digest; versions 1
     and 2: SHA-256 of the whole canonical form), and they decode to the fields the pack shows.
  3. The chain: from each record, every link up to a signed checkpoint of the log (prev_hash of each record is
     the entry hash of the one before; only hashes of other customers' records are shipped, never their content).
  4. Each checkpoint's Ed25519 signature (RFC 8032 verification, written out below in pure Python) with the
     public key, whose id is printed to compare with the one the CSP publishes.
  5. Every readable file says what the signed bytes say: records.json, records.csv, the README's record table,
     chain.json, template.json and the records' Microsoft answers are checked field by field against the records'
     hashed bytes (summary.pdf is covered by its signed hash).
It exits 0 when every check passes, 1 otherwise. The records' MACs need the CSP's secret key and are checked by
the CSP (`manage.py mca_verify_log`); the signed checkpoint covers them.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import json
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

# --- Ed25519 verification (RFC 8032, section 5.1.7; the reference arithmetic of section 6) ---

_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493  # the group order


def _inv(x: int) -> int:
    return pow(x, _P - 2, _P)


_D = -121665 * _inv(121666) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Point addition in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z."""
    ea = (a[1] - a[0]) * (b[1] - b[0]) % _P
    eb = (a[1] + a[0]) * (b[1] + b[0]) % _P
    ec = 2 * a[3] * b[3] * _D % _P
    ed = 2 * a[2] * b[2] % _P
    e, f, g, h = eb - ea, ed - ec, ed + ec, eb + ea
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(scalar: int, point: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    result = (0, 1, 1, 0)  # the neutral element
    while scalar > 0:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _equal(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * _inv(_D * y * y + 1) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decode_point(data: bytes) -> tuple[int, int, int, int] | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


_GY = 4 * _inv(5) % _P
_GX = _recover_x(_GY, 0)
_BASE = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `message` by `public_key` (RFC 8032, 5.1.7)."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode_point(public_key)
    r = _decode_point(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _Q:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _Q
    return _equal(_mul(s, _BASE), _add(r, _mul(k, a)))


# --- the log's formats (mca/chain.py, mca/checkpoints.py) ---

GENESIS = "0" * 64
CHECKPOINT_FORMAT = "mca-acceptance-log-checkpoint/v1"
MANIFEST_FORMAT = "mca-evidence-manifest/v1"
# Not covered by the manifest: the manifest itself, and the unsigned SHA256SUMS (which lists the manifest).
UNSIGNED_FILES = ("manifest.json", "SHA256SUMS")


def canonical_json(value: dict) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def key_id(public_key: bytes) -> str:
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def link_hash(prev_hash: str, digest: str) -> str:
    return hashlib.sha256(b"mca-acceptance-log/v3\n" + prev_hash.encode("ascii") + digest.encode("ascii")).hexdigest()


def decode_canonical(data: bytes, version: int) -> list[str | None]:
    """The length-prefixed fields of a canonical form: "~" is null, "<n>:<text>" is text of n characters."""
    head = f"mca-acceptance-log/v{version}\n"
    text = data.decode("utf-8")
    if not text.startswith(head):
        raise ValueError(f"does not start with {head!r}")
    values: list[str | None] = []
    at = len(head)
    while at < len(text):
        if text[at] == "~":
            values.append(None)
            at += 1
            continue
        colon = text.index(":", at)
        size = int(text[at:colon])
        values.append(text[colon + 1 : colon + 1 + size])
        at = colon + 1 + size
    return values


class Report:
    def __init__(self) -> None:
        self.failures = 0
        self.passes = 0

    def check(self, ok: bool, what: str, why: str = "") -> bool:
        if ok:
            self.passes += 1
            print(f"PASS  {what}")
        else:
            self.failures += 1
            print(f"FAIL  {what}" + (f": {why}" if why else ""))
        return ok

    def note(self, text: str) -> None:
        print(f"NOTE  {text}")


def check_sums(folder: Path, report: Report) -> None:
    sums = folder / "SHA256SUMS"
    if not report.check(sums.is_file(), "SHA256SUMS is present"):
        return
    listed = set()
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        listed.add(name)
        path = folder / name
        if not path.is_file():
            report.check(False, f"file {name}", "listed in SHA256SUMS but missing")
            continue
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        report.check(actual == digest, f"file {name} matches SHA256SUMS", f"sha256 is {actual}, listed {digest}")
    unlisted = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    extra = [name for name in unlisted if name not in listed and "__pycache__" not in name]
    report.check(not extra, "every file of the pack is listed in SHA256SUMS", f"not listed: {', '.join(extra)}")


def check_records(proof: dict, report: Report) -> dict[int, str]:
    """Each record's canonical bytes against its hashes; returns sequence -> verified entry hash."""
    verified: dict[int, str] = {}
    fields_by_version = {int(k): v for k, v in proof["fields_by_version"].items()}
    for record in proof["records"]:
        sequence, version = record["sequence"], record["hash_version"]
        what = f"record #{sequence} ({record.get('event', '')}, {record.get('name', '')}): canonical bytes"
        try:
            body = base64.b64decode(record["canonical_b64"], validate=True)
            values = decode_canonical(body, version)
        except (ValueError, KeyError) as error:
            report.check(False, what, f"unreadable: {error}")
            continue
        names = fields_by_version.get(version, [])
        if version >= 3:
            names = [n for n in names if n != "prev_hash"]
        shown = dict(zip(names, values, strict=False))
        if not report.check(
            len(values) == len(names) and shown == record["fields"] and shown.get("sequence") == str(sequence),
            f"{what} decode to the fields shown",
            "the fields in the pack differ from the hashed bytes",
        ):
            continue
        if version >= 3:
            digest = hashlib.sha256(body).hexdigest()
            ok = report.check(
                digest == record["content_digest"],
                f"record #{sequence}: SHA-256 of its canonical bytes is its content digest",
                f"computed {digest}, pack says {record['content_digest']}",
            )
            computed = link_hash(record["prev_hash"], digest)
        else:
            ok = True
            computed = hashlib.sha256(body).hexdigest()
            if values[2] != record["prev_hash"]:
                ok = report.check(False, f"record #{sequence}: prev_hash", "differs from the hashed bytes")
        if ok and report.check(
            computed == record["entry_hash"],
            f"record #{sequence}: entry hash {record['entry_hash'][:16]}… recomputed",
            f"computed {computed}",
        ):
            verified[sequence] = record["entry_hash"]
    return verified


def check_checkpoints(folder: Path, proof: dict, public_keys: list[bytes], report: Report) -> dict[str, dict]:
    """Each checkpoint file's signature with a trusted public key; returns file name -> its verified body."""
    good: dict[str, dict] = {}
    trusted = {key_id(key): key for key in public_keys}
    for name in proof["checkpoint_files"]:
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
            body = data["checkpoint"]
            signature = base64.b64decode(data["signature"], validate=True)
        except (OSError, ValueError, KeyError) as error:
            report.check(False, f"checkpoint {name}", f"unreadable: {error}")
            continue
        message = (CHECKPOINT_FORMAT + "\n").encode() + canonical_json(body)
        key = trusted.get(body.get("key_id"))
        if not report.check(
            key is not None,
            f"checkpoint {name}: signed with trusted key {body.get('key_id')}",
            f"key {body.get('key_id')} is not among the public keys given ({', '.join(trusted)})",
        ):
            continue
        if report.check(
            data.get("format") == CHECKPOINT_FORMAT and ed25519_verify(key, message, signature),
            f"checkpoint {name}: Ed25519 signature over #{body.get('sequence')} at {body.get('time')}",
            "the signature does not verify: the checkpoint was edited or forged",
        ):
            good[name] = body
    return good


def check_chain(proof: dict, records: dict[int, str], checkpoints: dict[str, dict], report: Report) -> None:
    """Every segment: from a record, link by link, to the head hash a signed checkpoint names."""
    for segment in proof["segments"]:
        links = segment["links"]
        start, target = segment["from_sequence"], segment["checkpoint_file"]
        what = f"chain from record #{start} to the checkpoint at #{segment['to_sequence']}"
        body = checkpoints.get(target)
        if body is None:
            report.check(False, what, f"its checkpoint {target} did not verify")
            continue
        if start not in records:
            report.check(False, what, f"record #{start} did not verify")
            continue
        problem = "" if links else "the segment holds no link"
        previous = None
        unchecked: list[int] = []
        for link in links:
            sequence = link["sequence"]
            if previous is not None:
                if sequence != previous["sequence"] + 1:
                    problem = f"#{sequence} does not follow #{previous['sequence']}"
                    break
                if link["prev_hash"] != previous["entry_hash"]:
                    problem = f"#{sequence}'s prev_hash is not #{previous['sequence']}'s entry hash"
                    break
            elif link["entry_hash"] != records[start] or sequence != start:
                problem = f"the chain does not start at record #{start}'s entry hash"
                break
            if link["hash_version"] >= 3:
                if (
                    link["content_digest"] is None
                    or link_hash(link["prev_hash"], link["content_digest"]) != link["entry_hash"]
                ):
                    problem = f"#{sequence}'s entry hash is not SHA-256 of its prev_hash and content digest"
                    break
            elif sequence != start:
                unchecked.append(sequence)  # a version-1/2 record of someone else: its hash needs its content
            previous = link
        if (
            not problem
            and previous is not None
            and (previous["sequence"], previous["entry_hash"]) != (body["sequence"], body["head_hash"])
        ):
            problem = f"the chain ends at #{previous['sequence']}, not at the checkpoint's head"
        report.check(not problem, f"{what} ({len(links)} link(s))", problem)
        if unchecked and not problem:
            report.note(
                f"records {unchecked[0]}–{unchecked[-1]} in this chain are of hash version 1/2 and belong to other "
                "customers: their links are checked, their own hashes need their content (not shipped); the proof "
                "is complete from the first version-3 record on"
            )


# --- what the readable files show, derived from a record's hashed fields (the exporter renders with these too) ---


def shown_value(value: object) -> str | None:
    """A JSON value as the record's canonical form writes it (mca/chain.py's _text)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def csv_shown(text: str | None, kind: str) -> str:
    """A hashed field's canonical text as records.csv shows it (mca/export/csv.py's csv_cell)."""
    if text is None:
        return ""
    if kind == "bool":
        return "true" if text == "1" else "false"
    if kind == "datetime":
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).isoformat()
    if text.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + text
    return text


def readme_row(fields: dict, labels: dict, delivery: str) -> str:
    """The README's table row of one record, from its hashed fields (`labels`: each choice's display name)."""

    def label(name: str, default: str = "") -> str:
        value = fields.get(name) or default
        return labels.get(name, {}).get(value, value)

    created = fields["created_at"] or ""
    role = label("actor_role")
    by = f"{fields['actor_display_name']} ({role})" if role else fields["actor_display_name"]  # a system step: no role
    return (
        f"| {fields['sequence']} | {created[:10]} {created[11:19]} | {label('event', 'confirmation')} | "
        f"{fields['account_name']} | {by} | {label('channel')} | "
        f"{label('evidence_class')} | {proven_by(fields)} | {delivery} |"
    )


def proven_by(fields: dict) -> str:
    """What proves a record's step, in words (never a bare "no" beside a customer's own acceptance)."""
    if fields.get("log_sufficient_as_proof") == "1":
        return "this record"
    if fields.get("evidence_class") == "first_party":
        return "the signatory's acceptance at Microsoft (a later record)"
    return "Partner Center's record (deliveries.json)"


def check_manifest(folder: Path, public_keys: list[bytes], report: Report) -> dict | None:
    """manifest.json's signature with a trusted key, then every file of the pack against the hash it lists."""
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        body = data["manifest"]
        signature = base64.b64decode(data["signature"], validate=True)
    except (OSError, ValueError, KeyError, TypeError) as error:
        report.check(False, "manifest.json", f"missing or unreadable: {error}")
        return None
    trusted = {key_id(key): key for key in public_keys}
    key = trusted.get(body.get("key_id"))
    message = (MANIFEST_FORMAT + "\n").encode() + canonical_json(body)
    if not report.check(
        key is not None and data.get("format") == MANIFEST_FORMAT and ed25519_verify(key, message, signature),
        f"manifest.json: Ed25519 signature with key {body.get('key_id')}",
        "the manifest was edited or signed with another key than the ones given",
    ):
        return None
    listed: dict[str, str] = body.get("files", {})
    for name, digest in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            report.check(False, f"file {name} (signed manifest)", "listed in the signed manifest but missing")
            continue
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        report.check(
            actual == digest, f"file {name} is the one the manifest signs", f"sha256 {actual}, signed {digest}"
        )
    present = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    extra = [n for n in present if n not in listed and n not in UNSIGNED_FILES and "__pycache__" not in n]
    report.check(not extra, "every file of the pack is in the signed manifest", f"not signed: {', '.join(extra)}")
    return body


def check_customer(manifest: dict, proof: dict, records: dict[int, str], report: Report) -> None:
    """Exactly the manifest's records, each the manifest's customer's, none missing up to the signed head."""
    customer = manifest["customer"]
    listed = {item["sequence"]: item["entry_hash"] for item in manifest["records"]}
    shipped = {record["sequence"]: record["entry_hash"] for record in proof["records"]}
    missing = sorted(set(listed) - set(shipped))
    added = sorted(set(shipped) - set(listed))
    changed = sorted(s for s in set(listed) & set(shipped) if listed[s] != shipped[s])
    report.check(
        not missing and not added and not changed and manifest["record_count"] == len(listed),
        f"the pack holds the {len(listed)} record(s) the manifest lists for {customer['name']}",
        "; ".join(
            part
            for part in (
                missing and f"missing: {', '.join(f'#{s}' for s in missing)}",
                added and f"not the customer's (not in the manifest): {', '.join(f'#{s}' for s in added)}",
                changed and f"other entry hash than signed: {', '.join(f'#{s}' for s in changed)}",
                manifest["record_count"] != len(listed) and "record count differs from the list",
            )
            if part
        ),
    )
    accounts = {str(account_id) for account_id in customer["account_ids"]}
    for record in proof["records"]:
        account = record["fields"].get("account_id")
        report.check(
            record["sequence"] in records and account in accounts,
            f"record #{record['sequence']} is the customer's (account {account})",
            f"account {account} is not among the customer's accounts {', '.join(sorted(accounts))}",
        )


def check_complete(manifest: dict, checkpoints: dict[str, dict], report: Report) -> None:
    """The manifest's "complete up to" head is a signed checkpoint of the pack: the record list is the customer's
    whole history up to a head the CSP signed (and published), so an omission is the CSP's signed statement."""
    head = manifest.get("complete_up_to") or {}
    signed = {(body["sequence"], body["head_hash"]) for body in checkpoints.values()}
    report.check(
        (head.get("sequence"), head.get("head_hash")) in signed,
        f"the record list is complete up to the signed checkpoint at #{head.get('sequence')}",
        "the manifest's head is not a checkpoint that verified",
    )


def _proof_fields(proof: dict, records: dict[int, str]) -> dict[int, dict]:
    return {r["sequence"]: r["fields"] for r in proof["records"] if r["sequence"] in records}


def check_readable(folder: Path, proof: dict, records: dict[int, str], report: Report) -> None:
    """Every readable file against the verified records' hashed fields: nothing shown differs from what was hashed."""
    fields = _proof_fields(proof, records)
    by_sequence = {r["sequence"]: r for r in proof["records"]}

    def load_json(name: str) -> object:
        try:
            return json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            report.check(False, name, f"missing or unreadable: {error}")
            return None

    def compare(name: str, shown: dict, sequence: int, expected: dict, what: str = "") -> None:
        differ = sorted(k for k, v in expected.items() if k in shown and shown[k] != v)
        absent = sorted(k for k in expected if k not in shown)
        report.check(
            not differ and not absent,
            f"{name}: record #{sequence}{what} shows its hashed fields",
            f"differs from the signed bytes in {', '.join(differ + absent)}",
        )

    rows = load_json("records.json")
    if isinstance(rows, list):
        report.check(
            sorted(row.get("sequence") for row in rows) == sorted(fields),
            "records.json: exactly the verified records",
            f"holds {sorted(row.get('sequence') for row in rows)}, verified {sorted(fields)}",
        )
        for row in rows:
            sequence = row.get("sequence")
            if sequence in fields:
                shown = {k: shown_value(v) for k, v in row.items()}
                expected = dict(fields[sequence])
                for name in ("entry_hash", "prev_hash", "mac", "key_id"):
                    expected[name] = by_sequence[sequence].get(name)
                compare("records.json", shown, sequence, expected)

    kinds: dict[str, str] = proof.get("field_kinds", {})
    columns: dict[str, str] = proof.get("csv_columns", {})
    try:
        with (folder / "records.csv").open(encoding="utf-8", newline="") as handle:
            table = list(csv.DictReader(handle))
    except (OSError, ValueError, csv.Error) as error:
        report.check(False, "records.csv", f"missing or unreadable: {error}")
        table = []
    else:
        report.check(
            sorted(int(row["sequence"]) for row in table) == sorted(fields),
            "records.csv: exactly the verified records",
            f"holds {sorted(row['sequence'] for row in table)}, verified {sorted(fields)}",
        )
    for row in table:
        sequence = int(row["sequence"])
        if sequence not in fields:
            continue
        expected = {
            header: csv_shown(fields[sequence][field], kinds.get(field, "text"))
            for header, field in columns.items()
            if field in fields[sequence]
        }
        expected.update({h: by_sequence[sequence][f] for h, f in columns.items() if f in ("entry_hash", "prev_hash")})
        compare("records.csv", row, sequence, expected)

    deliveries = load_json("deliveries.json")
    delivery_shown = {
        item["record_sequence"]: item.get("state_display", "none")
        for item in deliveries or []
        if isinstance(item, dict)
    }
    try:
        readme = (folder / "README.md").read_text(encoding="utf-8").splitlines()
    except OSError as error:
        report.check(False, "README.md", f"missing or unreadable: {error}")
        readme = []
    table_rows = {line.split("|")[1].strip(): line for line in readme if line.startswith("| ") and "|" in line[2:]}
    table_rows = {int(k): v for k, v in table_rows.items() if k.isdigit()}
    report.check(
        sorted(table_rows) == sorted(fields),
        "README.md: its record table lists exactly the verified records",
        f"lists {sorted(table_rows)}, verified {sorted(fields)}",
    )
    labels = proof.get("labels", {})
    for sequence, line in sorted(table_rows.items()):
        if sequence in fields:
            expected_line = readme_row(fields[sequence], labels, delivery_shown.get(sequence, "none"))
            report.check(
                line == expected_line,
                f"README.md: record #{sequence}'s row shows its hashed fields",
                f"shows {line!r}, the signed bytes say {expected_line!r}",
            )

    chain = load_json("chain.json")
    if isinstance(chain, dict):
        for item in chain.get("records", []):
            sequence = item.get("sequence")
            if sequence in fields:
                expected = {k: by_sequence[sequence][k] for k in ("entry_hash", "prev_hash")}
                compare("chain.json", item, sequence, expected)

    template = load_json("template.json")
    for item in (template or {}).get("shown", []) if isinstance(template, dict) else []:
        sequence = item.get("record_sequence")
        if sequence in fields:
            shown = {k: shown_value(v) for k, v in item.items()}
            names = ("agreement_type", "template_id", "document_link", "language", "country")
            expected = {k: fields[sequence].get(k) for k in names}
            expected["template_version_rank"] = fields[sequence].get("template_version_rank")
            compare("template.json", shown, sequence, expected)

    answers = load_json("microsoft-answers.json")
    for item in answers if isinstance(answers, list) else []:
        sequence = item.get("record_sequence")
        if item.get("source") == "record" and sequence in fields:
            text = fields[sequence].get("microsoft_answer") or ""
            try:
                signed: object = json.loads(text)
            except ValueError:
                signed = text
            report.check(
                item.get("answer") == signed and item.get("event") == fields[sequence].get("event"),
                f"microsoft-answers.json: record #{sequence}'s answer is the one hashed",
                "differs from the signed bytes",
            )


def fetch_public_keys(url: str) -> list[bytes]:
    """The public key(s) the CSP publishes at `url` (its /.well-known/mca-log/ JSON)."""
    with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 - the auditor chooses the URL
        data = json.loads(response.read().decode("utf-8"))
    found: list[str] = []
    for entry in [data.get("public_key"), *(data.get("public_keys") or [])]:
        if isinstance(entry, dict):
            entry = entry.get("public_key") or entry.get("key")
        if isinstance(entry, str) and entry:
            found.append(entry)
    return [base64.b64decode(key, validate=True) for key in found]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an MCA acceptance evidence pack (standard library only).")
    parser.add_argument("folder", nargs="?", default=str(Path(__file__).resolve().parent))
    parser.add_argument(
        "--public-key",
        action="append",
        help="a checkpoint public key of the CSP (base64), published out of band; repeat for rotated keys",
    )
    parser.add_argument(
        "--key-url", help="where the CSP publishes its key(s), e.g. https://<host>/.well-known/mca-log/"
    )
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    report = Report()
    print(f"Verifying the evidence pack in {folder}")
    check_sums(folder, report)
    try:
        proof = json.loads((folder / "proof.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        report.check(False, "proof.json", f"unreadable: {error}")
        print(f"\nFAIL: {report.failures} check(s) failed")
        return 1
    public_keys = [base64.b64decode(key) for key in args.public_key or []]
    if args.key_url:
        try:
            fetched = fetch_public_keys(args.key_url)
        except (OSError, ValueError) as error:
            fetched = []
            report.check(False, f"public key from {args.key_url}", f"could not be fetched: {error}")
        public_keys += fetched
    for key in public_keys:
        report.note(f"trusting public key {base64.b64encode(key).decode()} ({key_id(key)})")
    if not report.check(
        bool(public_keys),
        "a public key of the CSP is given (--public-key or --key-url)",
        "without it nothing here is proven: anyone can re-sign a forged pack with a key of their own. The pack "
        "claims key(s) " + ", ".join(proof.get("public_keys", [])) + ": compare with the one the CSP publishes",
    ):
        # Go on with the pack's own key so the other checks still show, but the run fails.
        public_keys = [base64.b64decode(key) for key in proof.get("public_keys", [])]
    manifest = check_manifest(folder, public_keys, report)
    records = check_records(proof, report)
    checkpoints = check_checkpoints(folder, proof, public_keys, report)
    check_chain(proof, records, checkpoints, report)
    covered = {segment["from_sequence"] for segment in proof["segments"]}
    for record in proof["records"]:
        report.check(
            record["sequence"] in covered,
            f"record #{record['sequence']} is covered by a signed checkpoint",
            "no checkpoint after it was in the pack",
        )
    if manifest is not None:
        check_customer(manifest, proof, records, report)
        check_complete(manifest, checkpoints, report)
    check_readable(folder, proof, records, report)
    report.note("record MACs need the CSP's secret key: the CSP checks them (manage.py mca_verify_log)")
    if report.failures:
        print(f"\nFAIL: {report.failures} check(s) failed, {report.passes} passed")
        return 1
    print(f"\nPASS: all {report.passes} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
