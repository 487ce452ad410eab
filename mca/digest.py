"""The daily checkpoint digest (issue 17): the log's newest signed head and its public key, e-mailed to
MCA_CHECKPOINT_WITNESS_EMAILS (empty: off), so people outside the CSP's systems hold a copy no operator can take
back. A later log that does not extend the head in an old digest was rewritten; `mca_witness` and the pack's
verify.py check that from the published files. Sent by beat daily (MCA_CHECKPOINT_DIGEST_HOUR, UTC) and by
`manage.py mca_checkpoint_digest`. Auditors and outside systems read it: English, like the log's other artefacts.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMessage

from mca.checkpoints import _read, key_id_for, latest_checkpoint, raw_public_key, trusted_public_keys

PUBLISHED_AT = "/.well-known/mca-log/"


def digest_message(recipients: Sequence[str]) -> EmailMessage:
    """The digest as an e-mail: the newest checkpoint (its file attached exactly as stored) and the keys."""
    latest = latest_checkpoint()
    current = key_id_for(raw_public_key())
    lines = [
        f"Daily checkpoint digest of the acceptance log {settings.MCA_LOG_ID!r}.",
        "",
        "Keep this e-mail: it is a copy, outside the CSP's systems, of the log's newest signed head. A later log",
        "that does not extend this head (same records up to its sequence, same hash) was rewritten.",
        "",
    ]
    if latest is None:
        subject = f"[{settings.MCA_LOG_ID}] Checkpoint digest: NO signed checkpoint"
        lines += [
            "There is NO signed checkpoint in the checkpoint storage: checkpointing has not started, or the",
            "checkpoints were deleted. Ask the CSP why.",
        ]
    else:
        subject = f"[{settings.MCA_LOG_ID}] Checkpoint digest: head #{latest.sequence} signed {latest.time}"
        lines += [
            "Newest signed checkpoint:",
            f"  file:         {latest.name.rsplit('/', 1)[-1]}",
            f"  log size:     {latest.sequence} record(s) (the head is record #{latest.sequence})",
            f"  head hash:    {latest.head_hash}",
            f"  signed at:    {latest.time}",
            f"  key id:       {latest.key_id}",
            f"  signature:    {latest.signature}",
        ]
    lines += ["", f"Signing key (Ed25519, raw public key, base64), key id {current}:", f"  {_b64(raw_public_key())}"]
    older = {key_id: key for key_id, key in trusted_public_keys().items() if key_id != current}
    if older:
        lines += ["Older keys still trusted for earlier checkpoints:"]
        lines += [f"  {key_id}: {_b64(key)}" for key_id, key in older.items()]
    lines += [
        "",
        f"The CSP publishes every checkpoint and the keys at {PUBLISHED_AT} on its site. To check this copy:",
        "  python3 verify.py --key-url https://<the CSP's site>/.well-known/mca-log/ (an evidence pack's verifier),",
        "  or `manage.py mca_witness https://<the CSP's site>` (reports a fork against the heads it has seen).",
    ]
    if latest is not None:
        lines += ["The checkpoint file is attached exactly as stored: the signed checkpoint, its signature and key."]
    message = EmailMessage(subject, "\n".join(lines) + "\n", None, list(recipients))
    if latest is not None:
        data = json.dumps(_read(latest.name), indent=2, sort_keys=True) + "\n"
        message.attach(latest.name.rsplit("/", 1)[-1], data, "application/json")
    return message


def send_checkpoint_digest(recipients: Sequence[str] | None = None) -> int:
    """E-mail the digest to `recipients` (MCA_CHECKPOINT_WITNESS_EMAILS when None); the number it went to."""
    to = list(settings.MCA_CHECKPOINT_WITNESS_EMAILS if recipients is None else recipients)
    if not to:
        return 0
    digest_message(to).send()
    return len(to)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
