"""``/proc/loadavg``: load averages and task counts."""

from __future__ import annotations

from dataclasses import dataclass

from fleet.procfs._common import show, to_float, to_int
from fleet.procfs.errors import ParseError

KIND = "loadavg"


@dataclass(frozen=True)
class Loadavg:
    """``0.81 0.71 0.32 3/192 29975``: 1/5/15-minute loads, runnable/total tasks, last pid."""

    load1: float
    load5: float
    load15: float
    running: int
    total: int
    last_pid: int


def parse_loadavg(text: str) -> Loadavg:
    """Parse the single loadavg line."""
    words = text.split()
    if len(words) != 5:
        raise ParseError(KIND, f"expected 5 fields: {show(text.strip())}", 1)
    running, sep, total = words[3].partition("/")
    if not sep:
        raise ParseError(KIND, f"bad task counts {show(words[3])}", 1)
    return Loadavg(
        load1=to_float(KIND, words[0], 1, "load"),
        load5=to_float(KIND, words[1], 1, "load"),
        load15=to_float(KIND, words[2], 1, "load"),
        running=to_int(KIND, running, 1, "running count"),
        total=to_int(KIND, total, 1, "task count"),
        last_pid=to_int(KIND, words[4], 1, "last pid"),
    )
