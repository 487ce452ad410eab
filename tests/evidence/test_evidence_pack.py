"""The evidence pack: one zip per customer that a third party verifies with verify.py and Python alone."""

import base64
import hashlib
import io
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from pypdf import PdfReader

from mca.checkpoints import raw_public_key
from mca.evidence_verify import ed25519_verify
from mca.export import export_evidence_pack
from tests.evidence.conftest import rewrite
from tests.evidence.packs import published_key, rewrite_sums, run_verify, unpack

pytestmark = pytest.mark.django_db


def test_one_zip_per_customer_with_everything(pack, story):
    path, folder = pack
    assert path.suffix == ".zip" and path.name.startswith("mca-evidence-account-")
    names = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert {
        "records.json",
        "records.csv",
        "chain.json",
        "deliveries.json",
        "attestations.json",
        "README.md",
        "proof.json",
        "microsoft-answers.json",
        "template.json",
        "summary.pdf",
        "verify.py",
        "SHA256SUMS",
    } <= names
    assert any(name.startswith("checkpoints/") and name.endswith(".json") for name in names)
    first, other, second = story
    proof = json.loads((folder / "proof.json").read_text())
    assert [r["sequence"] for r in proof["records"]] == [first.sequence, second.sequence]
    assert other.sequence not in [r["sequence"] for r in proof["records"]]


def test_proof_holds_canonical_bytes_hashes_and_the_chain_to_a_checkpoint(pack, story):
    _, folder = pack
    first, _, second = story
    proof = json.loads((folder / "proof.json").read_text())
    record = proof["records"][0]
    body = base64.b64decode(record["canonical_b64"])
    assert hashlib.sha256(body).hexdigest() == record["content_digest"]
    assert record["entry_hash"] == first.entry_hash and record["mac"] == first.mac
    assert "José".encode() in body and record["fields"]["first_name"] == "José"
    # The chain from the first record runs through the other customer's record by its hashes only.
    segment = proof["segments"][0]
    assert [link["sequence"] for link in segment["links"]] == [1, 2, 3]
    assert set(segment["links"][1]) == {"sequence", "hash_version", "prev_hash", "content_digest", "entry_hash"}
    assert "Northwind" not in json.dumps(segment)
    checkpoint = json.loads((folder / segment["checkpoint_file"]).read_text())
    assert checkpoint["checkpoint"]["head_hash"] == second.entry_hash
    assert proof["public_keys"] == [base64.b64encode(raw_public_key()).decode()]


def test_microsoft_answers_and_template_are_in_the_pack(pack, story):
    _, folder = pack
    answers = json.loads((folder / "microsoft-answers.json").read_text())
    sent = answers[0]
    assert (sent["record_sequence"], sent["event"], sent["source"]) == (1, "confirmation", "delivery")
    assert sent["answer"]["id"] == "agreement-1" and sent["status_code"] == 201
    template = json.loads((folder / "template.json").read_text())
    assert template["shown"][0]["template_id"] == story[0].template_id


def test_verify_py_passes_on_a_fresh_pack_with_the_standard_library_alone(pack):
    _, folder = pack
    result = run_verify(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "FAIL" not in out and out.rstrip().endswith("checks passed")
    assert "PASS  file proof.json matches SHA256SUMS" in out
    assert "PASS  record #1: entry hash" in out and "PASS  record #3: entry hash" in out
    assert "PASS  chain from record #1 to the checkpoint at #3 (3 link(s))" in out
    assert "Ed25519 signature over #3" in out


def test_verify_py_with_the_published_key_and_with_a_wrong_one(pack):
    _, folder = pack
    assert run_verify(folder).returncode == 0
    wrong = base64.b64encode(raw_public_key(Ed25519PrivateKey.generate())).decode()
    result = run_verify(folder, key=wrong)
    assert result.returncode == 1 and "is not among the public keys given" in result.stdout
    assert "FAIL  manifest.json: Ed25519 signature" in result.stdout


def test_verify_py_fails_on_an_edited_record(pack):
    _, folder = pack
    proof = json.loads((folder / "proof.json").read_text())
    body = base64.b64decode(proof["records"][0]["canonical_b64"]).replace("José".encode(), b"Jose")
    proof["records"][0]["canonical_b64"] = base64.b64encode(body).decode()
    fields = proof["records"][0]["fields"]
    proof["records"][0]["fields"] = {k: v.replace("José", "Jose") if v else v for k, v in fields.items()}
    (folder / "proof.json").write_text(json.dumps(proof))
    result = run_verify(folder)
    assert result.returncode == 1
    assert "FAIL  file proof.json matches SHA256SUMS" in result.stdout
    rewrite_sums(folder)
    result = run_verify(folder)
    assert result.returncode == 1
    assert "FAIL  record #1: SHA-256 of its canonical bytes is its content digest" in result.stdout


def test_verify_py_fails_on_fields_that_are_not_the_hashed_bytes(pack):
    _, folder = pack
    proof = json.loads((folder / "proof.json").read_text())
    proof["records"][0]["fields"]["email"] = "someone@else.example"
    (folder / "proof.json").write_text(json.dumps(proof))
    rewrite_sums(folder)
    result = run_verify(folder)
    assert result.returncode == 1 and "the fields in the pack differ from the hashed bytes" in result.stdout


def test_verify_py_fails_on_an_edited_checkpoint(pack):
    _, folder = pack
    [path] = list((folder / "checkpoints").glob("*.json"))
    data = json.loads(path.read_text())
    data["checkpoint"]["time"] = "2020-01-01T00:00:00.000000Z"
    path.write_text(json.dumps(data))
    rewrite_sums(folder)
    result = run_verify(folder)
    assert result.returncode == 1
    assert "the signature does not verify: the checkpoint was edited or forged" in result.stdout


def test_verify_py_fails_on_a_broken_link(pack):
    _, folder = pack
    proof = json.loads((folder / "proof.json").read_text())
    proof["segments"][0]["links"][1]["content_digest"] = "0" * 64
    (folder / "proof.json").write_text(json.dumps(proof))
    rewrite_sums(folder)
    result = run_verify(folder)
    assert result.returncode == 1
    assert "#2's entry hash is not SHA-256 of its prev_hash and content digest" in result.stdout


def test_verify_py_fails_on_a_missing_or_added_file(pack):
    _, folder = pack
    (folder / "summary.pdf").unlink()
    (folder / "extra.txt").write_text("not exported")
    out = run_verify(folder).stdout
    assert "listed in SHA256SUMS but missing" in out and "not listed: extra.txt" in out


def test_the_pack_of_a_tampered_log_says_so_and_fails(tmp_path, demo, story):
    first, _, _ = story
    rewrite(first.pk, last_name="Forged")
    path = export_evidence_pack(demo["alpine-contoso"], tmp_path / "out")
    folder = unpack(path, tmp_path / "unpacked")
    readme = (folder / "README.md").read_text()
    assert "NOT intact" in readme and "No new checkpoint could be signed" in readme
    result = run_verify(folder)
    assert result.returncode == 1 and "is covered by a signed checkpoint" in result.stdout


def test_the_pdf_summary_names_the_people_and_the_chain(pack, story):
    _, folder = pack
    text = "\n".join(page.extract_text() for page in PdfReader(folder / "summary.pdf").pages)
    assert "MCA acceptance evidence: Alpine Ski House" in text
    for name in ("José Núñez", "Zoë Łukasz", "jose@alpine.example"):
        assert name in text
    assert "Whole log: intact" in text and "python3 verify.py" in " ".join(text.split())
    assert published_key() in text  # the full key, not only its 64-bit id


def test_pure_python_ed25519_matches_rfc_8032_and_the_library():
    # RFC 8032, section 7.1, TEST 2.
    public = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
    signature = bytes.fromhex(
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
    )
    assert ed25519_verify(public, b"\x72", signature)
    assert not ed25519_verify(public, b"\x73", signature)
    assert not ed25519_verify(public, b"\x72", signature[:-1] + b"\x01")
    key = Ed25519PrivateKey.generate()
    raw = raw_public_key(key)
    assert ed25519_verify(raw, b"checkpoint", key.sign(b"checkpoint"))
    assert not ed25519_verify(raw, b"checkpoint", Ed25519PrivateKey.generate().sign(b"checkpoint"))


def test_mca_export_writes_the_pack(tmp_path, demo, story):
    out = io.StringIO()
    call_command("mca_export", "--account", str(demo["alpine-contoso"].pk), "--out", str(tmp_path), stdout=out)
    [path] = list(tmp_path.iterdir())
    assert path.suffix == ".zip" and str(path) in out.getvalue()
    assert run_verify(unpack(path, tmp_path / "unpacked")).returncode == 0
