"""``/proc/<pid>/maps``: one line per virtual memory area (VMA)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from fleet.procfs._common import show
from fleet.procfs.errors import ParseError

KIND = "maps"

# start-end perms offset dev inode [path]
# * Addresses are printed "%08lx": 8 hex digits on 32-bit, 8..16 on 64-bit (no zero padding
#   beyond 8, so Android arm64 shows 9- and 10-digit starts). dev is "%02x:%02x" but major/minor
#   can be wider. The kernel pads before the path (to column 50 on 32-bit kernels, 74 on 64-bit);
#   the old proc(5) example uses single spaces. Anonymous lines end in "0 " (trailing space).
# * The path is everything after the padding and may hold spaces and " (deleted)"; newlines in it
#   are escaped as "\012" by seq_file_path(), so one VMA is always one line.
# * A "..." right after the inode, or alone on a line, marks lines elided by whoever pasted the
#   dump (the seed write-up does this); we accept it so excerpts from bug reports still classify.
_LINE = re.compile(
    r"([0-9a-fA-F]{1,16})-([0-9a-fA-F]{1,16}) +([r-][w-][x-][psS]) +([0-9a-fA-F]{1,16}) +"
    r"([0-9a-fA-F]{1,8}:[0-9a-fA-F]{1,8}) +([0-9]{1,20})(\.\.\.|\u2026)?(?:[ \t]+(.*))?"
)
# The same, over a whole dump: one row per "\n"-separated line (a row's index is its line number);
# a line of any other shape lands whole in the last group and takes the per-line path.
_ROWS = re.compile(rf"^(?:{_LINE.pattern}|(.*))$", re.MULTILINE)
_ELISION = frozenset({"...", "\u2026", "[...]"})


class Vma(NamedTuple):
    """One mapping. ``path`` is None for an anonymous mapping without a name.

    A named tuple, not a dataclass: a frozen dataclass's __init__ costs one object.__setattr__
    per field, and a busy device's capture holds tens of thousands of mappings."""

    start: int
    end: int
    perms: str  # "rw-p": read, write, exec, p(rivate) / s(hared)
    offset: int
    dev: str  # "major:minor" in hex, "00:00" for anonymous memory
    inode: int
    path: str | None
    line: int  # 1-based line in the text it came from

    @property
    def size(self) -> int:
        """Virtual size in bytes."""
        return self.end - self.start

    @property
    def shared(self) -> bool:
        """MAP_SHARED (``s``); private copy-on-write mappings print ``p``."""
        return self.perms[3] in "sS"

    @property
    def deleted(self) -> bool:
        """The backing file was unlinked (also every SYSV segment, memfd and shared /dev/zero)."""
        return self.path is not None and self.path.endswith(" (deleted)")


@dataclass(frozen=True)
class Maps:
    """All mappings in file order; ``elided`` counts ``...`` markers of a pasted excerpt."""

    vmas: tuple[Vma, ...]
    elided: int = 0
    max_digits: int = 0  # widest address printed: > 8 can only come from a 64-bit kernel


def parse_maps(text: str) -> Maps:
    """Parse a maps dump (any kernel from 2.6 on, 32 or 64 bit, pasted excerpts included)."""
    vmas: list[Vma] = []
    elided = 0
    digits = 0
    make = tuple.__new__  # Vma(...) without its generated __new__: a quarter of the parse time
    for number, row in enumerate(_ROWS.findall(text), start=1):
        if not row[0]:  # not a kernel's line as it is: the per-line clean-up, for pasted dumps
            line = row[8].rstrip("\r")
            if not line.strip():
                continue
            m = _LINE.fullmatch(line)
            if m is None:
                if line.strip() in _ELISION:
                    elided += 1
                    continue
                raise ParseError(KIND, f"not a mapping line: {show(line)}", number)
            row = (*m.groups(""), "")
        start_s, end_s, perms, offset_s, dev, inode_s, dots, path, _ = row
        start = int(start_s, 16)
        end = int(end_s, 16)
        if end < start:
            raise ParseError(KIND, f"bad address range {show(start_s + '-' + end_s)}", number)
        if dots:
            elided += 1
        if len(start_s) > digits:
            digits = len(start_s)
        if len(end_s) > digits:
            digits = len(end_s)
        # The kernel never prints trailing blanks after a path; pasted dumps often carry some.
        fields = (start, end, perms, int(offset_s, 16), dev, int(inode_s), path.strip() or None, number)
        vmas.append(make(Vma, fields))
    return Maps(vmas=tuple(vmas), elided=elided, max_digits=digits)
