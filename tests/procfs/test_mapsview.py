"""``fleet maps`` reports: the JSON shape of interface.md and the plain-text diff."""

from __future__ import annotations

import json

from fleet.procfs.mapclass import CLASSES
from fleet.view.maps import maps_diff_report, maps_report, render_maps_text

from ._corpus import DATA, T0, corpus

MIB = 1024 * 1024


def _stack_block(base: int, n: int, size: int = 8 * MIB) -> str:
    out = []
    for i in range(n):
        g = base + i * (size + 0x1000)
        out.append(f"{g:08x}-{g + 0x1000:08x} ---p 00000000 00:00 0 \n")
        out.append(f"{g + 0x1000:08x}-{g + 0x1000 + size:08x} rw-p 00000000 00:00 0 \n")
    return "".join(out)


BASE = (
    "00010000-00083000 r-xp 00000000 b3:11 22         /usr/bin/app\n"
    "00099000-00b25000 rw-p 00000000 00:00 0          [heap]\n"
    "7eef7000-7ef18000 rw-p 00000000 00:00 0          [stack]\n"
)


def test_single_report_shape() -> None:
    report = maps_report(corpus(f"{T0}/29099/maps"))
    assert report["mappings"] == 50
    assert report["stack_size"] == 8 * MIB
    assert report["classes"]["thread_stack"] == {"count": 4, "bytes": 32 * MIB}
    assert set(report["classes"]) <= set(CLASSES)
    assert sum(c["count"] for c in report["classes"].values()) == 50
    assert report["exe"] == "/opt/lab/leakd64" and report["address_bits"] == 64
    json.dumps(report)  # plain data only


def test_diff_thread_leak_sentence() -> None:
    old = BASE + _stack_block(0x10000000, 2)
    new = BASE + _stack_block(0x10000000, 2 + 64) + "60000000-60c00000 rw-p 00000000 00:00 0 \n"
    report = maps_diff_report(old, new)
    assert report["added"]["thread_stack"] == {"count": 64, "bytes": 64 * 8 * MIB}
    assert report["added"]["guard"]["count"] == 64
    assert report["added"]["anon"] == {"count": 1, "bytes": 12 * MIB}
    assert report["removed"] == {}
    assert report["old"]["classes"]["thread_stack"]["count"] == 2
    assert report["summary"] == "+64 thread stacks of 8 MiB, each with a guard page; +1 anonymous 12 MiB"
    text = render_maps_text(report)
    assert "+64 thread stacks of 8 MiB, each with a guard page" in text
    assert "thread_stack" in text


def test_diff_heap_growth_and_removal() -> None:
    old = BASE + _stack_block(0x10000000, 3)
    new = BASE.replace("00099000-00b25000", "00099000-01b25000") + _stack_block(0x10000000, 1)
    report = maps_diff_report(old, new)
    assert report["added"] == {"heap": {"count": 1, "bytes": 0x1B25000 - 0x99000}}
    assert report["removed"]["thread_stack"]["count"] == 2
    assert report["removed"]["heap"]["count"] == 1
    assert "heap 10.5 MiB -> 26.5 MiB (+16 MiB)" in report["summary"]
    assert "-2 thread stacks of 8 MiB" in report["summary"]


def test_identical_dumps() -> None:
    text = (DATA / "seed_maps.txt").read_text()
    report = maps_diff_report(text, text)
    assert report["added"] == {} and report["removed"] == {} and report["summary"] == "no change"


def test_seed_text_rendering() -> None:
    text = render_maps_text(maps_report((DATA / "seed_maps.txt").read_text()))
    assert "32-bit" in text and "thread stack size 8 MiB" in text and "elided" in text
    assert "15 thread stacks" in text
