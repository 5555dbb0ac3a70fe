"""Read logs written by the method's shell loop, which appends dumps with no delimiters:

    while true; do cat /proc/meminfo; cat /proc/<pid>/maps; cat /proc/slabinfo; sleep 240; done >> mem_log.txt

Every line is recognised by its shape (a meminfo ``Key: value`` line, a maps address range, the
slabinfo header and cache lines). A new dump starts when a kind of section that the current dump
already finished comes round again (``MemTotal:`` again, or maps addresses going back down).
Pure: text in, blocks out; fleet.metrics.from_methodlog turns a block into metrics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MEMINFO = re.compile(r"^[A-Za-z][A-Za-z0-9_()]*:\s+\d+(?: kB)?\s*$")
_MAPS = re.compile(r"^([0-9a-fA-F]+)-[0-9a-fA-F]+ [r-][w-][x-][ps-] ")
_SLAB_HEADER = re.compile(r"^slabinfo - version: \d")
# a cache line (name, then active, total, size, per slab, pages per slab) or the "# name" header
_SLAB_LINE = re.compile(r"^(?:# name|\S+(?:\s+\d+){5}(?:\s|$))")


@dataclass
class MethodBlock:
    """One round of the loop: the three dumps as text (any may be empty)."""

    meminfo: str = ""
    maps: str = ""
    slabinfo: str = ""
    first_line: int = 0  # 1-based line of the log where this round starts

    def empty(self) -> bool:
        return not (self.meminfo or self.maps or self.slabinfo)


def split_method_log(text: str) -> tuple[list[MethodBlock], int]:
    """Split a log into rounds; returns the rounds and the number of unrecognised lines skipped."""
    blocks: list[MethodBlock] = []
    current = MethodBlock(first_line=1)
    kind = ""  # section the previous line belonged to
    done: set[str] = set()  # sections finished in the current round
    last_addr = -1
    skipped = 0

    def start(section: str, lineno: int) -> None:
        nonlocal current, kind
        if kind and kind != section:
            done.add(kind)
        if section in done or (section == "meminfo" and kind != "meminfo" and current.meminfo):
            blocks.append(current)
            current = MethodBlock(first_line=lineno)
            done.clear()
        kind = section

    for lineno, line in enumerate(text.splitlines(), 1):
        m = _MAPS.match(line)
        if kind == "slabinfo" and _SLAB_LINE.match(line) and not _MEMINFO.match(line) and not m:
            current.slabinfo += line + "\n"  # cache lines and the "# name ..." header
            continue
        if m:
            addr = int(m.group(1), 16)
            if kind == "maps" and addr <= last_addr:
                done.add("maps")  # addresses went back down: the next dump of the same process
                kind = ""
            start("maps", lineno)
            last_addr = addr
            current.maps += line + "\n"
        elif line.startswith("MemTotal:") or (kind == "meminfo" and _MEMINFO.match(line)):
            if line.startswith("MemTotal:") and kind == "meminfo":
                kind = ""  # two meminfo dumps back to back
                done.add("meminfo")
            start("meminfo", lineno)
            current.meminfo += line + "\n"
        elif _SLAB_HEADER.match(line):
            start("slabinfo", lineno)
            current.slabinfo += line + "\n"
        elif line.strip():
            skipped += 1  # "...", a date stamp, a shell prompt: not a section boundary
    if not current.empty():
        blocks.append(current)
    return blocks, skipped


def render_block(block: MethodBlock) -> bytes:
    """The round as it stood in the log: what the store keeps as the raw sample."""
    return (block.meminfo + block.maps + block.slabinfo).encode()
