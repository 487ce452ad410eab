"""verify: time `verify_chain()` over the whole log, and incrementally from a checkpoint 10 000 records back."""

from __future__ import annotations

import time

from mca.models import AcceptanceRecord
from mca.verify import verify_chain

INCREMENTAL_BACK = 10_000


def _checkpoint_back(records_back: int):
    """A signed checkpoint `records_back` records before the head, as the beat task would have written it then."""
    from django.utils import timezone

    from mca.checkpoints import _save, sign_checkpoint

    last = AcceptanceRecord.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0
    sequence = max(1, last - records_back)
    head_hash = AcceptanceRecord.objects.filter(sequence=sequence).values_list("entry_hash", flat=True).get()
    moment = timezone.now()
    checkpoint = sign_checkpoint(sequence=sequence, head_hash=head_hash, moment=moment)
    from dataclasses import replace

    return replace(checkpoint, name=_save("checkpoints", sequence, moment, checkpoint.file_json()))


def run() -> dict:
    started = time.perf_counter()
    result = verify_chain()
    elapsed = time.perf_counter() - started
    rate = result.checked / elapsed if elapsed else 0.0
    print("\n## verify")
    print(f"verify_chain: {result.checked:,} records in {elapsed:.2f} s = {rate:,.0f} records/s; ok={result.ok}")
    if not result.ok:
        print(f"  first break: {result.first_break}")
    if result.checked:
        print(f"  extrapolated to 1,000,000 records: {1_000_000 / rate:.1f} s (target <= 15 s)")
    checkpoint = _checkpoint_back(INCREMENTAL_BACK)
    started = time.perf_counter()
    incremental = verify_chain(start=checkpoint)
    inc_elapsed = time.perf_counter() - started
    print(
        f"verify_chain(start=checkpoint #{checkpoint.sequence}): {incremental.checked:,} records in "
        f"{inc_elapsed:.3f} s; {incremental.checkpoints_checked} checkpoint(s) checked; ok={incremental.ok}"
    )
    return {
        "records": result.checked,
        "seconds": elapsed,
        "rate": rate,
        "ok": result.ok,
        "incremental_records": incremental.checked,
        "incremental_seconds": inc_elapsed,
        "incremental_ok": incremental.ok,
    }
