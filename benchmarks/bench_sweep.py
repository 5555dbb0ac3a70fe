"""A real nightly ``fleet sweep`` with its defaults over an N-device light lab (issue 9).

    python3 benchmarks/bench_sweep.py --devices 2000 [--nofile 1024] [--json out.json]

Runs ``python -m fleet sweep`` (3 samples 60 s apart, ``--maps-every 3``, concurrency 64, analysis
and report; no email) as its own process and reports wall time, CPU (user + system), peak RSS
(``VmHWM``) and peak open fds, both polled from /proc while it runs, and its summary line. With
``--nofile`` a second sweep runs under that open-file limit (soft = hard), as in a container or a
systemd unit with ``LimitNOFILE=``. Needs root (the lab); the sweep takes ~2.5 minutes, longer
under a low limit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fleet.lab import free_subnet, start_lab, stop_lab


def sweep(inventory: Path, work: Path, nofile: int | None) -> dict[str, Any]:
    def limit() -> None:
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    args = ["sweep", str(inventory), "--store", str(work / "store"), "--report-dir", str(work / "reports")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
        cwd=work,
    )
    peak_fds = peak_kib = 0
    while proc.poll() is None:
        try:
            peak_fds = max(peak_fds, len(os.listdir(f"/proc/{proc.pid}/fd")))
            hwm = Path(f"/proc/{proc.pid}/status").read_text().split("VmHWM:", 1)[1].split()[0]
            peak_kib = max(peak_kib, int(hwm))
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.5)
    out, err = proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {
        "nofile": nofile,
        "exit": proc.returncode,
        "wall_s": round(time.monotonic() - started, 1),
        "cpu_s": round(cpu, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "peak_fds": peak_fds,
        "summary": out.strip().splitlines()[:1],
        "stderr": err.strip().splitlines()[-3:],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--nofile", type=int, default=None, help="also sweep under this open-file limit")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-sweep-"))
    try:
        started = time.monotonic()
        lab = start_lab(tmp / "lab", args.devices, profile="light", subnet=free_subnet())
        print(f"{args.devices} light devices started in {time.monotonic() - started:.1f} s", flush=True)
        rows = []
        for nofile in (None, args.nofile) if args.nofile else (None,):
            work = tmp / f"sweep-{nofile or 'default'}"
            work.mkdir()
            row = sweep(lab.inventory, work, nofile)
            row["cpu_ms_per_device"] = round(row["cpu_s"] / args.devices * 1000, 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
    finally:
        stop_lab(tmp / "lab")
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({"devices": args.devices, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
