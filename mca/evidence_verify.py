#!/usr/bin/env python3
"""Verify an MCA acceptance evidence pack with nothing but Python's standard library.

Run it in the unpacked pack's folder:

    python3 verify.py                       # uses the public key shipped in the pack
    python3 verify.py --public-key BASE64   # uses the key(s) the CSP published (recommended)

It checks, printing PASS or FAIL for each:
  1. SHA256SUMS: every file of the pack is the file that was exported.
  2. Each acceptance record: its canonical bytes hash to its content digest and entry hash (hash version 3:
     SHA-256 of the content, then SHA-256 of "mca-acceptance-log/v3\\n" + prev_hash + content digest; versions 1
     and 2: SHA-256 of the whole canonical form), and they decode to the fields the pack shows.
  3. The chain: from each record, every link up to a signed checkpoint of the log (prev_hash of each record is
     the entry hash of the one before; only hashes of other customers' records are shipped, never their content).
  4. Each checkpoint's Ed25519 signature (RFC 8032 verification, written out below in pure Python) with the
     public key, whose id is printed to compare with the one the CSP publishes.
It exits 0 when every check passes, 1 otherwise. The records' MACs need the CSP's secret key and are checked by
the CSP (`manage.py mca_verify_log`); the signed checkpoint covers them.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an MCA acceptance evidence pack (standard library only).")
    parser.add_argument("folder", nargs="?", default=str(Path(__file__).resolve().parent))
    parser.add_argument(
        "--public-key",
        action="append",
        help="a checkpoint public key of the CSP (base64), published out of band; repeat for rotated keys",
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
    public_keys = [base64.b64decode(key) for key in (args.public_key or proof["public_keys"])]
    for key in public_keys:
        report.note(
            f"checkpoint public key id {key_id(key)} "
            + ("(given on the command line)" if args.public_key else "(from the pack: compare it with the CSP's)")
        )
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
    report.note("record MACs need the CSP's secret key: the CSP checks them (manage.py mca_verify_log)")
    if report.failures:
        print(f"\nFAIL: {report.failures} check(s) failed, {report.passes} passed")
        return 1
    print(f"\nPASS: all {report.passes} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
