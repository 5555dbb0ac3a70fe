"""``/proc/meminfo``: system memory, values in bytes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from fleet.procfs._common import KIB, kb_value, show, to_int
from fleet.procfs.errors import ParseError

KIND = "meminfo"

# Fields the analysis relies on; absent ones are listed in ``Meminfo.missing``.
EXPECTED = ("MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapTotal", "SwapFree", "Slab")

# Lines printed without a unit because they count pages, not bytes (Documentation/filesystems/proc.rst).
_COUNT_PREFIXES = ("HugePages_",)


# Fields that are always sizes: a bare number there is a truncated or corrupted line, not a count.
_KNOWN_SIZES = frozenset(
    {
        "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active", "Inactive",
        "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked",
        "SwapTotal", "SwapFree", "Dirty", "Writeback", "AnonPages", "Mapped", "Shmem", "Slab",
        "SReclaimable", "SUnreclaim", "KernelStack", "PageTables", "CommitLimit", "Committed_AS",
        "VmallocTotal", "VmallocUsed", "VmallocChunk", "Hugepagesize", "Hugetlb", "Zswap", "Zswapped",
    }
)  # fmt: skip


# The usual line, "Key:   1234 kB", read by one findall over the whole text; any other line takes
# the per-line path. findall gives one row per "\n"-separated line: a row's index is its line number.
# Not re.ASCII: \s must be the whitespace str.strip() removes, or a key with a Unicode space at
# its edge would read differently from the per-line path.
_LINE = re.compile(r"^(?:([^\s:]++):[ \t]++([0-9]{1,20}+) kB|(.*))$", re.MULTILINE)


@dataclass(frozen=True)
class Meminfo:
    """Parsed meminfo. Sizes are bytes; ``None`` means the kernel did not print the field."""

    mem_total: int | None
    mem_free: int | None
    mem_available: int | None  # MemAvailable, or the pre-3.14 estimate (see ``mem_available_estimated``)
    mem_available_estimated: bool  # True when MemAvailable was absent and MemFree+Buffers+Cached was used
    buffers: int | None
    cached: int | None
    swap_total: int | None
    swap_free: int | None
    slab: int | None
    shmem: int | None
    sizes: Mapping[str, int] = field(default_factory=dict)  # every "kB" line, in bytes, known or not
    counts: Mapping[str, int] = field(default_factory=dict)  # unitless lines (HugePages_Total, ...)
    missing: tuple[str, ...] = ()  # names from EXPECTED the kernel did not print


def parse_meminfo(text: str) -> Meminfo:
    """Parse ``/proc/meminfo``; the ``kB`` unit is checked, never assumed."""
    sizes: dict[str, int] = {}
    counts: dict[str, int] = {}
    for number, (size_key, kb, line) in enumerate(_LINE.findall(text), start=1):
        if size_key:
            sizes[size_key] = int(kb) * KIB
            continue
        line = line.rstrip("\r")  # as lines() does
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not key or " " in key:
            raise ParseError(KIND, f"not a 'Key: value' line: {show(line)}", number)
        size = kb_value(KIND, key, value, number)
        if size is not None:
            sizes[key] = size
        elif key.startswith(_COUNT_PREFIXES) or key not in _KNOWN_SIZES:
            counts[key] = to_int(KIND, value, number, f"{key} value")
        else:
            raise ParseError(KIND, f"{key}: value {show(value.strip())} has no kB unit", number)
    if not sizes and not counts:
        raise ParseError(KIND, "no fields")
    available = sizes.get("MemAvailable")
    estimated = False
    if available is None:
        # MemAvailable appeared in Linux 3.14 (commit 34e431b0ae39). Before that, free + page cache is
        # the usual stand-in: it overestimates (not all cache is reclaimable), so mark it as estimated.
        parts = [sizes.get(k) for k in ("MemFree", "Buffers", "Cached")]
        if all(p is not None for p in parts):
            available = sum(p for p in parts if p is not None)
            estimated = True
    return Meminfo(
        mem_total=sizes.get("MemTotal"),
        mem_free=sizes.get("MemFree"),
        mem_available=available,
        mem_available_estimated=estimated,
        buffers=sizes.get("Buffers"),
        cached=sizes.get("Cached"),
        swap_total=sizes.get("SwapTotal"),
        swap_free=sizes.get("SwapFree"),
        slab=sizes.get("Slab"),
        shmem=sizes.get("Shmem"),
        sizes=MappingProxyType(sizes),
        counts=MappingProxyType(counts),
        missing=tuple(k for k in EXPECTED if k not in sizes),
    )
