"""A third party's tools for evidence packs (unpack, run verify.py isolated) and a forger's (fix SHA256SUMS,
re-sign the manifest)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mca.checkpoints import canonical_json, key_id_for, raw_public_key, signing_key
from mca.evidence_verify import MANIFEST_FORMAT, UNSIGNED_FILES


def unpack(zip_path: Path, into: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(into)
    [folder] = list(into.iterdir())
    return folder


def published_key() -> str:
    """The CSP's public key as it publishes it (base64 of the raw Ed25519 key)."""
    return base64.b64encode(raw_public_key()).decode()


def run_verify(folder: Path, *args: str, key: str | None = "published") -> subprocess.CompletedProcess:
    """A third party's run: isolated mode (no site-packages, no PYTHONPATH, no project), standard library only,
    with the CSP's published key unless `key` says otherwise (None: no key given)."""
    keys = ["--public-key", published_key() if key == "published" else key] if key else []
    return subprocess.run(
        [sys.executable, "-I", "verify.py", *keys, *args],
        cwd=folder,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def rewrite_sums(folder: Path) -> None:
    """The forger also fixes SHA256SUMS, so only the cryptographic checks stand in the way."""
    lines = []
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        _, name = line.split("  ", 1)
        lines.append(f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}")
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def resign_manifest(folder: Path, private: Ed25519PrivateKey | None = None, **changes) -> None:
    """Re-list every file's hash in manifest.json and sign it: with the CSP's own key (an exporter that lies, to
    show the checks against the hashed bytes hold without the manifest) or a forger's key; then fix SHA256SUMS."""
    private = private or signing_key()
    path = folder / "manifest.json"
    document = json.loads(path.read_text())
    body = document["manifest"]
    body.update(changes)
    body["key_id"] = key_id_for(raw_public_key(private))
    body["files"] = {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and str(p.relative_to(folder)) not in UNSIGNED_FILES
    }
    message = (MANIFEST_FORMAT + "\n").encode() + canonical_json(body)
    document["signature"] = base64.b64encode(private.sign(message)).decode()
    document["public_key"] = base64.b64encode(raw_public_key(private)).decode()
    path.write_text(json.dumps(document))
    rewrite_sums(folder)
