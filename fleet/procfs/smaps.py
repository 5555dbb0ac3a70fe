"""``/proc/<pid>/smaps`` and ``smaps_rollup``: resident, proportional and swapped memory per mapping."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from fleet.procfs._common import build, lines, show, to_int
from fleet.procfs.errors import ParseError
from fleet.procfs.maps import Vma, parse_maps

KIND = "smaps"
ROLLUP_KIND = "smaps_rollup"


@dataclass(frozen=True)
class SmapsEntry:
    """One mapping with its ``Key: N kB`` lines in bytes; text lines (VmFlags, Name) in ``other``."""

    vma: Vma
    sizes: Mapping[str, int]
    other: Mapping[str, str]


@dataclass(frozen=True)
class Smaps:
    """All entries, in file order."""

    entries: tuple[SmapsEntry, ...]


@dataclass(frozen=True)
class SmapsRollup:
    """Totals over all mappings, bytes. ``None``: this kernel does not print the field.

    Pss from 2.6.25, Swap 2.6.26, SwapPss 4.3, LazyFree 4.12, Pss_Anon/File/Shmem 5.8,
    Pss_Dirty 6.0. The rollup file itself exists from 4.15 (commit 493b0e9d945f); before that
    :func:`rollup_from_smaps` sums smaps and sets ``summed``.
    """

    rss: int | None = None
    pss: int | None = None
    pss_anon: int | None = None
    pss_file: int | None = None
    pss_shmem: int | None = None
    pss_dirty: int | None = None
    shared_clean: int | None = None
    shared_dirty: int | None = None
    private_clean: int | None = None
    private_dirty: int | None = None
    referenced: int | None = None
    anonymous: int | None = None
    lazy_free: int | None = None
    anon_huge_pages: int | None = None
    swap: int | None = None
    swap_pss: int | None = None
    locked: int | None = None
    sizes: Mapping[str, int] = field(default_factory=dict)  # every kB line, known or not
    summed: bool = False  # computed from smaps (kernel before 4.15)


_ROLLUP_KEYS = {
    "Rss": "rss",
    "Pss": "pss",
    "Pss_Anon": "pss_anon",
    "Pss_File": "pss_file",
    "Pss_Shmem": "pss_shmem",
    "Pss_Dirty": "pss_dirty",
    "Shared_Clean": "shared_clean",
    "Shared_Dirty": "shared_dirty",
    "Private_Clean": "private_clean",
    "Private_Dirty": "private_dirty",
    "Referenced": "referenced",
    "Anonymous": "anonymous",
    "LazyFree": "lazy_free",
    "AnonHugePages": "anon_huge_pages",
    "Swap": "swap",
    "SwapPss": "swap_pss",
    "Locked": "locked",
}

# Size lines that are properties of a mapping, not amounts of memory: never summed.
_NOT_SUMMED = frozenset({"Size", "KernelPageSize", "MMUPageSize"})


def _fields(kind: str, body: list[tuple[int, str]]) -> tuple[dict[str, int], dict[str, str]]:
    sizes: dict[str, int] = {}
    other: dict[str, str] = {}
    for number, line in body:
        key, sep, value = line.partition(":")
        if not sep or not key or " " in key or "\t" in key:
            raise ParseError(kind, f"not a 'Key: value' line: {show(line)}", number)
        words = value.split()
        if len(words) == 2 and words[1] == "kB":
            sizes[key] = to_int(kind, words[0], number, f"{key} value") * 1024
        elif key in ("VmFlags", "Name"):
            other[key] = value.strip()  # flag letters (3.8+); Android's VMA name
        elif len(words) == 2 and words[0].isdigit():
            raise ParseError(kind, f"{key}: unit {show(words[1])} is not kB", number)
        else:
            other[key] = value.strip()  # THPeligible, ProtectionKey, future text fields: kept raw
    return sizes, other


def _split(kind: str, text: str) -> list[tuple[tuple[int, str], list[tuple[int, str]]]]:
    """Group lines into (header line, field lines); a header is a line whose first word has no ':'."""
    groups: list[tuple[tuple[int, str], list[tuple[int, str]]]] = []
    for number, line in lines(text):
        first = line.split(None, 1)[0]
        if first.endswith(":"):
            if not groups:
                raise ParseError(kind, f"field before any mapping header: {show(line)}", number)
            groups[-1][1].append((number, line))
        else:
            groups.append(((number, line), []))
    return groups


def _header(kind: str, number: int, line: str) -> Vma:
    try:
        maps = parse_maps(line)
    except ParseError as exc:
        raise ParseError(kind, exc.reason, number) from exc
    if len(maps.vmas) != 1:
        raise ParseError(kind, f"not a mapping header: {show(line)}", number)
    vma = maps.vmas[0]
    return Vma(vma.start, vma.end, vma.perms, vma.offset, vma.dev, vma.inode, vma.path, number)


def parse_smaps(text: str) -> Smaps:
    """Parse smaps (any kernel; field order and set vary). Empty text (kernel thread) is no entries."""
    entries = []
    for (number, line), body in _split(KIND, text):
        vma = _header(KIND, number, line)
        sizes, other = _fields(KIND, body)
        entries.append(SmapsEntry(vma=vma, sizes=MappingProxyType(sizes), other=MappingProxyType(other)))
    return Smaps(entries=tuple(entries))


def _rollup(sizes: dict[str, int], summed: bool) -> SmapsRollup:
    fields: dict[str, object] = {attr: sizes.get(key) for key, attr in _ROLLUP_KEYS.items()}
    fields["sizes"], fields["summed"] = MappingProxyType(sizes), summed
    return build(SmapsRollup, fields)


# The usual smaps_rollup, read with one match and one findall instead of line by line (63 -> ~15 µs
# a process): the [rollup] header, then only "Key:   N kB" lines. Anything else (no header,
# CRLF, text lines, a bad number) takes the careful path, with its result or its precise error.
_ROLLUP_USUAL = re.compile(
    r"[0-9a-f]{1,16}-[0-9a-f]{1,16} [-r][-w][-x][ps] [0-9a-f]{1,16} [0-9a-f]+:[0-9a-f]+ [0-9]{1,20}"
    r" +\[rollup\]\n"
    r"(?:\w+: +[0-9]{1,20} kB\n)*",
    re.ASCII,
)
_ROLLUP_SIZE = re.compile(r"^(\w+): +([0-9]+) kB$", re.ASCII | re.MULTILINE)


def parse_smaps_rollup(text: str) -> SmapsRollup:
    """Parse smaps_rollup (Linux 4.15+). Empty text (a kernel thread) gives all fields ``None``."""
    if _ROLLUP_USUAL.fullmatch(text):
        return _rollup({key: int(kb) * 1024 for key, kb in _ROLLUP_SIZE.findall(text)}, summed=False)
    groups = _split(ROLLUP_KIND, text)
    if not groups:
        return _rollup({}, summed=False)
    if len(groups) != 1:
        raise ParseError(ROLLUP_KIND, "more than one header line", groups[1][0][0])
    (number, line), body = groups[0]
    _header(ROLLUP_KIND, number, line)
    sizes, _ = _fields(ROLLUP_KIND, body)
    return _rollup(sizes, summed=False)


def rollup_from_smaps(smaps: Smaps) -> SmapsRollup:
    """Sum smaps into a rollup, for kernels before 4.15 (what procfs' proc_smaps.go does too)."""
    totals: dict[str, int] = {}
    for entry in smaps.entries:
        for key, value in entry.sizes.items():
            if key not in _NOT_SUMMED:
                totals[key] = totals.get(key, 0) + value
    return _rollup(totals, summed=True)
