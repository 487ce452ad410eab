"""Knowledge rows sealed like records (R7, issue 17): a `CustomerKnowledge` row carries an HMAC over its content
with a key kept outside the database, so a row inserted or edited by someone who can write the database but does
not hold the key (a forged "accepted" that would let an order through without any record) does not verify; the
gate then treats the customer as unknown and asks again, and `mca_verify_log` names the row.

    mac = HMAC-SHA256(K, b"mca-customer-knowledge/v1\\n" + fields, each "<n>:<text>" or "~" for None)
    K   = HMAC-SHA256(MCA_LOG_HMAC_KEYS[mac_key_id], b"mca-customer-knowledge")

The key is derived from the log's MAC key (one secret to keep and rotate; a knowledge MAC can never pass for a
record's MAC). `updated_at` is left out: it says when, not what.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings

SEALED_FIELDS: tuple[str, ...] = (
    "key",
    "kind",
    "accepted_at",
    "template_id",
    "template_version_rank",
    "confirmed_by",
    "record_id",
    "verified_at",
)
_PREFIX = "mca-customer-knowledge/v1\n"
_SEALED_OK = "_mca_seal_verified"  # the answer, kept on the instance: the gate may ask several times per request


def _derived_key(key: bytes) -> bytes:
    return hmac.digest(key, b"mca-customer-knowledge", "sha256")


def knowledge_mac(values: dict[str, Any], key: bytes) -> str:
    from mca.chain import _text

    parts = [_PREFIX]
    for name in SEALED_FIELDS:
        text = _text(values.get(name))
        parts.append("~" if text is None else f"{len(text)}:{text}")
    return hmac.digest(_derived_key(key), "".join(parts).encode(), "sha256").hex()


def seal_knowledge(knowledge: Any) -> None:
    """Seal a row about to be saved with the current key (the model's save() calls this)."""
    key_id = settings.MCA_LOG_HMAC_KEY_ID
    knowledge.mac_key_id = key_id
    knowledge.mac = knowledge_mac(
        {name: getattr(knowledge, name) for name in SEALED_FIELDS}, settings.MCA_LOG_HMAC_KEYS[key_id]
    )
    knowledge.__dict__[_SEALED_OK] = True


def knowledge_seal_problem(knowledge: Any) -> str | None:
    """Why the row's seal does not verify, or None when it does."""
    if not knowledge.mac:
        return "it carries no MAC: it was not written by the application"
    key = settings.MCA_LOG_HMAC_KEYS.get(knowledge.mac_key_id)
    if key is None:
        return f"it names MAC key {knowledge.mac_key_id!r}, which is not among MCA_LOG_HMAC_KEYS"
    expected = knowledge_mac({name: getattr(knowledge, name) for name in SEALED_FIELDS}, key)
    if not hmac.compare_digest(expected, knowledge.mac):
        return "its MAC does not verify: it was written or edited by someone without the log's key"
    return None


def knowledge_sealed(knowledge: Any) -> bool:
    """Whether the row's seal verifies (computed once per instance)."""
    sealed = knowledge.__dict__.get(_SEALED_OK)
    if sealed is None:
        sealed = knowledge.__dict__[_SEALED_OK] = knowledge_seal_problem(knowledge) is None
    return sealed
