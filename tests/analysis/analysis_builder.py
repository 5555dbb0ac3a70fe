"""A small builder for hand-made device series, for tests that need exact numbers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleet.metrics.model import DeviceMetrics, ProcessMetrics

MiB = 1024 * 1024
T0 = 1_767_225_600.0


def proc(pid: int, name: str = "app", start_time: int = 1000, **fields: Any) -> ProcessMetrics:
    """A process record with sensible defaults (64-bit, 10 MiB RSS, 5 fds)."""
    base: dict[str, Any] = {
        "exe": f"/usr/bin/{name}",
        "rss": 10 * MiB,
        "anon_private": 6 * MiB,
        "vm_size": 64 * MiB,
        "threads": 1,
        "fds": 5,
        "address_bits": 64,
    }
    base.update(fields)
    return ProcessMetrics(pid=pid, start_time=start_time, name=name, **base)


def device(
    rows: Sequence[Sequence[ProcessMetrics]],
    times: Sequence[float] | None = None,
    *,
    interval: float = 300.0,
    mem_available: Sequence[int | None] | None = None,
    boot_ids: Sequence[str | None] | None = None,
    uptimes: Sequence[float] | None = None,
    slab: Sequence[dict[str, int]] | None = None,
) -> list[tuple[float, DeviceMetrics]]:
    """One sample per row of process records; times default to a regular ``interval``."""
    n = len(rows)
    times = times or [T0 + i * interval for i in range(n)]
    out = []
    for i, row in enumerate(rows):
        dm = DeviceMetrics(
            boot_id=boot_ids[i] if boot_ids else "boot-a",
            uptime=uptimes[i] if uptimes else 1000.0 + times[i] - times[0],
            mem_total=256 * MiB,
            mem_available=mem_available[i] if mem_available else 128 * MiB,
            slab=slab[i] if slab else {},
            processes=tuple(row),
        )
        out.append((times[i], dm))
    return out
