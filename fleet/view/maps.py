"""What ``fleet maps FILE [FILE2] [--json]`` shows: one classified dump, or what changed between two.

Pure functions over maps text; the CLI only reads the files and prints. The JSON shape is fixed by
docs/interface.md (``mappings``, ``stack_size``, ``classes``, and ``added``/``removed`` for two
files); the extra keys (``exe``, ``address_bits``, ``summary``, ...) are additions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from fleet.procfs.mapclass import CLASSES, MapsClassification, classify_maps
from fleet.procfs.maps import Maps, Vma, parse_maps
from fleet.text import size, visible

# Singular and plural words for the one-line summary ("+64 thread stacks of 8 MiB").
_WORDS = {
    "executable": ("executable mapping", "executable mappings"),
    "library": ("library mapping", "library mappings"),
    "heap": ("heap", "heaps"),
    "main_stack": ("main stack", "main stacks"),
    "thread_stack": ("thread stack", "thread stacks"),
    "guard": ("guard page", "guard pages"),
    "anon": ("anonymous", "anonymous"),
    "file": ("file mapping", "file mappings"),
    "shm": ("shared-memory segment", "shared-memory segments"),
    "device": ("device mapping", "device mappings"),
    "special": ("special mapping", "special mappings"),
}

_Key = tuple[int, int, str, int, str, int, str | None]


def _classes_dict(vmas: Iterable[tuple[Vma, str]]) -> dict[str, dict[str, int]]:
    counts: dict[str, list[int]] = {}
    for vma, cls in vmas:
        slot = counts.setdefault(cls, [0, 0])
        slot[0] += 1
        slot[1] += vma.size
    return {c: {"count": counts[c][0], "bytes": counts[c][1]} for c in CLASSES if c in counts}


def _base(maps: Maps, cls: MapsClassification) -> dict[str, Any]:
    return {
        "mappings": cls.mappings,
        "stack_size": cls.stack_size,
        "classes": _classes_dict(zip(maps.vmas, cls.classes, strict=True)),
        "exe": cls.exe,
        "address_bits": cls.address_bits,
        "sysv": {"count": cls.sysv_count, "bytes": cls.sysv_bytes},
        "elided": cls.elided,  # "..." lines of a pasted excerpt: the totals are a lower bound
    }


def _phrase(sign: str, cls: str, sizes: list[int], note: str = "") -> str:
    one, many = _WORDS[cls]
    word = one if len(sizes) == 1 else many
    if len(sizes) == 1:
        return f"{sign}1 {word} {size(sizes[0], precise=True)}{note}"
    if len(set(sizes)) == 1:
        return f"{sign}{len(sizes)} {word} of {size(sizes[0], precise=True)}{note}"
    return f"{sign}{len(sizes)} {word}, {size(sum(sizes), precise=True)} in all{note}"


def summarize(maps: Maps, cls: MapsClassification) -> str:
    """One line for a single dump: '50 mappings: 4 thread stacks of 8 MiB, 1 heap 660 KiB, ...'."""
    by_class: dict[str, list[int]] = {}
    for vma, c in zip(maps.vmas, cls.classes, strict=True):
        by_class.setdefault(c, []).append(vma.size)
    parts = [_phrase("", c, by_class[c]) for c in CLASSES if c in by_class]
    head = f"{cls.mappings} mappings" + (f" ({cls.elided} elided)" if cls.elided else "")
    return head + (": " + "; ".join(parts) if parts else "")


def maps_report(text: str) -> dict[str, Any]:
    """``fleet maps FILE --json``: classes with count and bytes, inferred stack size, exe, bits.

    Raises :class:`fleet.procfs.ParseError` on text that is not a maps dump.
    """
    maps = parse_maps(text)
    cls = classify_maps(maps)
    report = _base(maps, cls)
    report["summary"] = summarize(maps, cls)
    return report


def _key(vma: Vma) -> _Key:
    return (vma.start, vma.end, vma.perms, vma.offset, vma.dev, vma.inode, vma.path)


def _diff_summary(
    new: Maps,
    new_cls: MapsClassification,
    added: list[tuple[Vma, str]],
    removed: list[tuple[Vma, str]],
) -> str:
    # Pair a removed and an added mapping of the same class and start: that is one region that was
    # resized (a growing [heap], a malloc arena), not one that vanished and one that appeared.
    resized: list[str] = []
    removed_by_start = {(v.start, c): v for v, c in removed}
    paired: set[tuple[int, str]] = set()
    for vma, c in added:
        old = removed_by_start.get((vma.start, c))
        if old is not None and (vma.start, c) not in paired:
            paired.add((vma.start, c))
            resized.append(
                f"{_WORDS[c][0]} {size(old.size, precise=True)} -> {size(vma.size, precise=True)}"
                f" ({'+' if vma.size >= old.size else ''}{size(vma.size - old.size, precise=True)})"
            )
    added = [(v, c) for v, c in added if (v.start, c) not in paired]
    removed = [(v, c) for v, c in removed if (v.start, c) not in paired]

    # Thread stacks whose guard also appeared directly below them are reported together.
    new_index = {_key(v): i for i, v in enumerate(new.vmas)}
    added_guard_ends = {v.end for v, c in added if c == "guard"}
    with_guard = [
        v for v, c in added if c == "thread_stack" and v.start in added_guard_ends and _key(v) in new_index
    ]
    parts: list[str] = []
    for sign, items in (("+", added), ("-", removed)):
        by_class: dict[str, list[int]] = {}
        for vma, c in items:
            by_class.setdefault(c, []).append(vma.size)
        guards_used = 0
        if sign == "+" and with_guard and len(with_guard) == len(by_class.get("thread_stack", [])):
            guards_used = len(with_guard)
        for c in CLASSES:
            sizes = by_class.get(c)
            if not sizes:
                continue
            if c == "thread_stack" and guards_used:
                note = ", each with a guard page" if guards_used > 1 else ", with a guard page"
                parts.append(_phrase(sign, c, sizes, note))
                continue
            if c == "guard" and guards_used:
                rest = sorted(sizes)[guards_used:]  # the smallest guards are the stack guards
                if rest:
                    parts.append(_phrase(sign, c, rest))
                continue
            parts.append(_phrase(sign, c, sizes))
    parts.extend(resized)
    return "; ".join(parts) if parts else "no change"


def maps_diff_report(old_text: str, new_text: str) -> dict[str, Any]:
    """``fleet maps OLD NEW --json``: the NEW dump's report plus ``added``/``removed`` per class.

    A mapping is the same in both dumps when its whole line (range, perms, offset, device, inode,
    path) is; a resized region therefore counts once in ``removed`` and once in ``added`` (the
    text summary pairs them up as "heap 1 MiB -> 3 MiB"). ``old`` holds the OLD dump's totals.
    """
    old_maps, new_maps = parse_maps(old_text), parse_maps(new_text)
    old_cls, new_cls = classify_maps(old_maps), classify_maps(new_maps)
    old_keys = Counter(_key(v) for v in old_maps.vmas)
    new_keys = Counter(_key(v) for v in new_maps.vmas)
    added: list[tuple[Vma, str]] = []
    removed: list[tuple[Vma, str]] = []
    seen: Counter[_Key] = Counter()
    for vma, c in zip(new_maps.vmas, new_cls.classes, strict=True):
        k = _key(vma)
        seen[k] += 1
        if seen[k] > old_keys[k]:
            added.append((vma, c))
    seen.clear()
    for vma, c in zip(old_maps.vmas, old_cls.classes, strict=True):
        k = _key(vma)
        seen[k] += 1
        if seen[k] > new_keys[k]:
            removed.append((vma, c))
    report = _base(new_maps, new_cls)
    report["added"] = _classes_dict(added)
    report["removed"] = _classes_dict(removed)
    report["old"] = {
        k: v for k, v in _base(old_maps, old_cls).items() if k in ("mappings", "stack_size", "classes")
    }
    report["summary"] = _diff_summary(new_maps, new_cls, added, removed)
    return report


def render_maps_text(report: Mapping[str, Any]) -> str:
    """Plain-text rendering of :func:`maps_report` or :func:`maps_diff_report` output."""
    head = [f"{report['mappings']} mappings"]
    if report.get("address_bits"):
        head.append(f"{report['address_bits']}-bit")
    if report.get("exe"):
        head.append(f"executable {report['exe']}")
    if report.get("stack_size"):
        head.append(f"thread stack size {size(report['stack_size'], precise=True)}")
    out = [", ".join(head)]
    if report.get("elided"):
        out.append(f"note: {report['elided']} elided '...' lines; totals are a lower bound")
    diff = "added" in report
    if diff:
        out.append(f"changes: {report['summary']}")
    out.append("")
    cols = f"{'class':<14}{'count':>7}{'bytes':>12}"
    if diff:
        cols += f"{'added':>16}{'removed':>16}"
    out.append(cols)
    classes: Mapping[str, Mapping[str, int]] = report["classes"]
    names = [
        c for c in CLASSES if c in classes or (diff and (c in report["added"] or c in report["removed"]))
    ]
    for c in names:
        total = classes.get(c, {"count": 0, "bytes": 0})
        row = f"{c:<14}{total['count']:>7}{size(total['bytes'], precise=True):>12}"
        if diff:
            for side, sign in (("added", "+"), ("removed", "-")):
                d = report[side].get(c)
                cell = f"{sign}{d['count']} {size(d['bytes'], precise=True)}" if d else ""
                row += f"{cell:>16}"
        out.append(row)
    if not diff and report.get("summary"):
        out.extend(["", report["summary"]])
    return "\n".join(visible(line) for line in out) + "\n"  # paths come from the device
