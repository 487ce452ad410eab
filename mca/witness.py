"""Witnesses (issue 17; Certificate Transparency's gossip, Go's checksum database): the signed checkpoints and the
full public key are published at stable URLs under /.well-known/mca-log/, so customers, auditors or another system
keep copies; `mca_witness` fetches them, stores what it saw, and reports a fork.

Published (JSON, no login; nothing in them names a customer):

    /.well-known/mca-log/                         log id, the signing public key(s) in full, the newest checkpoint
    /.well-known/mca-log/checkpoints/             the newest MAX_LISTED checkpoint file names
    /.well-known/mca-log/checkpoints/<name>       one checkpoint file, exactly as stored (signed)
    /.well-known/mca-log/links/?after=N&to=M      (sequence, prev_hash, content_digest, entry_hash) of records
                                                  N+1..M: enough to prove M's head extends N's, never their content

A witness keeps, per log, every (sequence, head hash) it verified. A fork is proof of misbehaviour: two signed
heads for one sequence, or a new head that is not an extension of one seen before (its links from the seen head
do not hash to it, or it is shorter than one seen).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from mca.chain import KEYED_VERSION, content_digest, link_hash
from mca.checkpoints import (
    _newest_first,
    _read,
    key_id_for,
    latest_checkpoint,
    raw_public_key,
    storage_name,
    trusted_public_keys,
)
from mca.models import AcceptanceRecord

MAX_LISTED = 1000
MAX_LINKS = 10_000


# --- what is published ---


def publication() -> dict[str, Any]:
    latest = latest_checkpoint()
    return {
        "log_id": settings.MCA_LOG_ID,
        "algorithm": "Ed25519",
        # The current signing key in full (what verify.py --key-url and mca_witness read), and every key still
        # trusted for older checkpoints.
        "key_id": key_id_for(raw_public_key()),
        "public_key": _b64(raw_public_key()),
        "public_keys": [{"key_id": key_id, "public_key": _b64(key)} for key_id, key in trusted_public_keys().items()],
        "latest_checkpoint": latest.file_json() | {"name": _short(latest.name)} if latest else None,
        "checkpoints_url": "checkpoints/",
        "links_url": "links/",
        "max_checkpoint_lag_seconds": settings.MCA_CHECKPOINT_MAX_LAG_SECONDS,
    }


def checkpoint_names() -> list[str]:
    """The newest MAX_LISTED checkpoint file names, oldest first: only the newest day partitions are listed."""
    newest = []
    for _, name in _newest_first("checkpoints"):
        newest.append(_short(name))
        if len(newest) == MAX_LISTED:
            break
    return newest[::-1]


def checkpoint_file(short_name: str) -> dict[str, Any] | None:
    """One checkpoint file by its published name: its day partition is in the name (no listing)."""
    name = storage_name(short_name)
    return _read(name) if name else None


def links(*, after: int, to: int) -> list[dict[str, Any]]:
    """The links of records after..to (at most MAX_LINKS): each record's prev_hash, content digest and hash."""
    if after < 0 or to < after or to - after > MAX_LINKS:
        raise ValueError(f"need 0 <= after <= to and at most {MAX_LINKS} records")
    from mca.chain import _FIELD_COUNT, _STORED, _VERSION, VERIFY_COLUMNS

    found = []
    rows = AcceptanceRecord.objects.filter(sequence__gt=after, sequence__lte=to).order_by("sequence")
    for row in rows.values_list(*VERIFY_COLUMNS):
        version = row[_VERSION]
        found.append(
            {
                "sequence": row[0],
                "hash_version": version,
                "prev_hash": row[2],
                "content_digest": content_digest(row[:_FIELD_COUNT], version) if version >= KEYED_VERSION else None,
                "entry_hash": row[_STORED],
            }
        )
    return found


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- the witness ---


@dataclass
class Seen:
    """What a witness verified so far for one log: sequence -> head hash (as text keys, JSON-friendly)."""

    log_id: str
    key_id: str
    heads: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Seen | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(data["log_id"], data["key_id"], dict(data["heads"]))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"log_id": self.log_id, "key_id": self.key_id, "heads": self.heads}, indent=1))

    def newest(self) -> tuple[int, str] | None:
        if not self.heads:
            return None
        sequence = max(map(int, self.heads))
        return sequence, self.heads[str(sequence)]


@dataclass(frozen=True)
class WitnessReport:
    checked: int
    forks: list[str]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.forks


Fetch = Callable[[str], Any]  # relative URL -> parsed JSON


def witness(fetch: Fetch, seen: Seen | None, *, key_id: str | None = None) -> tuple[WitnessReport, Seen]:
    """Fetch the publication, verify every listed checkpoint with the published key (pinned by `key_id`, or by the
    id seen before), and compare with what was seen: a fork is two heads for one sequence, or a newest head that is
    not an extension of the newest seen before."""
    published = fetch("")
    public = base64.b64decode(published["public_key"])
    published_id = key_id_for(public)
    pinned = key_id or (seen.key_id if seen else None)
    forks: list[str] = []
    notes: list[str] = []
    if pinned and published_id != pinned:
        forks.append(f"the log is now signed with key {published_id}, not {pinned}: a new key is not an extension")
        return WitnessReport(0, forks, notes), seen or Seen(published["log_id"], pinned)
    if seen is None:
        seen = Seen(published["log_id"], published_id)
        notes.append(f"first contact with log {seen.log_id}: trusting key {published_id} from here on")
    if published["log_id"] != seen.log_id:
        forks.append(f"the log id is now {published['log_id']!r}, not {seen.log_id!r}")
        return WitnessReport(0, forks, notes), seen
    keys = {published_id: public}
    previous_newest = seen.newest()
    checked = 0
    for name in fetch("checkpoints/"):
        checkpoint = _verified(fetch(f"checkpoints/{name}"), keys, seen.log_id, name, forks)
        if checkpoint is None:
            continue
        checked += 1
        known = seen.heads.get(str(checkpoint.sequence))
        if known is not None and known != checkpoint.head_hash:
            forks.append(
                f"fork at #{checkpoint.sequence}: checkpoint {name} signs head {checkpoint.head_hash[:16]}…, but "
                f"head {known[:16]}… was signed for the same sequence before"
            )
            continue
        seen.heads[str(checkpoint.sequence)] = checkpoint.head_hash
    latest = published.get("latest_checkpoint")
    if previous_newest and latest and int(latest["checkpoint"]["sequence"]) < previous_newest[0]:
        forks.append(
            f"rollback: the newest published checkpoint is at #{latest['checkpoint']['sequence']}, but one at "
            f"#{previous_newest[0]} was seen before: the log was cut back or restored from an older copy"
        )
    newest = seen.newest()
    if previous_newest and newest:
        old_sequence, old_hash = previous_newest
        new_sequence, new_hash = newest
        if new_sequence > old_sequence:
            problem = _extension_problem(fetch, old_sequence, old_hash, new_sequence, new_hash)
            if problem:
                forks.append(problem)
    return WitnessReport(checked, forks, notes), seen


def _verified(data: Any, keys: dict[str, bytes], log_id: str, name: str, forks: list[str]):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from mca.checkpoints import read_checkpoint_file

    try:
        checkpoint = read_checkpoint_file(data, name)
        key = keys[checkpoint.key_id]
        Ed25519PublicKey.from_public_bytes(key).verify(base64.b64decode(data["signature"]), checkpoint.signed_bytes())
    except (AttributeError, KeyError, TypeError, ValueError, InvalidSignature) as error:
        forks.append(f"checkpoint {name} does not verify with the published key ({type(error).__name__})")
        return None
    if checkpoint.log_id != log_id:
        forks.append(f"checkpoint {name} is of log {checkpoint.log_id!r}")
        return None
    return checkpoint


def _extension_problem(fetch: Fetch, old_sequence: int, old_hash: str, new_sequence: int, new_hash: str) -> str | None:
    """Whether the records' links lead from the head seen before to the new head."""
    current, at = old_hash, old_sequence
    while at < new_sequence:
        to = min(new_sequence, at + MAX_LINKS)
        page = fetch(f"links/?after={at}&to={to}")
        if not page:
            break
        for link in page:
            if link["sequence"] != at + 1 or link["prev_hash"] != current or not link["content_digest"]:
                return (
                    f"fork: the head at #{new_sequence} is not an extension of the head seen at #{old_sequence} "
                    f"(record #{at + 1}'s link does not follow from it)"
                )
            if link_hash(link["prev_hash"], link["content_digest"]) != link["entry_hash"]:
                return f"fork: record #{link['sequence']}'s published link does not hash to its entry hash"
            current, at = link["entry_hash"], link["sequence"]
    if (at, current) != (new_sequence, new_hash):
        return (
            f"fork: the head at #{new_sequence} is not an extension of the head seen at #{old_sequence} "
            f"(the links end at #{at} with {current[:16]}…)"
        )
    return None
