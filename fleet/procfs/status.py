"""``/proc/<pid>/status``: human-readable process state with memory sizes in bytes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from fleet.procfs._common import KIB, build, kb_value, show, to_int
from fleet.procfs.errors import ParseError

KIND = "status"


@dataclass(frozen=True)
class Status:
    """Parsed status. Sizes in bytes; ``None`` when the kernel did not print the line.

    Kernel threads print no Vm*/Rss* lines at all. RssAnon/RssFile/RssShmem exist from Linux 4.5
    (commit 8cee852ec53f); VmSwap from 2.6.34; Threads from 2.6.0.
    """

    name: str | None
    state: str | None
    tgid: int | None
    pid: int | None
    ppid: int | None
    threads: int | None
    vm_peak: int | None
    vm_size: int | None
    vm_lck: int | None
    vm_hwm: int | None
    vm_rss: int | None
    rss_anon: int | None
    rss_file: int | None
    rss_shmem: int | None
    vm_data: int | None
    vm_stk: int | None
    vm_exe: int | None
    vm_lib: int | None
    vm_pte: int | None
    vm_swap: int | None
    sizes: Mapping[str, int] = field(default_factory=dict)  # every "kB" line, in bytes
    other: Mapping[str, str] = field(default_factory=dict)  # every other line, raw text (known or not)


# Lines that must carry "kB"; any other "Vm*"/"Rss*" line is treated the same way.
_SIZE_PREFIXES = ("Vm", "Rss", "Hugetlb")
# The two usual line shapes, read by one findall over the whole text instead of splitting and
# checking line by line (0.046 -> 0.033 ms for 59 lines). They give what the per-line path would;
# any other line takes that path: Name, Vm*/Rss* lines of another shape, anything odd or malformed.
# findall gives one row per "\n"-separated line, so a row's index is its line number.
_LINE = re.compile(
    r"""^(?:
        (?!Name:|Vm|Rss|Hugetlb)(\w++):\t             # "Key:<tab>value", not a size key
        ((?:[!-~](?:[\t\ -~]*[!-~])?)?)(?<!kB)[\ \t]*   # value: stripped, not ending in kB
      | (?!Name:)(\w++):[\ \t]*+([0-9]{1,20}+)\ kB     # "Key:<tab>   1234 kB", <= 20 digits
      | (.*)                                          # any other line
    )$""",
    re.ASCII | re.MULTILINE | re.VERBOSE,
)


def parse_status(text: str) -> Status:
    """Parse status lines ``Key:<tab>value``; unknown keys are kept in ``other``."""
    sizes: dict[str, int] = {}
    other: dict[str, str] = {}
    where: dict[str, int] = {}  # key -> line number, for error messages
    for number, (plain_key, plain, size_key, kb, line) in enumerate(_LINE.findall(text), start=1):
        if plain_key:
            where[plain_key] = number
            other[plain_key] = plain
            continue
        if size_key:
            where[size_key] = number
            sizes[size_key] = int(kb) * KIB
            continue
        line = line.rstrip("\r")  # as lines() does
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not key or key != key.strip() or " " in key:
            raise ParseError(KIND, f"not a 'Key: value' line: {show(line)}", number)
        where[key] = number
        if key == "Name":
            # The kernel prints "Name:\t" + the comm escaped (\n -> "\\n"); a comm may start with spaces.
            other[key] = value[1:] if value.startswith("\t") else value.lstrip(" ")
            continue
        if value.rstrip().endswith("kB") or (key.startswith(_SIZE_PREFIXES) and key != "VmFlags"):
            size = kb_value(KIND, key, value, number)  # raises on a unit other than kB
            if size is None:
                raise ParseError(KIND, f"{key}: value {show(value.strip())} has no kB unit", number)
            sizes[key] = size
        else:
            other[key] = value.strip()
    if not sizes and not other:
        raise ParseError(KIND, "no fields")

    def num(key: str, number_of: int = 0) -> int | None:
        raw = other.get(key)
        if raw is None:
            return None
        words = raw.split()
        if len(words) <= number_of:
            raise ParseError(KIND, f"{key}: bad value {show(raw)}", where.get(key))
        return to_int(KIND, words[number_of], where.get(key), f"{key} value")

    return build(
        Status,
        dict(
            name=other.get("Name"),
            state=other.get("State"),
            tgid=num("Tgid"),
            pid=num("Pid"),
            ppid=num("PPid"),
            threads=num("Threads"),
            vm_peak=sizes.get("VmPeak"),
            vm_size=sizes.get("VmSize"),
            vm_lck=sizes.get("VmLck"),
            vm_hwm=sizes.get("VmHWM"),
            vm_rss=sizes.get("VmRSS"),
            rss_anon=sizes.get("RssAnon"),
            rss_file=sizes.get("RssFile"),
            rss_shmem=sizes.get("RssShmem"),
            vm_data=sizes.get("VmData"),
            vm_stk=sizes.get("VmStk"),
            vm_exe=sizes.get("VmExe"),
            vm_lib=sizes.get("VmLib"),
            vm_pte=sizes.get("VmPTE"),
            vm_swap=sizes.get("VmSwap"),
            sizes=MappingProxyType(sizes),
            other=MappingProxyType(other),
        ),
    )
