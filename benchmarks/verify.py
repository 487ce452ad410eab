"""verify: time `verify_chain()` over the whole log; records per second."""

from __future__ import annotations

import time

from mca.chain import verify_chain


def run() -> dict:
    started = time.perf_counter()
    result = verify_chain()
    elapsed = time.perf_counter() - started
    rate = result.checked / elapsed if elapsed else 0.0
    print("\n## verify")
    print(f"verify_chain: {result.checked:,} records in {elapsed:.2f} s = {rate:,.0f} records/s; ok={result.ok}")
    if result.checked:
        print(f"  extrapolated to 1,000,000 records: {1_000_000 / rate:.1f} s (target <= 15 s)")
    return {"records": result.checked, "seconds": elapsed, "rate": rate, "ok": result.ok}
