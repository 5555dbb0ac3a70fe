"""Evaluate the leak analysis on a labelled set of generated scenarios and print tables.

    python benchmarks/eval_analysis.py [--seeds 10]

Every scenario is one device: a process named ``target`` doing one pattern (see
``tests.support.synthetic.PATTERNS``) beside four steady daemons, sampled N times on a lab (3 s),
regular (5 min), irregular (1-9 min) or nightly schedule. A process counts as "flagged" when it has
a leak finding of medium or high severity.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.synthetic

from fleet.analysis import LEAK_KINDS, ProcessAssessment, analyse_device
from tests.support.synthetic import LEAKS, NON_LEAKS, PATTERNS, SCHEDULES, device_series, scenario, schedule

SAMPLE_COUNTS = (3, 4, 5, 6, 8, 12, 20, 30)
EVAL_FROM = 8  # precision/recall/p@10 are reported for windows of at least this many samples


def flagged(p: ProcessAssessment) -> bool:
    return p.leaking


def severities(p: ProcessAssessment) -> set[str]:
    return {f.severity for f in p.findings if f.kind in LEAK_KINDS}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args(argv)
    seeds = range(args.seeds)

    t0 = time.perf_counter()
    tp = fp = fn = tn = 0
    kind_ok = kind_total = 0
    fp_pattern: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # medium+, high, low, runs
    detect: dict[tuple[str, str, int], list[bool]] = defaultdict(list)
    p_at_10: list[float] = []
    restart_fp = 0
    for sched in SCHEDULES:
        for n in SAMPLE_COUNTS:
            for seed in seeds:
                pool: list[tuple[float, bool]] = []
                for k, pattern in enumerate(PATTERNS):
                    samples, _ = scenario(pattern, n, sched, seed * 1000 + k)
                    dev = analyse_device(f"{pattern}-{seed}", samples)
                    for p in dev.processes:
                        is_leak = p.name == "target" and PATTERNS[pattern].leak
                        pool.append((p.score, is_leak))
                        hit = flagged(p)
                        if p.name == "target" and is_leak:
                            detect[(pattern, sched, n)].append(hit)
                        if p.name == "target" and not is_leak:
                            row = fp_pattern[pattern]
                            sev = severities(p)
                            row[0] += hit
                            row[1] += "high" in sev
                            row[2] += "low" in sev
                            row[3] += 1
                            if pattern == "restart_only" and hit:
                                restart_fp += 1
                        if n < EVAL_FROM:
                            continue
                        if is_leak:
                            tp, fn = tp + hit, fn + (not hit)
                            if hit:
                                kinds = {f.kind for f in p.findings}
                                kind_total += 1
                                kind_ok += set(PATTERNS[pattern].kinds) <= kinds
                        else:
                            fp, tn = fp + hit, tn + (not hit)
                if n >= EVAL_FROM:
                    pool.sort(key=lambda x: -x[0])
                    p_at_10.append(sum(is_leak for _, is_leak in pool[:10]) / 10)

    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"# Leak analysis evaluation ({args.seeds} seeds, {time.perf_counter() - t0:.1f} s)\n")
    print(f"Windows of >= {EVAL_FROM} samples, all schedules; flagged = leak finding of medium/high severity")
    print("| metric | value |\n|---|---|")
    print(f"| processes (leak / non-leak) | {tp + fn} / {fp + tn} |")
    print(f"| precision | {precision:.3f} |")
    print(f"| recall | {recall:.3f} |")
    print(f"| precision@10 (10 leaks among 80 processes) | {statistics.mean(p_at_10):.3f} |")
    print(f"| right finding kind when flagged | {kind_ok}/{kind_total} |")
    print(f"| leak findings caused by a restart alone | {restart_fp} |")

    print("\nFalse positives per non-leak pattern (all sample counts and schedules)")
    print("| pattern | runs | medium/high | high | low (watch) |\n|---|---|---|---|---|")
    for pattern in NON_LEAKS:
        m, h, low, runs = fp_pattern[pattern]
        print(f"| {pattern} | {runs} | {m} | {h} | {low} |")

    print("\nSamples needed to detect (smallest N flagged in >= 90 % of seeds; '-' = not within 30)")
    print("| pattern | " + " | ".join(SCHEDULES) + " |\n|---|" + "---|" * len(SCHEDULES))
    for pattern in LEAKS:
        cells = []
        for sched in SCHEDULES:
            rates = {n: detect[(pattern, sched, n)] for n in SAMPLE_COUNTS}
            need = next((n for n, hits in rates.items() if sum(hits) >= 0.9 * len(hits)), None)
            cells.append(str(need) if need else "-")
        print(f"| {pattern} | " + " | ".join(cells) + " |")

    forecast_table(seeds)
    device_table(seeds)
    return 0


def forecast_table(seeds: range) -> None:
    """MemAvailable forecast against the true time to exhaustion."""
    print("\nMemAvailable forecast (true decline 0.5-4 MiB per sample interval, noise 0.2-1 MiB)")
    print("| schedule | N | detected | median rel. error | p90 rel. error | truth within ± uncertainty |")
    print("|---|---|---|---|---|---|")
    for sched in ("regular", "irregular", "nightly"):
        for n in (8, 12, 30):
            errs: list[float] = []
            inside = found = 0
            for seed in seeds:
                rng = random.Random(50_000 + seed)
                times = schedule(sched, n, rng)
                rate = rng.uniform(0.5, 4.0) * 1024 * 1024 / SCHEDULES[sched]
                samples, truth = device_series(times, rng, [("daemon", "steady")], mem_decline=rate)
                dev = analyse_device("d", samples)
                if dev.memory_exhausted_in_s is None or truth.exhausted_in_s is None:
                    continue
                found += 1
                err = abs(dev.memory_exhausted_in_s - truth.exhausted_in_s)
                errs.append(err / truth.exhausted_in_s)
                spread = dev.forecast_uncertainty_s
                inside += spread is not None and err <= spread
            med = f"{statistics.median(errs):.3f}" if errs else "-"
            p90 = f"{sorted(errs)[int(0.9 * (len(errs) - 1))]:.3f}" if errs else "-"
            print(f"| {sched} | {n} | {found}/{len(seeds)} | {med} | {p90} | {inside}/{found} |")


def device_table(seeds: range) -> None:
    """Device-level cases: slab growth, reboots, old kernels without boot_id."""
    print("\nDevice-level cases (30 regular samples)")
    print("| case | runs | expected finding present | medium/high process leak findings |")
    print("|---|---|---|---|")
    cases = {
        "slab_growth": ({"slab_leak": 300.0}, "slab_growth"),
        "reboot (boot_id)": ({"reboot_at": 15}, "reboot"),
        "reboot (uptime only)": ({"reboot_at": 15, "boot_id": False}, "reboot"),
        "steady memory": ({}, None),
    }
    for case, (kwargs, kind) in cases.items():
        present = leaks = 0
        for seed in seeds:
            rng = random.Random(70_000 + seed)
            times = schedule("regular", 30, rng)
            procs = [(f"d{k}", "steady") for k in range(4)] + [("pool", "steady_threads")]
            samples, _ = device_series(times, rng, procs, **kwargs)  # type: ignore[arg-type]
            dev = analyse_device("d", samples)
            kinds = {f.kind for f in dev.findings if f.severity in ("medium", "high", "info", "low")}
            present += (kind is None and not dev.findings) or kind in kinds
            leaks += sum(p.leaking for p in dev.processes)
        print(f"| {case} | {len(seeds)} | {present} | {leaks} |")


if __name__ == "__main__":
    sys.exit(main())
