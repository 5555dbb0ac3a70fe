"""Parse throughput (issue 3): maps parsing + classification, and whole captures (split + extract).

    python3 benchmarks/bench_parse.py [--seconds 1.0] [--json out.json]

Inputs:
  maps android     the AOSP libprocinfo test maps (64-bit, ~2,000 mappings) from tests/data/proc
  maps synthetic   a 32-bit (8-digit) maps of a thread-leaking process: 4,000 thread stacks, each an
                   8 MiB rw-p mapping above a 4 KiB ---p guard, plus libraries, heap and SYSV segments
  small capture    the same from a fresh pid namespace (shell + 6 sleepers, like a light lab device);
                   plus the writer thread's whole per-sample job: store the raw capture, parse it
  capture v3/v1    real captures of this machine's /proc made locally with `busybox sh -s` running
                   fleet's capture script (format 3, one grep -z pass) and the first naive script
                   (format 1, one cat per file); split_capture + metrics_from_capture, as the
                   collector does for every sample
Each figure is the best of 3 rounds of at least --seconds each, in MB/s of input text.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture_variants import script

from fleet.capture.script import new_token
from fleet.capture.split import split_capture
from fleet.metrics.from_capture import metrics_from_capture
from fleet.procfs import classify_maps, parse_maps
from fleet.store.parse import parse_sample
from fleet.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
ANDROID_MAPS = ROOT / "tests/data/proc/aosp-platform-system-core/libprocinfo/testdata/maps"


def synthetic_maps32(threads: int = 4000) -> str:
    lines = [
        "00008000-000a1000 r-xp 00000000 1f:02 412        /usr/bin/AiApp",
        "000a9000-000ab000 rw-p 00099000 1f:02 412        /usr/bin/AiApp",
        "000ab000-0120c000 rw-p 00000000 00:00 0          [heap]",
    ]
    addr = 0x40000000
    for lib in ("libc.so.0", "libpthread.so.0", "libstdc++.so.6", "libmpi.so", "libisp.so"):
        for perms, size in (("r-xp", 0x80000), ("---p", 0x8000), ("r--p", 0x1000), ("rw-p", 0x2000)):
            lines.append(f"{addr:08x}-{addr + size:08x} {perms} 00000000 1f:02 77         /lib/{lib}")
            addr += size
    for i in range(8):
        lines.append(
            f"{addr:08x}-{addr + 0x8000:08x} rw-s 00000000 00:04 {i}          /SYSV5553fc{i:02x} (deleted)"
        )
        addr += 0x8000
    lines.append(f"{addr:08x}-{addr + 0x100000:08x} rw-s 00000000 00:05 9          /dev/mmz_userdev")
    addr = 0x50000000
    for _ in range(threads):
        lines.append(f"{addr:08x}-{addr + 0x1000:08x} ---p 00000000 00:00 0 ")
        lines.append(f"{addr + 0x1000:08x}-{addr + 0x801000:08x} rw-p 00000000 00:00 0 ")
        addr += 0x801000
        if addr > 0xBE000000:
            addr = 0x10000000 + (addr & 0xFFFFF)
    lines.append("bec00000-bec21000 rw-p 00000000 00:00 0          [stack]")
    lines.append("ffff0000-ffff1000 r-xp 00000000 00:00 0          [vectors]")
    return "\n".join(lines) + "\n"


def local_capture(variant: str, small: bool = False) -> tuple[bytes, str] | None:
    """A capture of this machine's /proc, or with ``small`` of a fresh pid namespace holding the
    shell and 6 sleepers (about what a light lab device shows; needs root and unshare)."""
    shell = shutil.which("busybox")
    if shell is None:
        return None
    token = new_token()
    cmd = [shell, "sh", "-s"]
    text = script(variant, token)
    if small:
        if not shutil.which("unshare"):
            return None
        cmd = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", *cmd]
        text = "".join(f"{shell} sleep 30 </dev/null >/dev/null 2>&1 &\n" for _ in range(6)) + text
    out = subprocess.run(cmd, input=text.encode(), capture_output=True, timeout=120)
    return (out.stdout, token) if out.returncode == 0 else None


def store_row(raw: bytes, token: str, seconds: float) -> dict[str, float]:
    """What the collector's writer thread does per sample: commit the raw capture, then parse it."""
    with tempfile.TemporaryDirectory(prefix="fleet-bench-parse-") as tmp, Store(Path(tmp)) as store:
        dev = store.device_id("bench", "127.0.0.1", (), ())
        clock = iter(range(10**9))

        def one() -> None:
            sid = store.add_raw_sample(dev, None, float(next(clock)), raw, token=token)
            parse_sample(store, sid, raw, token)

        return throughput(one, len(raw), seconds)


def throughput(fn: Callable[[], object], nbytes: int, seconds: float) -> dict[str, float]:
    best = float("inf")
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                break
        best = min(best, elapsed / n)
    return {"bytes": nbytes, "ms_per_call": best * 1000, "mb_per_s": nbytes / best / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.0, help="minimum time per round")
    ap.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []

    def maps_row(name: str, text: str) -> None:
        m = parse_maps(text)
        rows.append(
            {
                "input": name,
                "what": "parse_maps",
                **throughput(lambda: parse_maps(text), len(text), args.seconds),
            }
        )
        rows.append(
            {
                "input": name,
                "what": "parse + classify",
                "mappings": len(m.vmas),
                **throughput(lambda: classify_maps(parse_maps(text)), len(text), args.seconds),
            }
        )

    if ANDROID_MAPS.exists():
        maps_row("maps android (64-bit)", ANDROID_MAPS.read_text())
    maps_row("maps synthetic 32-bit, 4,000 thread stacks", synthetic_maps32())

    cases = [
        ("fleet", True, "small capture v3 (grep -z)"),
        ("naive", True, "small capture v1 (cat)"),
        ("fleet", False, "capture v3 (grep -z)"),
        ("naive", False, "capture v1 (cat)"),
    ]
    for variant, small, label in cases:
        cap = local_capture(variant, small)
        if cap is None:
            print(f"{label}: could not capture (busybox, unshare, root?): skipped", file=sys.stderr)
            continue
        raw, token = cap
        n_pids = len(split_capture(raw, token).processes)
        rows.append(
            {
                "input": f"{label}, {n_pids} pids",
                "what": "split_capture",
                **throughput(lambda raw=raw, token=token: split_capture(raw, token), len(raw), args.seconds),
            }
        )
        rows.append(
            {
                "input": f"{label}, {n_pids} pids",
                "what": "split + metrics_from_capture",
                **throughput(
                    lambda raw=raw, token=token: metrics_from_capture(split_capture(raw, token)),
                    len(raw),
                    args.seconds,
                ),
            }
        )
        if small:
            rows.append(
                {
                    "input": f"{label}, {n_pids} pids",
                    "what": "store raw + parse_sample",
                    **store_row(raw, token, args.seconds),
                }
            )

    print(f"{'input':<46}{'step':<30}{'KiB':>9}{'ms/call':>10}{'MB/s':>9}")
    print("-" * 104)
    for r in rows:
        print(
            f"{r['input']:<46}{r['what']:<30}{r['bytes'] / 1024:>9.1f}"
            f"{r['ms_per_call']:>10.2f}{r['mb_per_s']:>9.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
