"""Issue 17, attack 5: the pack proves what it shows. Each forgery below passed verify.py before the signed
manifest and the checks of the readable files against the hashed bytes; each must now FAIL, named.

Two kinds of forger: one without the CSP's key (edits files, recomputes the unsigned SHA256SUMS, may re-sign with
a key of their own), and an exporter that lies with the CSP's own key (re-signs the manifest), against which the
files are still checked field by field against the records' hashed bytes and the customer."""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mca.checkpoints import CHECKPOINT_DOMAIN, canonical_json, key_id_for, raw_public_key
from mca.export import export_evidence_pack
from tests.evidence.packs import published_key, resign_manifest, rewrite_sums, run_verify, unpack

pytestmark = pytest.mark.django_db


def edit_json(folder: Path, name: str, change) -> None:
    data = json.loads((folder / name).read_text())
    change(data)
    (folder / name).write_text(json.dumps(data, indent=2, ensure_ascii=False))


def rename_in_records_json(folder: Path) -> None:
    """Signatory renamed, date of agreement moved."""

    def change(rows):
        rows[0]["first_name"] = "Jane"
        rows[0]["date_agreed"] = "2019-01-01"

    edit_json(folder, "records.json", change)


def rename_in_records_csv(folder: Path) -> None:
    path = folder / "records.csv"
    rows = list(csv.reader(io.StringIO(path.read_text())))
    header = rows[0]
    rows[1][header.index("first_name")] = "Jane"
    rows[1][header.index("date_agreed")] = "2019-01-01"
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    path.write_text(out.getvalue())


def redate_in_readme(folder: Path, first) -> None:
    path = folder / "README.md"
    text = path.read_text()
    row = f"| {first.sequence} | {first.created_at:%Y-%m-%d}"
    assert row in text
    path.write_text(text.replace(row, f"| {first.sequence} | 2019-01-01"))


def drop_record(folder: Path, record) -> None:
    """Every trace of one record taken out of the pack."""

    def from_proof(proof):
        proof["records"] = [r for r in proof["records"] if r["sequence"] != record.sequence]
        proof["segments"] = [s for s in proof["segments"] if s["from_sequence"] != record.sequence]

    edit_json(folder, "proof.json", from_proof)
    edit_json(
        folder, "records.json", lambda rows: rows.remove(next(r for r in rows if r["sequence"] == record.sequence))
    )
    edit_json(
        folder, "chain.json", lambda c: c.update(records=[r for r in c["records"] if r["sequence"] != record.sequence])
    )
    csv_path = folder / "records.csv"
    lines = csv_path.read_text().splitlines(keepends=True)
    csv_path.write_text("".join(line for line in lines if not line.startswith(f"{record.sequence},")))
    readme = folder / "README.md"
    readme.write_text(
        "".join(
            line
            for line in readme.read_text().splitlines(keepends=True)
            if not line.startswith(f"| {record.sequence} |")
        )
    )


def graft_other_customer(folder: Path, other_folder: Path) -> int:
    """Another customer's record (from that customer's own genuine pack) added to this pack's proof and files."""
    other_proof = json.loads((other_folder / "proof.json").read_text())
    [record] = other_proof["records"]
    [segment] = other_proof["segments"]

    def add(proof):
        proof["records"].append(record)
        proof["segments"].append(segment)

    edit_json(folder, "proof.json", add)
    other_rows = json.loads((other_folder / "records.json").read_text())
    edit_json(folder, "records.json", lambda rows: rows.extend(other_rows))
    return record["sequence"]


@pytest.fixture
def other_pack(tmp_path, demo, story):
    """Northwind's own pack: the forger's source of a genuine record of another customer."""
    return unpack(export_evidence_pack(demo["northwind"], tmp_path / "other-out"), tmp_path / "other")


def fails_with(folder: Path, *messages: str, key: str | None = "published") -> str:
    result = run_verify(folder, key=key)
    assert result.returncode == 1, result.stdout
    for message in messages:
        assert message in result.stdout, result.stdout
    return result.stdout


# --- a forger without the CSP's key: edit, recompute SHA256SUMS ---


def test_records_json_renamed_and_redated(pack):
    _, folder = pack
    rename_in_records_json(folder)
    rewrite_sums(folder)
    fails_with(folder, "FAIL  file records.json is the one the manifest signs")


def test_records_csv_renamed_and_redated(pack):
    _, folder = pack
    rename_in_records_csv(folder)
    rewrite_sums(folder)
    fails_with(folder, "FAIL  file records.csv is the one the manifest signs")


def test_readme_redated(pack, story):
    _, folder = pack
    redate_in_readme(folder, story[0])
    rewrite_sums(folder)
    fails_with(folder, "FAIL  file README.md is the one the manifest signs")


def test_pdf_replaced(pack):
    _, folder = pack
    (folder / "summary.pdf").write_bytes(b"%PDF-1.4 a forged summary")
    rewrite_sums(folder)
    fails_with(folder, "FAIL  file summary.pdf is the one the manifest signs")


def test_a_record_removed(pack, story):
    _, folder = pack
    drop_record(folder, story[2])
    rewrite_sums(folder)
    fails_with(folder, f"missing: #{story[2].sequence}", "FAIL  file proof.json is the one the manifest signs")


def test_another_customers_record_added(pack, other_pack):
    _, folder = pack
    sequence = graft_other_customer(folder, other_pack)
    rewrite_sums(folder)
    fails_with(folder, f"not the customer's (not in the manifest): #{sequence}", "is not among the customer's accounts")


def test_no_key_given_is_a_failure_not_a_note(pack):
    _, folder = pack
    out = fails_with(folder, "FAIL  a public key of the CSP is given (--public-key or --key-url)", key=None)
    assert published_key() in out  # the key the pack claims, in full, to compare with the CSP's


def test_rekeyed_with_the_forgers_own_key(pack, story):
    """The forger rewrites the README, re-signs every checkpoint and the manifest with a key of their own: without
    the CSP's key given it fails; with it, the signatures are named."""
    _, folder = pack
    forger = Ed25519PrivateKey.generate()
    forger_public = base64.b64encode(raw_public_key(forger)).decode()
    for path in (folder / "checkpoints").glob("*.json"):
        data = json.loads(path.read_text())
        data["checkpoint"]["key_id"] = key_id_for(raw_public_key(forger))
        message = CHECKPOINT_DOMAIN + canonical_json(data["checkpoint"])
        data["signature"] = base64.b64encode(forger.sign(message)).decode()
        data["public_key"] = forger_public
        path.write_text(json.dumps(data))
    edit_json(folder, "proof.json", lambda proof: proof.update(public_keys=[forger_public]))
    redate_in_readme(folder, story[0])
    resign_manifest(folder, forger)
    fails_with(folder, "FAIL  a public key of the CSP is given", key=None)
    fails_with(
        folder,
        "FAIL  manifest.json: Ed25519 signature",
        "is not among the public keys given",
    )


# --- an exporter that lies with the CSP's own key: the files still answer to the hashed bytes ---

SIGNED_DIFFER = "differs from the signed bytes in date_agreed, first_name"

SIGNED_DIFFER = "differs from the signed bytes in date_agreed, first_name"


def test_lying_records_json_is_named_against_the_hashed_bytes(pack):
    _, folder = pack
    rename_in_records_json(folder)
    resign_manifest(folder)
    fails_with(
        folder,
        "FAIL  records.json: record #1 shows its hashed fields: " + SIGNED_DIFFER,
    )


def test_lying_records_csv_is_named_against_the_hashed_bytes(pack):
    _, folder = pack
    rename_in_records_csv(folder)
    resign_manifest(folder)
    fails_with(
        folder,
        "FAIL  records.csv: record #1 shows its hashed fields: " + SIGNED_DIFFER,
    )


def test_lying_readme_is_named_against_the_hashed_bytes(pack, story):
    _, folder = pack
    redate_in_readme(folder, story[0])
    resign_manifest(folder)
    fails_with(folder, "FAIL  README.md: record #1's row shows its hashed fields")


def test_another_customers_record_in_a_re_signed_manifest_is_named(pack, other_pack):
    _, folder = pack
    sequence = graft_other_customer(folder, other_pack)
    manifest = json.loads((folder / "manifest.json").read_text())["manifest"]
    proof = json.loads((folder / "proof.json").read_text())
    listed = [{"sequence": r["sequence"], "entry_hash": r["entry_hash"]} for r in proof["records"]]
    resign_manifest(folder, records=listed, record_count=len(listed))
    assert manifest["customer"]["account_ids"]
    fails_with(folder, f"FAIL  record #{sequence} is the customer's", "is not among the customer's accounts")


def test_a_record_left_out_of_the_signed_list_fails_its_files(pack, story):
    """The lying exporter leaves the record in the files but not in the signed list: the files hold more than
    the verified, signed records."""
    _, folder = pack
    proof = json.loads((folder / "proof.json").read_text())
    kept = [r for r in proof["records"] if r["sequence"] != story[2].sequence]
    listed = [{"sequence": r["sequence"], "entry_hash": r["entry_hash"]} for r in kept]
    resign_manifest(folder, records=listed, record_count=len(listed))
    fails_with(folder, f"not the customer's (not in the manifest): #{story[2].sequence}")


# --- the key fetched from where the CSP publishes it ---


def serve_json(body: dict) -> tuple[ThreadingHTTPServer, str]:
    payload = json.dumps(body).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/.well-known/mca-log/"


def test_key_fetched_from_the_published_url(pack):
    _, folder = pack
    server, url = serve_json({"public_keys": [{"key_id": "x", "public_key": published_key()}]})
    try:
        result = run_verify(folder, "--key-url", url, key=None)
        assert result.returncode == 0, result.stdout
        assert f"trusting public key {published_key()}" in result.stdout
    finally:
        server.shutdown()
        server.server_close()  # refuse connections at once: a listening socket nobody serves waits out the timeout
    result = run_verify(folder, "--key-url", url, key=None)  # the server is gone
    assert result.returncode == 1 and "could not be fetched" in result.stdout
