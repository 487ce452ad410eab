"""Verifying the acceptance log as a whole: the chain of records (`mca.chain`), its end against the chain head,
and every signed checkpoint (`mca.checkpoints`) - and writing a checkpoint, which verifies first.

It sits above both modules (chain < checkpoints < verify), so neither imports the other's caller: the chain knows
hashes and records, the checkpoints know signatures and storage, and this module puts them together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta

from django.conf import settings
from django.utils import timezone

from mca.chain import (
    KEYED_VERSION,
    BreakKind,
    ChainBreak,
    VerifyResult,
    entry_hash,
    hashed_rows,
    mac_problem,
    record_at,
    verify_hashed_rows,
)
from mca.checkpoints import (
    Checkpoint,
    CheckpointRefused,
    latest_checkpoint,
    load_checkpoints,
    sign_checkpoint,
    store_checkpoint,
)
from mca.models import GENESIS_HASH, AcceptanceRecord, ChainHead


def _start_at(checkpoint: Checkpoint) -> ChainBreak | None:
    """An incremental run starts at a checkpoint: the record there must exist, be intact and be the one signed."""
    found = record_at(checkpoint.sequence)
    if found is None:
        return ChainBreak(
            checkpoint.sequence,
            None,
            f"record #{checkpoint.sequence}, where incremental verification starts ({checkpoint.describe()}), is "
            "missing: the log was restored from an earlier backup or its tail deleted",
            BreakKind.MISSING,
        )
    record_id, stored, version, key_id, mac, values = found
    try:
        recomputed = entry_hash(values, version)
    except ValueError:
        recomputed = ""
    if recomputed != stored:
        return ChainBreak(
            checkpoint.sequence, record_id, "content does not match its hash: a field was changed", BreakKind.CONTENT
        )
    if stored != checkpoint.head_hash:
        return ChainBreak(checkpoint.sequence, record_id, checkpoint_mismatch(checkpoint, stored), BreakKind.CHECKPOINT)
    if version >= KEYED_VERSION:
        problem = mac_problem(stored, key_id, mac)
        if problem:
            return ChainBreak(checkpoint.sequence, record_id, problem, BreakKind.MAC)
    return None


def checkpoint_mismatch(checkpoint: Checkpoint, stored: str) -> str:
    return (
        f"it is not the record {checkpoint.describe()} signed (hash {stored[:12]}…, signed "
        f"{checkpoint.head_hash[:12]}…): the log was rewritten and its chain recomputed, or restored from an "
        "earlier backup and written to again"
    )


def tail_missing(last_sequence: int, last_id: int | None, newest: Checkpoint) -> ChainBreak:
    """The log ends before the newest checkpoint's signed size: its tail was cut, or an older backup restored.
    Named as what it is, a missing tail, not as records no checkpoint covers."""
    first, size = last_sequence + 1, newest.sequence
    if last_id is None and last_sequence:  # an incremental run that verified nothing past its start
        last_id = AcceptanceRecord.objects.filter(sequence=last_sequence).values_list("id", flat=True).first()
    missing = f"record #{size} is missing" if first == size else f"records #{first}–#{size} are missing"
    where = f"the log ends at #{last_sequence}" + (f" (id {last_id})" if last_id is not None else "")
    return ChainBreak(
        first,
        None,
        f"{where}, but {newest.describe()} signed size {size} (head hash {newest.head_hash[:12]}…): {missing} "
        "from the end: the database was restored from an earlier backup, or its tail was deleted",
        BreakKind.MISSING,
    )


def checkpoint_breaks(checkpoints: Sequence[Checkpoint], last_sequence: int, last_id: int | None) -> list[ChainBreak]:
    """Each checkpoint against the stored log: its record must exist with exactly the signed hash; checkpoints past
    the log's end name one missing tail (the newest of them gives its size).

    One indexed query per thousand checkpoints; together with the chain's own check (every stored hash matches its
    record) this proves the log still holds what each checkpoint signed."""
    found: list[ChainBreak] = []
    by_sequence: dict[int, tuple[int, str]] = {}
    sequences = sorted({checkpoint.sequence for checkpoint in checkpoints})
    for start in range(0, len(sequences), 1000):
        rows = AcceptanceRecord.objects.filter(sequence__in=sequences[start : start + 1000]).values_list(
            "sequence", "id", "entry_hash"
        )
        by_sequence.update({sequence: (record_id, stored) for sequence, record_id, stored in rows})
    beyond = [c for c in checkpoints if c.sequence > last_sequence and c.sequence not in by_sequence]
    if beyond:
        found.append(tail_missing(last_sequence, last_id, max(beyond, key=lambda c: (c.sequence, c.time))))
    for checkpoint in sorted(checkpoints, key=lambda c: c.sequence):
        if checkpoint.sequence == 0 or checkpoint in beyond:
            continue
        if checkpoint.sequence not in by_sequence:  # a gap inside the log: the chain names it first
            found.append(
                ChainBreak(
                    checkpoint.sequence,
                    None,
                    f"record #{checkpoint.sequence}, which {checkpoint.describe()} signed (hash "
                    f"{checkpoint.head_hash[:12]}…), is missing",
                    BreakKind.MISSING,
                )
            )
            continue
        record_id, stored = by_sequence[checkpoint.sequence]
        if stored != checkpoint.head_hash:
            found.append(
                ChainBreak(
                    checkpoint.sequence, record_id, checkpoint_mismatch(checkpoint, stored), BreakKind.CHECKPOINT
                )
            )
    return found


def _head() -> tuple[int, str]:
    return ChainHead.objects.filter(pk=1).values_list("last_sequence", "last_hash").first() or (0, GENESIS_HASH)


def head_breaks(result: VerifyResult, head_before: tuple[int, str]) -> list[ChainBreak]:
    """The verified end of the log against the chain head, which every append moves in its own transaction.

    The head is read before the records and again after them, so appends committed while verifying are not taken
    for extra records: records are missing when the log ends short of the head as it was before; extra when it
    goes past the head as it is after."""
    last = result.last_sequence
    head_sequence, head_hash = head_before
    if last < head_sequence:
        where = f"the last record is #{last} (id {result.last_id})" if last else "the log holds no record"
        return [
            ChainBreak(
                last,
                result.last_id,
                f"the chain head says the log ends at #{head_sequence}, but {where}: records "
                f"#{last + 1}–#{head_sequence} are missing from the end",
                BreakKind.MISSING,
            )
        ]
    if last > head_sequence:
        head_sequence, head_hash = _head()
    if last > head_sequence:
        extra_id = AcceptanceRecord.objects.filter(sequence=head_sequence + 1).values_list("id", flat=True).first()
        count = last - head_sequence
        return [
            ChainBreak(
                head_sequence + 1,
                extra_id,
                f"extra record: it lies past the chain head (#{head_sequence}); {count} record(s) "
                f"#{head_sequence + 1}–#{last} were added without the log's append, or the head was moved back",
                BreakKind.EXTRA,
            )
        ]
    if last == head_sequence and last and head_hash != result.last_hash:
        return [
            ChainBreak(
                last,
                result.last_id,
                f"the chain head names hash {head_hash[:12]}… for the last record, which hashes to "
                f"{result.last_hash[:12]}…: the head was moved",
                BreakKind.HEAD,
            )
        ]
    return []


def keyed_floor(checkpoints: Sequence[Checkpoint]) -> int:
    """The first sequence from which every record must be sealed: the lowest of the setting, the floor each signed
    checkpoint carries, and the record after the first checkpoint a version-3 writer signed. Raising the setting
    later (someone with the environment) cannot lift a floor a checkpoint already carries."""
    floors = [settings.MCA_LOG_KEYED_SINCE]
    floors += [c.keyed_since for c in checkpoints if c.keyed_since is not None]
    floors += [c.sequence + 1 for c in checkpoints if c.hash_version >= KEYED_VERSION]
    return max(1, min(floors))


def uncovered_breaks(
    checkpoints: Sequence[Checkpoint], last_sequence: int, start: Checkpoint | None
) -> list[ChainBreak]:
    """Absence is never trust: records that no checkpoint covers, the first of them written longer ago than
    MCA_CHECKPOINT_OVERDUE_SECONDS, are a break (checkpoints deleted, the folder or bucket emptied or replaced, or
    checkpointing stopped). Younger ones are the window a checkpoint is still on its way for.

    Checked only once the chain verified up to `last_sequence`, so the first uncovered record's time is its own
    (sealed) content."""
    if any(c.sequence > last_sequence for c in checkpoints):
        return []  # a checkpoint signed more than the log holds: a missing tail (checkpoint_breaks), not uncovered
    covered = max((c.sequence for c in checkpoints), default=0)
    if start is not None:
        covered = max(covered, start.sequence)
    if last_sequence <= covered:
        return []
    row = AcceptanceRecord.objects.filter(sequence=covered + 1).values_list("id", "created_at").first()
    if row is None:  # the chain verified through it a moment ago; only a concurrent rewrite gets here
        return []
    record_id, written = row
    overdue = settings.MCA_CHECKPOINT_OVERDUE_SECONDS
    if timezone.now() - written <= timedelta(seconds=overdue):
        return []
    records = f"#{covered + 1}" if last_sequence == covered + 1 else f"#{covered + 1}–#{last_sequence}"
    if not checkpoints and start is None:
        why = (
            "the checkpoint storage holds no checkpoint of this log at all (folder or bucket empty, missing or "
            "replaced): the checkpoints were deleted, or never written; a log without checkpoints is never intact"
        )
    else:
        why = (
            f"the newest checkpoint stops at #{covered}: checkpoints after it were deleted, or checkpointing has "
            "stopped"
        )
    return [
        ChainBreak(
            covered + 1,
            record_id,
            f"no checkpoint covers record(s) {records}, although #{covered + 1} was written at "
            f"{written.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, more than {overdue:g} s ago "
            f"(MCA_CHECKPOINT_OVERDUE_SECONDS): {why}",
            BreakKind.UNCOVERED,
        )
    ]


def knowledge_breaks() -> list[ChainBreak]:
    """What is known per customer is sealed too (mca.seal): each row that does not verify, named."""
    from mca.knowledge import knowledge_seal_breaks

    return [
        ChainBreak(
            0,
            None,
            f"customer knowledge {key} (id {knowledge_id}) does not verify: {problem}; the gate treats the "
            "customer as unknown and asks again",
            BreakKind.KNOWLEDGE,
        )
        for knowledge_id, key, problem in knowledge_seal_breaks()
    ]


def verify_chain(
    *,
    chunk_size: int = 10_000,
    progress: Callable[[int], None] | None = None,
    checkpoints: Sequence[Checkpoint] | None = None,
    start: Checkpoint | None = None,
    knowledge: bool = True,
) -> VerifyResult:
    """Verify the log: every record from the first (or, incrementally, from checkpoint `start`), then its end
    against the chain head and against every signed checkpoint (read from the checkpoint storage unless given).

    Records removed from the end would leave an intact but shorter chain: the head and the checkpoints name them.
    """
    problems: list[ChainBreak] = []
    if checkpoints is None:
        loaded = load_checkpoints(after=start.sequence if start is not None else 0, start=start)
        checkpoints, problems = loaded.checkpoints, list(loaded.problems)
    head_before = _head()
    keyed_after = keyed_floor(checkpoints) - 1
    if start is not None:
        first = _start_at(start)
        if first is not None and first.kind == BreakKind.MISSING:
            last = AcceptanceRecord.objects.order_by("-sequence").values_list("sequence", "id").first() or (0, None)
            if last[0] < start.sequence:
                newest = max([start, *checkpoints], key=lambda c: (c.sequence, c.time))
                first = tail_missing(last[0], last[1], newest)
        if first is not None:
            breaks = (first, *problems)
            return VerifyResult(0, start.sequence, first, breaks, started_after=start.sequence)
        version = record_at(start.sequence)[2]
        result = verify_hashed_rows(
            hashed_rows(chunk_size, after=start.sequence),
            progress,
            after=start.sequence,
            after_hash=start.head_hash,
            after_version=version,
            keyed_after=keyed_after,
        )
    else:
        result = verify_hashed_rows(hashed_rows(chunk_size), progress, keyed_after=keyed_after)
    breaks = list(result.breaks)
    if result.first_break is None:
        breaks += checkpoint_breaks(checkpoints, result.last_sequence, result.last_id)
        breaks += head_breaks(result, head_before)
        breaks += uncovered_breaks(checkpoints, result.last_sequence, start)
    else:
        # The chain stopped early; the checkpoints are still compared with what is stored.
        breaks += [b for b in checkpoint_breaks(checkpoints, result.last_sequence, result.last_id) if b.record_id]
    breaks += problems
    breaks.sort(key=lambda b: b.sequence)
    if knowledge:  # after the log's own breaks: they are about the gate's rows, not the chain
        breaks += knowledge_breaks()
    return VerifyResult(
        result.checked,
        result.last_sequence,
        breaks[0] if breaks else None,
        tuple(breaks),
        result.last_hash,
        result.last_id,
        started_after=result.started_after,
        checkpoints_checked=len(checkpoints),
    )


# --- writing a checkpoint ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    checkpoint: Checkpoint | None
    previous: Checkpoint | None
    verified: int  # records verified from the previous checkpoint to the new head

    @property
    def unchanged(self) -> bool:
        return self.checkpoint is None


def write_checkpoint(*, force: bool = False, adopt: bool = False) -> Written:
    """Sign and store a checkpoint of the current head, after verifying the chain from the previous checkpoint
    (the whole log the first time) to it. Nothing is written when the head has not moved since the previous
    checkpoint (unless `force`). Raises CheckpointRefused when the chain does not verify.

    Records written since the previous checkpoint are signed however long ago they were (a stopped beat is what
    this remedies). Without any checkpoint, records older than MCA_CHECKPOINT_OVERDUE_SECONDS mean the
    checkpoints were deleted (or never written): signing then would bless whatever the database now holds, so it is
    refused unless `adopt` (an operator's explicit statement that this log never had checkpoints)."""
    previous = latest_checkpoint()
    # Knowledge rows are the gate's, not the log's: a forged one is named by verification, never signed over.
    result = verify_chain(start=previous, knowledge=False)
    tolerated = {BreakKind.UNCOVERED} if previous is not None or adopt else set()
    if any(found.kind not in tolerated for found in result.breaks):
        raise CheckpointRefused(result)
    if result.last_sequence == 0:
        return Written(None, previous, 0)
    if previous is not None and previous.sequence == result.last_sequence and not force:
        return Written(None, previous, result.checked)
    moment = timezone.now()
    checkpoint = sign_checkpoint(sequence=result.last_sequence, head_hash=result.last_hash, moment=moment)
    return Written(store_checkpoint(checkpoint, moment), previous, result.checked)
