"""``/proc/<pid>/statm``: a process's memory counters on one line, in pages.

The same kernel counters as status's VmSize, VmRSS and RssAnon (``size``, ``resident``,
``resident - shared``: fs/proc/task_mmu.c ``task_statm``, where resident = shared + anonymous
pages on every kernel since 2.6), printed as 7 numbers instead of ~55 lines: cheaper for the device
to print and for the collector to read. RssAnon is in status only from Linux 4.5; statm gives the
anonymous pages on older kernels too. The page size is not in the file (see fleet.extract).
"""

from __future__ import annotations

from typing import NamedTuple

from fleet.procfs._common import MAX_DIGITS, show
from fleet.procfs.errors import ParseError

KIND = "statm"


class Statm(NamedTuple):
    """The first three columns, in pages (text, lib, data and dt are not used)."""

    size: int  # total_vm: VmSize
    resident: int  # VmRSS
    shared: int  # resident file-backed and shmem pages: RssFile + RssShmem

    @property
    def anon(self) -> int:
        """Resident anonymous pages (RssAnon); 0 rather than negative on a racy or forged line."""
        return max(self.resident - self.shared, 0)


def parse_statm(text: str) -> Statm:
    """Parse ``2011 388 310 219 0 192 0``; a kernel printing more columns is fine."""
    words = text.split("\n", 1)[0].split()
    if len(words) < 3 or not all(w.isascii() and w.isdigit() and len(w) <= MAX_DIGITS for w in words):
        raise ParseError(KIND, f"expected at least 3 page counts: {show(text.strip())}", 1)
    return Statm(int(words[0]), int(words[1]), int(words[2]))
