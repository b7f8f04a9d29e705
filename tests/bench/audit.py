"""Audit chain throughput: appends (each its own fsynced transaction, and inside ``Store.batch``) and verify.

Every engine decision appends an entry, so the append rate bounds how fast the engine can act
while keeping its record; verification walks the whole chain, so its rate says how long
``onetap audit verify`` takes on a year of trading. The store runs SQLite in WAL mode with
``synchronous=FULL`` (engine/store/db.py): one append outside a batch is one commit and one
fsync, plus the anchor file's atomic replace (another fsync).

Run with ``python -m tests.bench.audit``. Figures are printed, not asserted: they depend on the
disk (a tmpfs hides the fsyncs a real disk pays for).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.store import Store

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
PAYLOAD = {"card_id": "momentum:AAPL:2024-03-04", "execution_id": "X-000123", "qty": 34.0, "price": 171.25}


def _append(store: Store, n: int, start: int) -> None:
    for i in range(start, start + n):
        store.append_audit(
            T0 + timedelta(microseconds=i), "alice", "hotkey", "execute_card", {**PAYLOAD, "n": i}
        )


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} entries/s  ({n:,} in {seconds * 1000:,.0f} ms)"


def main(single: int = 300, batched: int = 20_000, batch_size: int = 1_000) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="onetap-bench-audit-") as folder,
        Store.open(Path(folder) / "bench.db") as store,
    ):
        t0 = time.perf_counter()
        _append(store, single, 0)
        one_each = time.perf_counter() - t0

        t0 = time.perf_counter()
        with store.batch("bench one batch"):
            _append(store, batched, single)
        in_one_batch = time.perf_counter() - t0

        t0 = time.perf_counter()
        done = single + batched
        for start in range(done, done + batched, batch_size):
            with store.batch("bench batches"):
                _append(store, batch_size, start)
        in_batches = time.perf_counter() - t0

        total = store.audit_count()
        t0 = time.perf_counter()
        verdict = store.verify_audit()
        verify_s = time.perf_counter() - t0
        assert verdict.ok, verdict.message

    print("audit chain (SQLite WAL, synchronous=FULL; on this machine's temp folder)")
    rows = (
        ("append, one transaction each", _rate(single, one_each)),
        (f"append, {batched:,} in one Store.batch", _rate(batched, in_one_batch)),
        (f"append, Store.batch of {batch_size:,} each", _rate(batched, in_batches)),
        ("verify (whole chain + anchor)", _rate(total, verify_s)),
    )
    for label, rate in rows:
        print(f"  {label:<38}{rate}")


if __name__ == "__main__":
    main()
