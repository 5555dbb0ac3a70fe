"""``/proc/<pid>/stat`` (and ``task/<tid>/stat``): identity (pid, starttime) and counters."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fleet.procfs._common import show, to_int
from fleet.procfs.errors import ParseError

KIND = "stat"

# proc(5) numbers the fields from 1: pid(1) comm(2) state(3) ppid(4) ... starttime(22).
# After the comm and state we need up to starttime; later fields were added over the years
# (2.6.x ends near 44 fields, 6.x has 52), so they are kept as a plain tuple.
_MIN_FIELDS = 22 - 3  # numeric fields after state, up to and including starttime

# What to_int accepts, for a whole line of fields: ASCII digits, an optional sign, <= 20 digits.
_FIELDS = re.compile(r"(?:[+-]?[0-9]{1,20} )*[+-]?[0-9]{1,20}")

PF_KTHREAD = 0x00200000  # include/linux/sched.h: "I am a kernel thread"


@dataclass(frozen=True)
class Stat:
    """Parsed stat line. ``fields`` holds every numeric field from ppid (field 4) on."""

    pid: int
    comm: str
    state: str
    fields: tuple[int, ...]

    def field(self, number: int) -> int | None:
        """Field by its proc(5) number (4 = ppid, 22 = starttime), None when this kernel lacks it."""
        index = number - 4
        return self.fields[index] if 0 <= index < len(self.fields) else None

    @property
    def ppid(self) -> int:
        """Parent pid (field 4)."""
        return self.fields[0]

    @property
    def flags(self) -> int:
        """Kernel PF_* flags (field 9); masked to unsigned because fixtures hold negative junk."""
        return self.fields[5] & 0xFFFFFFFF

    @property
    def num_threads(self) -> int:
        """Field 20 (a placeholder 0 before Linux 2.6)."""
        return self.fields[16]

    @property
    def starttime(self) -> int:
        """Field 22: clock ticks after boot when the process started. (pid, starttime) is identity."""
        return self.fields[18]

    @property
    def vsize(self) -> int | None:
        """Field 23: virtual size in bytes."""
        return self.field(23)

    @property
    def rss_pages(self) -> int | None:
        """Field 24: resident pages (page size unknown here)."""
        return self.field(24)

    @property
    def kernel_thread(self) -> bool:
        """PF_KTHREAD is set."""
        return bool(self.flags & PF_KTHREAD)


def parse_stat(text: str) -> Stat:
    """Parse a stat line; the comm is everything between the first ``(`` and the LAST ``)``.

    comm may hold spaces, parentheses and even newlines (prctl(PR_SET_NAME) accepts any byte but
    NUL and stat prints it raw), so splitting on whitespace or at the first ``)`` is wrong.
    """
    open_at = text.find(" (")
    close_at = text.rfind(")")
    if open_at < 0 or close_at < open_at:
        raise ParseError(KIND, f"no '(comm)' found: {show(text)}", 1)
    pid = to_int(KIND, text[:open_at], 1, "pid")
    comm = text[open_at + 2 : close_at]
    line = text.count("\n", 0, close_at) + 1
    # Everything after the last ')' up to the end of that line; a second line is junk
    # (prometheus' 584/stat fixture carries '#!/bin/cat /proc/self/stat') and is ignored.
    rest = text[close_at + 1 :].split("\n", 1)[0].split()
    if len(rest) < 1 + _MIN_FIELDS:
        raise ParseError(KIND, f"only {len(rest)} fields after comm, need {1 + _MIN_FIELDS}", line)
    state = rest[0]
    if len(state) != 1:
        raise ParseError(KIND, f"bad state {show(state)}", line)
    # Fields may be negative (nice, priority; fixtures even print LONG_MIN), so signs are allowed.
    # One check of all of them at once; a bad one is named by the per-field pass.
    if _FIELDS.fullmatch(" ".join(rest[1:])):
        fields = tuple(map(int, rest[1:]))
    else:
        fields = tuple(to_int(KIND, w, line, "field") for w in rest[1:])
    if pid < 0:
        raise ParseError(KIND, f"negative pid {pid}", 1)
    return Stat(pid=pid, comm=comm, state=state, fields=fields)
