"""Signed checkpoints of the acceptance log's head, kept where the database cannot rewrite them (R7).

Certificate Transparency's answer to an operator who can rewrite its own log: publish signed heads elsewhere and
check every later state against them. Here a checkpoint is

    {"log_id", "sequence", "head_hash", "time" (UTC), "key_id", "hash_version"}

as canonical JSON (sorted keys, no spaces, ASCII), prefixed by `CHECKPOINT_DOMAIN`, signed with Ed25519
(`MCA_CHECKPOINT_SIGNING_KEY`, a 32-byte seed in the settings, never in the database), and written once as a JSON
file (the checkpoint, its signature and the public key) to the `mca_checkpoints` storage: write-once files
locally, an S3-compatible bucket with object lock in production. `key_id` is "ed25519:" and the first 16 hex
digits of SHA-256 of the raw public key, so a rotated key's checkpoints name the key that verifies them
(`MCA_CHECKPOINT_PUBLIC_KEYS` keeps old public keys trusted). Only configured keys are trusted: the public key
in a file is for third parties, who compare its id with the one the CSP publishes.

A checkpoint is written only for a chain that verifies from the previous checkpoint to the head, so a checkpoint
never blesses a forged append or a truncation. After a verification passes, a signed "verified up to" marker names
the checkpoint it reached; `mca_verify_log --incremental` starts there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.utils import timezone

from mca.chain import CURRENT_VERSION, BreakKind, ChainBreak, VerifyResult

logger = logging.getLogger(__name__)

STORAGE_ALIAS = "mca_checkpoints"
CHECKPOINT_FORMAT = "mca-acceptance-log-checkpoint/v1"
VERIFIED_FORMAT = "mca-acceptance-log-verified/v1"
CHECKPOINT_DOMAIN = (CHECKPOINT_FORMAT + "\n").encode()
VERIFIED_DOMAIN = (VERIFIED_FORMAT + "\n").encode()
_NAME = re.compile(r"^(\d{15})-(\d{8}T\d{12}Z)\.json$")


class WriteOnceFileSystemStorage(FileSystemStorage):
    """A FileSystemStorage that never replaces a file: saving a name that exists raises instead of renaming.

    With `file_permissions_mode` 0o444 the files are read-only as well. The folder belongs on a volume the
    database's host and users cannot write."""

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        if self.exists(name):
            raise FileExistsError(f"{name} exists: checkpoint files are written once")
        return super().get_available_name(name, max_length)


class CheckpointRefused(Exception):
    """The chain does not verify from the last checkpoint to the head: nothing is signed."""

    def __init__(self, result: VerifyResult) -> None:
        super().__init__(f"not signing a checkpoint: the acceptance log is NOT intact: {result.first_break}")
        self.result = result


def checkpoint_storage() -> Storage:
    return storages[STORAGE_ALIAS]


# --- keys ---


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(settings.MCA_CHECKPOINT_SIGNING_KEY)


def raw_public_key(private: Ed25519PrivateKey | None = None) -> bytes:
    return (private or signing_key()).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_for(public_key: bytes) -> str:
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def trusted_public_keys() -> dict[str, bytes]:
    """Key id -> raw public key: the current signing key's and the older ones still trusted."""
    keys = [raw_public_key(), *settings.MCA_CHECKPOINT_PUBLIC_KEYS]
    return {key_id_for(key): key for key in keys}


def canonical_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- checkpoints ---


@dataclass(frozen=True)
class Checkpoint:
    log_id: str
    sequence: int
    head_hash: str
    time: str
    key_id: str
    hash_version: int
    # The first sequence from which every record is sealed (MCA_LOG_KEYED_SINCE when signed); None in
    # checkpoints written before it was carried.
    keyed_since: int | None = None
    name: str = ""
    signature: str = ""
    public_key: str = ""

    def body(self) -> dict[str, Any]:
        body = {
            "log_id": self.log_id,
            "sequence": self.sequence,
            "head_hash": self.head_hash,
            "time": self.time,
            "key_id": self.key_id,
            "hash_version": self.hash_version,
        }
        if self.keyed_since is not None:
            body["keyed_since"] = self.keyed_since
        return body

    def signed_bytes(self) -> bytes:
        return CHECKPOINT_DOMAIN + canonical_json(self.body())

    def file_json(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "checkpoint": self.body(),
            "signature": self.signature,
            "public_key": self.public_key,
            "algorithm": "Ed25519",
        }

    def describe(self) -> str:
        return f"the checkpoint of {self.time} ({self.name or 'unnamed'}, key {self.key_id})"


@dataclass(frozen=True)
class Loaded:
    checkpoints: list[Checkpoint]
    problems: list[ChainBreak] = field(default_factory=list)


def _folder(kind: str) -> str:
    return f"{settings.MCA_LOG_ID}/{kind}"


# --- layout: one partition per UTC day, <log>/<kind>/YYYY/MM/DD/<sequence>-<time>Z.json ---
#
# At the 10-second cadence a day holds up to 8,640 checkpoints; one flat folder (or S3 prefix) would have to be listed
# whole by every write (to find the latest) and every verification. Partitioned by the day of the write, the
# latest is in the newest day's folder, an incremental run lists only the days from its start checkpoint's (one day
# earlier too, for a writer whose clock runs behind), and a full run lists every day. Files written before the
# partitioning, flat in <log>/<kind>/, are still read (they come first: they are older than every partition).

_DIGITS = {4: re.compile(r"^\d{4}$"), 2: re.compile(r"^\d{2}$")}
PARTITION_SLACK = timedelta(days=1)


def _partition(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y/%m/%d}"


def _listdir(path: str) -> tuple[list[str], list[str]]:
    try:
        directories, files = checkpoint_storage().listdir(path)
    except FileNotFoundError:
        return [], []
    return list(directories), list(files)


def _matching(folder: str, files: list[str]) -> list[tuple[int, str]]:
    found = []
    for name in files:
        match = _NAME.match(name)
        if match:
            found.append((int(match.group(1)), f"{folder}/{name}"))
    return sorted(found)


def _days(kind: str, directories: list[str], since: date | None = None) -> list[str]:
    """The day partitions of one kind (as "YYYY/MM/DD"), oldest first, from `since` on; one listing per year and
    month (a year of checkpoints: 13 listings), none per file."""
    days = []
    for year in sorted(d for d in directories if _DIGITS[4].match(d)):
        if since and int(year) < since.year:
            continue
        months, _ = _listdir(f"{_folder(kind)}/{year}")
        for month in sorted(m for m in months if _DIGITS[2].match(m)):
            if since and (int(year), int(month)) < (since.year, since.month):
                continue
            dates, _ = _listdir(f"{_folder(kind)}/{year}/{month}")
            for day in sorted(d for d in dates if _DIGITS[2].match(d)):
                try:
                    when = date(int(year), int(month), int(day))
                except ValueError:
                    continue
                if since is None or when >= since:
                    days.append(f"{year}/{month}/{day}")
    return days


def _since(start: Checkpoint | None) -> date | None:
    """The first day partition that can hold checkpoints after `start`."""
    if start is None:
        return None
    match = _NAME.match(start.name.rsplit("/", 1)[-1]) if start.name else None
    stamp = match.group(2) if match else start.time
    try:
        moment = datetime.strptime(stamp[:8], "%Y%m%d") if match else datetime.fromisoformat(stamp[:10])
    except ValueError:
        return None
    return (moment - PARTITION_SLACK).date()


def _names(kind: str, *, since: date | None = None) -> list[tuple[int, str]]:
    """(sequence, storage name) of the files of one kind, in sequence then name order: the flat files of the old
    layout and those of every day partition from `since` on (all when None)."""
    directories, files = _listdir(_folder(kind))
    found = _matching(_folder(kind), files)
    for day in _days(kind, directories, since):
        _, day_files = _listdir(f"{_folder(kind)}/{day}")
        found += _matching(f"{_folder(kind)}/{day}", day_files)
    return sorted(found)


def _newest_first(kind: str) -> Iterator[tuple[int, str]]:
    """The files of one kind, newest first, listing lazily from the newest year, month and day: the latest
    checkpoint costs four listings (the folder, its newest year, month and day), not one per file or per day."""
    folder = _folder(kind)
    directories, files = _listdir(folder)
    for year in sorted((d for d in directories if _DIGITS[4].match(d)), reverse=True):
        months, _ = _listdir(f"{folder}/{year}")
        for month in sorted((m for m in months if _DIGITS[2].match(m)), reverse=True):
            days, _ = _listdir(f"{folder}/{year}/{month}")
            for day in sorted((d for d in days if _DIGITS[2].match(d)), reverse=True):
                path = f"{folder}/{year}/{month}/{day}"
                _, day_files = _listdir(path)
                yield from reversed(_matching(path, day_files))
    yield from reversed(_matching(folder, files))


def storage_name(short_name: str, kind: str = "checkpoints") -> str | None:
    """Where a file of this short name (`<sequence>-<time>Z.json`) is stored: its day partition, or the flat folder
    of the old layout; None when it is in neither (no listing: one existence check each)."""
    match = _NAME.match(short_name)
    if not match:
        return None
    stamp = match.group(2)
    day = f"{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}"
    candidates = (f"{_folder(kind)}/{day}/{short_name}", f"{_folder(kind)}/{short_name}")
    storage = checkpoint_storage()
    return next((name for name in candidates if storage.exists(name)), None)


def _read(name: str) -> dict[str, Any]:
    with checkpoint_storage().open(name, "rb") as handle:
        return json.loads(handle.read().decode("utf-8"))


def _verify_signature(key_id: str, signature_b64: str, message: bytes) -> str | None:
    """Why the signature does not verify with the trusted key of that id, or None when it does."""
    key = trusted_public_keys().get(key_id)
    if key is None:
        return f"it is signed with key {key_id!r}, which is not a trusted checkpoint key"
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, ValueError):
        return "its signature does not verify: the file was forged or edited"
    return None


def read_checkpoint_file(data: dict[str, Any], name: str = "") -> Checkpoint:
    """A checkpoint file's fields, exactly as a checkpoint has them (its signature NOT verified yet: the log's own
    keys verify it in `parse_checkpoint`, a witness's published keys in `mca.witness`); ValueError says why not."""
    if data.get("format") != CHECKPOINT_FORMAT or not isinstance(data.get("checkpoint"), dict):
        raise ValueError(f"it is not a {CHECKPOINT_FORMAT} file")
    body = data["checkpoint"]
    try:
        checkpoint = Checkpoint(
            log_id=str(body["log_id"]),
            sequence=int(body["sequence"]),
            head_hash=str(body["head_hash"]),
            time=str(body["time"]),
            key_id=str(body["key_id"]),
            hash_version=int(body["hash_version"]),
            keyed_since=int(body["keyed_since"]) if "keyed_since" in body else None,
            name=name,
            signature=str(data.get("signature", "")),
            public_key=str(data.get("public_key", "")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"it lacks or garbles {error}") from error
    if canonical_json(checkpoint.body()) != canonical_json(body):
        raise ValueError("it holds fields a checkpoint does not have")
    return checkpoint


def parse_checkpoint(data: dict[str, Any], name: str = "") -> Checkpoint:
    """A checkpoint file's content, its signature verified with the configured keys; ValueError says why not."""
    checkpoint = read_checkpoint_file(data, name)
    problem = _verify_signature(checkpoint.key_id, checkpoint.signature, checkpoint.signed_bytes())
    if problem:
        raise ValueError(problem)
    if checkpoint.log_id != settings.MCA_LOG_ID:
        raise ValueError(f"it is a checkpoint of log {checkpoint.log_id!r}, not {settings.MCA_LOG_ID!r}")
    return checkpoint


def load_checkpoints(*, after: int = 0, start: Checkpoint | None = None) -> Loaded:
    """Every checkpoint at sequence `after` or later, each signature verified; a file that does not verify is a
    problem named by its file, never silently skipped. From a `start` checkpoint (an incremental run), only the
    day partitions from its day on are listed (and the day before)."""
    checkpoints: list[Checkpoint] = []
    problems: list[ChainBreak] = []
    try:
        names = _names("checkpoints", since=_since(start))
    except Exception as error:  # any storage backend's failure (a bucket unreachable, denied): never "no checkpoints"
        problem = (
            f"the checkpoint storage could not be read ({type(error).__name__}: {error}): nothing to check against"
        )
        return Loaded([], [ChainBreak(0, None, problem, BreakKind.CHECKPOINT_STORAGE)])
    for sequence, name in names:
        if sequence < after:
            continue
        try:
            checkpoint = parse_checkpoint(_read(name), name)
            if checkpoint.sequence != sequence:
                raise ValueError(f"its name says #{sequence}, its content #{checkpoint.sequence}")
        except (OSError, ValueError) as error:
            problems.append(
                ChainBreak(
                    sequence, None, f"checkpoint file {name} does not verify: {error}", BreakKind.CHECKPOINT_SIGNATURE
                )
            )
            continue
        checkpoints.append(checkpoint)
    return Loaded(checkpoints, problems)


def latest_checkpoint() -> Checkpoint | None:
    """The newest checkpoint that verifies (highest sequence, then latest time)."""
    for _, name in _newest_first("checkpoints"):
        try:
            return parse_checkpoint(_read(name), name)
        except (OSError, ValueError):
            continue
    return None


def find_checkpoint(spec: str) -> Checkpoint:
    """A checkpoint by its file name (with or without folder) or by its sequence number (its newest file)."""
    short = spec.rsplit("/", 1)[-1]
    name = storage_name(short)
    if name is not None and spec in (name, short):
        return parse_checkpoint(_read(name), name)
    for sequence, name in _newest_first("checkpoints"):
        if spec in (name, name.rsplit("/", 1)[-1]) or (spec.isdigit() and int(spec) == sequence):
            return parse_checkpoint(_read(name), name)
    raise LookupError(f"no checkpoint {spec!r} in {_folder('checkpoints')}/")


def _save(kind: str, sequence: int, moment: datetime, data: dict[str, Any]) -> str:
    """Write once into the day partition of `moment`: no listing, one existence check."""
    name = f"{_folder(kind)}/{_partition(moment)}/{sequence:015d}-{moment.astimezone(UTC):%Y%m%dT%H%M%S%f}Z.json"
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    saved = checkpoint_storage().save(name, ContentFile(text.encode("utf-8")))
    if saved != name:  # a storage that renamed instead of refusing (S3 with file_overwrite=False)
        logger.warning("Checkpoint storage saved %s as %s", name, saved)
    return saved


def sign_checkpoint(*, sequence: int, head_hash: str, moment: datetime | None = None) -> Checkpoint:
    private = signing_key()
    public = raw_public_key(private)
    unsigned = Checkpoint(
        log_id=settings.MCA_LOG_ID,
        sequence=sequence,
        head_hash=head_hash,
        time=_utc(moment or timezone.now()),
        key_id=key_id_for(public),
        hash_version=CURRENT_VERSION,
        keyed_since=settings.MCA_LOG_KEYED_SINCE,
    )
    signature = private.sign(unsigned.signed_bytes())
    return replace(unsigned, signature=_b64(signature), public_key=_b64(public))


def store_checkpoint(checkpoint: Checkpoint, moment: datetime) -> Checkpoint:
    """Keep a signed checkpoint in the write-once storage; returns it with its name."""
    name = _save("checkpoints", checkpoint.sequence, moment, checkpoint.file_json())
    logger.info("Acceptance log checkpoint at #%s written to %s", checkpoint.sequence, name)
    return replace(checkpoint, name=name)


# --- cadence: a checkpoint within MCA_CHECKPOINT_MAX_LAG_SECONDS of every new record ---

_SCHEDULED = "mca:checkpoint-scheduled"  # cache key: a checkpoint task is on its way; its value, when it fires
# A task never fires before its countdown, but the clocks of the hosts that compare against it may disagree a little.
_CLOCK_MARGIN_SECONDS = 1.0
# Until when (time.time()) this process knows that a scheduled checkpoint task is still to fire, so its records are
# covered without asking the cache: one cache round trip per process per lag window instead of one per commit.
_covered_until = 0.0

# How a checkpoint is scheduled `lag` seconds from now: the Celery task, registered by McaConfig.ready, so this
# module (below mca.verify and mca.tasks) never imports its callers.
_schedule_in: Callable[[int], object] | None = None


def schedule_checkpoints_with(schedule: Callable[[int], object]) -> None:
    global _schedule_in
    _schedule_in = schedule


def schedule_checkpoint() -> None:
    """After a record commits: make sure a checkpoint follows within MCA_CHECKPOINT_MAX_LAG_SECONDS. The first
    record after a checkpoint sends one delayed task and stores when it fires under a cache key; the records after
    it find the key and add nothing, so a burst of confirmations shares one checkpoint (Trillian's batched
    integration, in small). A process that has seen the key remembers when that task fires and until then (less a
    clock margin) asks nothing: a record it commits before then is read by that task. The task clears the key
    before it reads the head, so a record committed after that read schedules the next one. A lost task only
    delays: the key expires and beat signs every MCA_CHECKPOINT_SECONDS anyway."""
    global _covered_until
    if not settings.MCA_CHECKPOINT_AFTER_COMMIT:
        return
    now = time.time()
    if now < _covered_until:
        return
    lag = settings.MCA_CHECKPOINT_MAX_LAG_SECONDS
    if _schedule_in is None:
        raise RuntimeError("mca.checkpoints: no scheduler registered (McaConfig.ready registers the checkpoint task)")
    fires_at = now + lag
    if not cache.add(_SCHEDULED, fires_at, timeout=lag + 60):
        scheduled = cache.get(_SCHEDULED)
        if isinstance(scheduled, float):  # None: the task just started; 1: a key written before the time was kept
            _covered_until = scheduled - _CLOCK_MARGIN_SECONDS
        return
    # Before scheduling: a task run at once (eager, in tests) clears it again in scheduled_checkpoint_due.
    _covered_until = fires_at - _CLOCK_MARGIN_SECONDS
    try:
        _schedule_in(lag)
    except Exception:  # a broker outage must not fail a committed confirmation; beat is the net
        _covered_until = 0.0
        cache.delete(_SCHEDULED)
        logger.exception("Could not schedule the acceptance log's next checkpoint; beat will sign it")


def scheduled_checkpoint_due() -> None:
    """The scheduled task starts: records committed from here on schedule the next checkpoint."""
    global _covered_until
    _covered_until = 0.0
    cache.delete(_SCHEDULED)


# --- "verified up to" markers for incremental verification ---


def record_verified(checkpoint: Checkpoint, *, moment: datetime | None = None) -> str:
    """Note (signed, write-once) that the log verified up to `checkpoint`; returns the marker's name."""
    moment = moment or timezone.now()
    private = signing_key()
    public = raw_public_key(private)
    body = {
        "log_id": settings.MCA_LOG_ID,
        "checkpoint": checkpoint.name,
        "sequence": checkpoint.sequence,
        "head_hash": checkpoint.head_hash,
        "time": _utc(moment),
        "key_id": key_id_for(public),
    }
    signature = private.sign(VERIFIED_DOMAIN + canonical_json(body))
    data = {"format": VERIFIED_FORMAT, "verified": body, "signature": _b64(signature), "public_key": _b64(public)}
    return _save("verified", checkpoint.sequence, moment, data)


def last_verified_checkpoint() -> Checkpoint | None:
    """The checkpoint named by the newest "verified up to" marker whose signature verifies (None: no marker)."""
    for _, name in _newest_first("verified"):
        try:
            data = _read(name)
            body = data["verified"]
            if data.get("format") != VERIFIED_FORMAT or body.get("log_id") != settings.MCA_LOG_ID:
                continue
            if _verify_signature(str(body["key_id"]), str(data["signature"]), VERIFIED_DOMAIN + canonical_json(body)):
                logger.warning("Ignoring verified-up-to marker %s: its signature does not verify", name)
                continue
            checkpoint = parse_checkpoint(_read(body["checkpoint"]), body["checkpoint"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if (checkpoint.sequence, checkpoint.head_hash) == (body["sequence"], body["head_hash"]):
            return checkpoint
    return None


def newest_covered(checkpoints: list[Checkpoint], last_sequence: int) -> Checkpoint | None:
    covered = [c for c in checkpoints if c.sequence <= last_sequence]
    return max(covered, key=lambda c: (c.sequence, c.time)) if covered else None
