"""Time the leak analysis on a generated fleet: 1,000 devices x 30 samples x 50 processes.

    python benchmarks/bench_analysis.py [--devices 1000] [--samples 30] [--processes 50]

Devices are generated one at a time and only ``analyse_device`` (plus ``fleet_findings`` at the
end) is timed, so the number is the analysis alone. Target: under 10 s on a 2-core machine.
About 5 % of processes leak (a mix of patterns), the rest are steady or look-alikes.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.synthetic

from fleet.analysis import DeviceAssessment, analyse_device, fleet_findings
from tests.support.synthetic import device_series, schedule

MIX = (
    ["steady"] * 70
    + ["steady_threads"] * 8
    + ["noisy"] * 5
    + ["warmup"] * 4
    + ["sawtooth_flat"] * 4
    + ["restart_only"] * 2
    + ["heap_leak", "thread_leak", "fd_leak", "restart_leak", "unjoined_threads"]
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--processes", type=int, default=50)
    args = ap.parse_args(argv)

    rng = random.Random(1)
    gen = analyse = 0.0
    assessments: list[DeviceAssessment] = []
    groups: dict[str, list[str]] = {}
    for d in range(args.devices):
        t0 = time.perf_counter()
        times = schedule("regular", args.samples, rng)
        procs = [(f"proc{k}", rng.choice(MIX)) for k in range(args.processes)]
        samples, _ = device_series(times, rng, procs, mem_decline=rng.choice((0.0, 0.0, 0.0, 2000.0)))
        t1 = time.perf_counter()
        name = f"dev{d:04d}"
        assessments.append(analyse_device(name, samples))
        groups[name] = ["cameras" if d % 2 else "gateways"]
        t2 = time.perf_counter()
        gen += t1 - t0
        analyse += t2 - t1
    t3 = time.perf_counter()
    fleet = fleet_findings(assessments, groups)
    fleet_s = time.perf_counter() - t3

    records = args.devices * args.samples * args.processes
    total = analyse + fleet_s
    shape = f"{args.devices} x {args.samples} x {args.processes}"
    print(f"devices x samples x processes: {shape} = {records:,} records")
    print(f"generate (not counted)       : {gen:.2f} s")
    per_device = 1000 * analyse / args.devices
    print(f"analyse_device               : {analyse:.2f} s ({per_device:.2f} ms per device)")
    print(f"fleet_findings               : {fleet_s:.2f} s ({len(fleet)} fleet findings)")
    print(f"total analysis               : {total:.2f} s  (target < 10 s)")
    flagged = sum(p.leaking for a in assessments for p in a.processes)
    print(f"processes flagged medium/high: {flagged:,}")
    return 0 if total < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
