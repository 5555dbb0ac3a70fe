"""``/proc/slabinfo`` version 2.x: kernel slab caches (SLUB, and SLAB with its tunables)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from fleet.procfs._common import build, show, to_int
from fleet.procfs.errors import ParseError

KIND = "slabinfo"
# A SLUB cache line as cache_show() (mm/slab_common.c) prints it: a one-word name, space-padded
# numbers, zeros for SLAB's tunables and sharedavail. SLUB is the default allocator since 2.6.23 and
# the only one since 6.8. One findall over the whole text reads all such lines, 7 numbers each; any
# other line (header, comments, SLAB, tabs, bad input) leaves the name group empty and takes the
# per-line path, so results and errors are those of that path. Group 1 is the whole line; findall
# gives one row per "\n"-separated line, so a row's index is its line number.
_SP = r" ++([0-9]{1,20}+)"  # longer numbers (hostile) take the careful path
_SLUB = re.compile(
    rf"^(([^\s#]\S*+){_SP * 5} : tunables ++0 ++0 ++0 : slabdata{_SP * 2} ++0 *|.*)$",
    re.ASCII | re.MULTILINE,
)
# Cache lines _SLUB does not take (SLAB without statistics, tabs, a spaced name): read with one
# match instead of per-field checks. Anything else - negative or signed numbers, statistics
# sections, odd spacing - takes the careful path in _cache(), the same result or the precise error.
_N = r"\s+([0-9]{1,20})"
_FAST = re.compile(
    rf"(\S.*?){_N * 5} : tunables{_N * 3} : slabdata{_N * 3}\s*",
    re.ASCII,
)


@dataclass(frozen=True)
class SlabCache:
    """One cache line. ``limit``/``batchcount``/``sharedfactor`` are 0 under SLUB."""

    name: str
    active_objs: int
    num_objs: int
    objsize: int
    objperslab: int
    pagesperslab: int
    limit: int
    batchcount: int
    sharedfactor: int
    active_slabs: int
    num_slabs: int
    sharedavail: int

    @property
    def bytes(self) -> int:
        """Memory held by live objects: active_objs * objsize (the method's growth measure)."""
        return self.active_objs * self.objsize


@dataclass(frozen=True)
class Slabinfo:
    """Parsed slabinfo. ``allocator`` is a guess: SLAB has non-zero tunables, SLUB prints zeros."""

    version: str
    caches: tuple[SlabCache, ...]
    allocator: str | None  # "SLAB", "SLUB" or None when there are no caches to judge by

    def bytes_by_cache(self) -> Mapping[str, int]:
        """Cache name -> bytes; caches printed twice under one name (unmerged SLUB) are summed."""
        out: dict[str, int] = {}
        for cache in self.caches:
            out[cache.name] = out.get(cache.name, 0) + cache.active_objs * cache.objsize  # .bytes, no call
        return MappingProxyType(out)


def parse_slabinfo(text: str) -> Slabinfo:
    """Parse slabinfo 2.0 / 2.1 / 2.1 (statistics); long names that push the columns are fine."""
    version: str | None = None
    # 2.0 printed "tunables <batchcount> <limit> <sharedfactor>", 2.1 swapped the first two
    # (mm/slab.c, 2.6.10). Trust the header line when present, else the version.
    order = ("limit", "batchcount", "sharedfactor")
    caches: list[SlabCache] = []
    tuned = False  # a cache with non-zero tunables was seen: SLAB (_SLUB lines have zeros)
    rows = _SLUB.findall(text)
    for number, (line, name, active, num, size, per, pages, active_slabs, num_slabs) in enumerate(rows, 1):
        if name and version is not None:
            # build(): the frozen __init__ would add half again to the parse (0.38 -> 0.56 ms, 235 caches)
            cache = build(
                SlabCache,
                {
                    "name": name,
                    "active_objs": int(active),
                    "num_objs": int(num),
                    "objsize": int(size),
                    "objperslab": int(per),
                    "pagesperslab": int(pages),
                    "limit": 0,
                    "batchcount": 0,
                    "sharedfactor": 0,
                    "active_slabs": int(active_slabs),
                    "num_slabs": int(num_slabs),
                    "sharedavail": 0,
                },
            )
            caches.append(cache)
            continue
        line = line.rstrip("\r")  # as lines() does
        if not line.strip():
            continue
        if version is None:
            prefix = "slabinfo - version:"
            if not line.startswith(prefix):
                raise ParseError(KIND, f"missing 'slabinfo - version:' header: {show(line)}", number)
            version = line[len(prefix) :].strip()
            if not version.startswith("2."):
                # 1.x (Linux 2.4) has another column layout; no field device runs it any more.
                raise ParseError(KIND, f"unsupported slabinfo version {show(version)}", number)
            if version.startswith("2.0"):
                order = ("batchcount", "limit", "sharedfactor")
            continue
        if line.startswith("#"):
            if "tunables" in line:
                tun = line.split("tunables", 1)[1].split(":", 1)[0]
                names = [w.strip("<>") for w in tun.split()]
                if sorted(names) == ["batchcount", "limit", "sharedfactor"]:
                    order = (names[0], names[1], names[2])
            continue
        cache = _other(line, number, order)
        tuned = tuned or bool(cache.limit or cache.batchcount or cache.sharedfactor)
        caches.append(cache)
    if version is None:
        raise ParseError(KIND, "empty file")
    allocator: str | None = None
    if caches:
        allocator = "SLAB" if tuned else "SLUB"
    return Slabinfo(version=version, caches=tuple(caches), allocator=allocator)


def slab_bytes(text: str) -> dict[str, int]:
    """``parse_slabinfo(text).bytes_by_cache()``, all a sample keeps of slabinfo, without a record
    per cache when the file is what SLUB prints (the version header, ``#`` comments, lines _SLUB
    takes): 2.5x faster on 237 caches. Any other line sends the whole text through the full
    parser, so the result and the errors are always that parser's."""
    rows = _SLUB.findall(text)
    if rows and rows[0][0].startswith("slabinfo - version: 2."):
        out: dict[str, int] = {}
        for line, name, active, _num, size, *_ in rows[1:]:
            if name:
                out[name] = out.get(name, 0) + int(active) * int(size)
            elif line.strip() and not line.startswith("#"):
                break
        else:
            return out
    return dict(parse_slabinfo(text).bytes_by_cache())


def _other(line: str, number: int, order: tuple[str, str, str]) -> SlabCache:
    """A cache line that _SLUB does not match: one match if it can, else the careful _cache()."""
    fast = _FAST.fullmatch(line)
    if fast is None:
        return _cache(line, number, order)
    n = [int(g) for g in fast.groups()[1:]]
    tunables = dict(zip(order, n[5:8], strict=True))
    return SlabCache(
        fast.group(1),
        n[0],
        n[1],
        n[2],
        n[3],
        n[4],
        tunables["limit"],
        tunables["batchcount"],
        tunables["sharedfactor"],
        n[8],
        n[9],
        n[10],
    )


def _cache(line: str, number: int, order: tuple[str, str, str]) -> SlabCache:
    # Split on the " : " section separators; the name may be wide enough to touch the numbers,
    # so the first section is read from the right: the last five words are numbers, the rest is the name.
    sections = line.split(" : ")
    head = sections[0].split()
    if len(head) < 6:
        raise ParseError(KIND, f"too few fields: {show(line)}", number)
    name = " ".join(head[:-5])
    nums = [to_int(KIND, w, number, "number") for w in head[-5:]]
    tunables = {"limit": 0, "batchcount": 0, "sharedfactor": 0}
    slabdata = (0, 0, 0)
    seen: set[str] = set()
    for section in sections[1:]:
        words = section.split()
        if not words:
            raise ParseError(KIND, f"empty section: {show(line)}", number)
        label, values = words[0], words[1:]
        if label in ("tunables", "slabdata"):
            if len(values) != 3 or label in seen:
                raise ParseError(KIND, f"bad {label} section: {show(section)}", number)
            seen.add(label)
            ints = [to_int(KIND, v, number, label) for v in values]
            if label == "tunables":
                tunables = dict(zip(order, ints, strict=True))
            else:
                slabdata = (ints[0], ints[1], ints[2])
        # "globalstat" / "cpustat" sections of "2.1 (statistics)" (CONFIG_DEBUG_SLAB) are skipped.
    if "slabdata" not in seen:
        raise ParseError(KIND, f"no slabdata section: {show(line)}", number)
    if any(n < 0 for n in nums):
        raise ParseError(KIND, f"negative count: {show(line)}", number)
    return SlabCache(
        name=name,
        active_objs=nums[0],
        num_objs=nums[1],
        objsize=nums[2],
        objperslab=nums[3],
        pagesperslab=nums[4],
        limit=tunables["limit"],
        batchcount=tunables["batchcount"],
        sharedfactor=tunables["sharedfactor"],
        active_slabs=slabdata[0],
        num_slabs=slabdata[1],
        sharedavail=slabdata[2],
    )
