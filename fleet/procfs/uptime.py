"""``/proc/uptime``: seconds since boot (an uptime that goes down means the device rebooted)."""

from __future__ import annotations

from dataclasses import dataclass

from fleet.procfs._common import show, to_float
from fleet.procfs.errors import ParseError

KIND = "uptime"


@dataclass(frozen=True)
class Uptime:
    """Seconds since boot, and idle seconds summed over all CPUs."""

    uptime: float
    idle: float


def parse_uptime(text: str) -> Uptime:
    """Parse ``23535.50 188023.20``."""
    words = text.split()
    if len(words) != 2:
        raise ParseError(KIND, f"expected 2 fields: {show(text.strip())}", 1)
    return Uptime(uptime=to_float(KIND, words[0], 1, "uptime"), idle=to_float(KIND, words[1], 1, "idle time"))
