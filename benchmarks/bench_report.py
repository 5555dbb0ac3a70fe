"""Time the HTML report and the email for a generated fleet of 1,000 devices.

    python benchmarks/bench_report.py [--devices 1000] [--samples 30] [--processes 50]

The fleet view is built from generated series (``tests.support.synthetic``), so only rendering is
timed: ``render_report`` and ``render_email``. Prints time, HTML size and the gzip size (what a
mail attachment costs, before base64's 4/3). Target (issue 5): under 5 s for 1,000 devices.
"""

from __future__ import annotations

import argparse
import gzip
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.synthetic

from fleet.analysis import analyse_device, fleet_findings
from fleet.render.report import render_email, render_report
from fleet.store.schema import DeviceRow
from fleet.view.fleet import DeviceView, FleetView
from tests.support.synthetic import device_series, schedule

MIX = ["steady"] * 80 + ["steady_threads"] * 8 + ["noisy"] * 5 + ["warmup"] * 4 + ["heap_leak", "thread_leak"]


def build(devices: int, samples: int, processes: int) -> FleetView:
    """1 device in 20 unreachable, the rest generated with about 2 % leaking processes."""
    rng = random.Random(1)
    views = []
    for d in range(devices):
        name = f"cam-{d:04d}"
        if d % 20 == 19:
            row = DeviceRow(
                name,
                f"10.1.{d // 250}.{d % 250}",
                ("cameras",),
                (),
                "unreachable",
                "Connect call failed",
                0.0,
                0,
                None,
                None,
            )
            views.append(DeviceView(row, None))
            continue
        times = schedule("regular", samples, rng)
        procs = [(f"proc{k}", rng.choice(MIX)) for k in range(processes)]
        series, _ = device_series(times, rng, procs, mem_decline=rng.choice((0.0, 0.0, 0.0, 2000.0)))
        a = analyse_device(name, series)
        row = DeviceRow(
            name,
            f"10.1.{d // 250}.{d % 250}",
            ("cameras",),
            (),
            "ok",
            None,
            times[-1],
            samples,
            times[0],
            times[-1],
        )
        views.append(DeviceView(row, a))
    views.sort(key=lambda v: (-v.score, v.name))
    found = fleet_findings(
        [v.assessment for v in views if v.assessment], {v.name: ["cameras"] for v in views}
    )
    return FleetView(time.time(), tuple(views), tuple(found), store="generated")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--processes", type=int, default=50)
    args = ap.parse_args(argv)
    view = build(args.devices, args.samples, args.processes)
    t0 = time.perf_counter()
    html = render_report(view)
    t1 = time.perf_counter()
    render_email(view, "fleet-report.html")
    t2 = time.perf_counter()
    data = html.encode()
    print(
        f"{args.devices} devices ({len(view.suspects)} suspects): report {t1 - t0:.2f} s,"
        f" {len(data) / 1e6:.2f} MB ({len(gzip.compress(data)) / 1e6:.2f} MB gzipped); email {t2 - t1:.2f} s"
    )
    return 0 if t1 - t0 < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
