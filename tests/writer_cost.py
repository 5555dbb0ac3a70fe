"""What one capture costs the collector's store writer, measured in a process of its own:

    python -m tests.writer_cost STORE_DIR SHAPE...

Each shape is a real capture (tests.test_capture_fuzz) with hostile records added, under the
collector's 16 MiB output cap; it goes through the collector's own judging and writer thread
(``sampler._keep``) into a real SQLite store. One JSON line per shape: its sha256, seconds, peak RSS growth
(VmHWM, reset through /proc/self/clear_refs before each shape, minus VmRSS then) and the outcome.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fleet.collect.options import MAX_CAPTURE_BYTES, CollectOptions
from fleet.collect.sampler import _Capture, _keep
from fleet.collect.writer import StoreWriter as _Writer
from fleet.inventory.model import Device
from fleet.metrics.limits import MAX_MAPPINGS, MAX_PROCESSES
from fleet.ssh.outcomes import CommandResult
from fleet.store.store import Store
from tests.helpers import own_kib
from tests.hostile import fake_processes, process_records, slabinfo_record, with_records
from tests.test_capture_fuzz import TOKEN, real_capture

SHAPES: dict[str, Callable[[], bytes]] = {
    # 16 MiB of processes that exist only in the capture (issue 22: 212,000 shorter ones)
    "processes": lambda: fake_processes(190_000),
    # one process with 470,000 distinct thread names
    "threads": lambda: process_records(50, threads=470_000),
    # the longest maps fleet parses, and one more mapping than that
    "maps": lambda: process_records(50, maps_lines=MAX_MAPPINGS),
    "maps-over": lambda: process_records(50, maps_lines=MAX_MAPPINGS + 1),
    # 3,500 processes with a 3 KB command line each: 11 MB of metrics
    "cmdlines": lambda: b"".join(process_records(pid, cmdline="x" * 3000) for pid in range(100, 3600)),
    # a slabinfo of 230,000 caches
    "slabinfo": lambda: slabinfo_record(230_000),
    # the most a capture may hold: MAX_PROCESSES processes (3 of them real), each of the others
    # with a 90-line maps and 4 threads
    "busy": lambda: b"".join(process_records(pid, 90, 4) for pid in range(100, 97 + MAX_PROCESSES)),
}


def capture(shape: str) -> bytes:
    raw = with_records(real_capture("a"), TOKEN, SHAPES[shape]())
    assert len(raw) <= MAX_CAPTURE_BYTES, (shape, len(raw))
    return raw


async def measure(store: Store, shape: str) -> dict[str, object]:
    raw = capture(shape)
    device = Device(name=shape, host="h")
    writer = _Writer(store, store.begin_run(None))
    await writer.register([device])
    result = CommandResult(raw, b"", 0, truncated=False)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux 4.0+)
    base = own_kib("VmRSS")
    started = time.monotonic()
    done = _Capture(TOKEN, time.time(), 1.0, result)
    sampled = await _keep(done, device, writer, CollectOptions(), started)
    seconds = time.monotonic() - started
    writer.pool.shutdown(wait=True)
    return {
        "shape": shape,
        "bytes": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "seconds": round(seconds, 3),
        "peak_growth_kib": own_kib("VmHWM") - base,
        "status": sampled.status,
        "error": sampled.error,
        "problems": sampled.problems[:3],
    }


def main(argv: list[str]) -> None:
    with Store(Path(argv[0])) as store:
        for shape in argv[1:]:
            print(json.dumps(asyncio.run(measure(store, shape))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
