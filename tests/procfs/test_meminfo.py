"""meminfo: real files from 2.6-era to 6.x kernels, edge cases, and a cross-check against free -b."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fleet.procfs import ParseError, parse_meminfo

from ._corpus import GOPI, PCP, PROM, T0, T1, corpus

KB = 1024


def test_prometheus_64bit_with_zswap() -> None:
    m = parse_meminfo(corpus(f"{PROM}/meminfo"))
    assert m.mem_total == 15666184 * KB
    assert m.sizes["Zswap"] == 22414 * KB
    assert m.sizes["VmallocTotal"] == 34359738367 * KB
    assert m.counts["HugePages_Total"] == 0
    # This fixture has no MemAvailable: the old-kernel estimate is used and flagged.
    assert m.mem_available_estimated
    assert "MemAvailable" in m.missing


def test_old_kernel_without_memavailable_is_estimated() -> None:
    m = parse_meminfo(corpus(f"{GOPI}/meminfo_1"))
    assert m.mem_total == 1011048 * KB
    assert m.mem_free == 92096 * KB
    assert m.mem_available == (92096 + 44304 + 681228) * KB
    assert m.mem_available_estimated
    assert m.missing == ("MemAvailable",)


def test_memavailable_present() -> None:
    m = parse_meminfo(corpus(f"{GOPI}/meminfo_2"))
    assert not m.mem_available_estimated
    assert m.mem_available == m.sizes["MemAvailable"]
    assert m.missing == ()


def test_this_machine_t0_t1() -> None:
    t0 = parse_meminfo(corpus(f"{T0}/meminfo"))
    t1 = parse_meminfo(corpus(f"{T1}/meminfo"))
    assert t0.mem_total == 24684084 * KB
    assert t0.mem_free == 23692040 * KB
    assert t0.mem_available == 24227848 * KB
    assert t1.mem_total == t0.mem_total
    assert t1.mem_available is not None and t1.mem_available < t0.mem_available  # the lab leaked


@pytest.mark.parametrize("name", ["meminfo-root-001", "meminfo-root-002"])
def test_pcp(name: str) -> None:
    m = parse_meminfo(corpus(f"{PCP}/{name}/proc/meminfo"))
    assert m.mem_total is not None and m.mem_total > 16 * 10**9
    assert m.slab is not None and m.slab > 0
    assert not m.mem_available_estimated


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no fields"),
        ("MemTotal: 1000", "no kB unit"),  # truncated mid-line: the unit is gone
        ("MemTotal: 1000 MB\n", "is not kB"),
        ("MemTotal 1000 kB\n", "not a 'Key: value' line"),
        ("MemTotal: abc kB\n", "bad MemTotal value"),
        ("MemTotal: 1000 kB\nMemFree: 10 kB extra\n", "bad value"),
        ("MemTotal: 1000 kB\ngarbage\n", "line 2"),
    ],
)
def test_bad_input(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as err:
        parse_meminfo(text)
    assert err.value.kind == "meminfo"


def test_unknown_keys_are_kept() -> None:
    m = parse_meminfo("MemTotal: 10 kB\nBrandNew: 5 kB\nBrandNewCount: 7\n")
    assert m.sizes["BrandNew"] == 5 * KB
    assert m.counts["BrandNewCount"] == 7
    assert m.mem_free is None and m.mem_available is None and not m.mem_available_estimated
    assert "MemFree" in m.missing


@pytest.mark.skipif(shutil.which("free") is None or not Path("/proc/meminfo").exists(), reason="needs free")
def test_against_free() -> None:
    """Cross-check with procps ``free -b`` (psutil's TestVirtualMemoryAgainstFree)."""
    out = subprocess.run(["free", "-b"], capture_output=True, text=True, check=True).stdout
    m = parse_meminfo(Path("/proc/meminfo").read_text())
    row = next(line.split() for line in out.splitlines() if line.startswith("Mem:"))
    total, free = int(row[1]), int(row[3])
    assert m.mem_total == total  # both come from the same MemTotal line
    assert m.mem_free is not None and abs(m.mem_free - free) < 64 * 1024 * 1024  # moved in between
    if len(row) >= 7 and m.mem_available is not None:
        assert abs(m.mem_available - int(row[6])) < 64 * 1024 * 1024
