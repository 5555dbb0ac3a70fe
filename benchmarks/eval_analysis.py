"""Evaluate the leak analysis on a labelled set of generated scenarios and print tables.

    python benchmarks/eval_analysis.py [--seeds 10]
    python benchmarks/eval_analysis.py --nights 365 [--seeds 10]   # multi-night histories

Every scenario is one device: a process named ``target`` doing one pattern (see
``tests.support.synthetic.PATTERNS``) beside four steady daemons, sampled N times on a lab (3 s),
regular (5 min), irregular (1-9 min) or nightly schedule. A process counts as "flagged" when it has
a leak finding of medium or high severity.

With ``--nights N`` it evaluates multi-night histories instead (``night_history``: 3 samples a minute
apart at ~02:00 each night, with reboots, firmware upgrades, watchdog restarts, warm-ups, a log
buffer cleared every Sunday and usage peaks), every pattern at every leak rate, one history per seed,
each read the way the view reads it (``prepare``) after every night: nights to detection, and any
medium/high finding on a history that does not leak.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.synthetic

from fleet.analysis import LEAK_KINDS, DeviceAssessment, ProcessAssessment, analyse_device
from fleet.analysis.history import condense
from fleet.metrics.model import DeviceMetrics
from tests.support.synthetic import (
    LEAKS,
    NIGHT_PATTERNS,
    NON_LEAKS,
    PATTERNS,
    SCHEDULES,
    device_series,
    night_history,
    scenario,
    schedule,
)

Samples = list[tuple[float, DeviceMetrics]]

SAMPLE_COUNTS = (3, 4, 5, 6, 8, 12, 20, 30)
EVAL_FROM = 8  # precision/recall/p@10 are reported for windows of at least this many samples


def flagged(p: ProcessAssessment) -> bool:
    return p.leaking


def severities(p: ProcessAssessment) -> set[str]:
    return {f.severity for f in p.findings if f.kind in LEAK_KINDS}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument(
        "--nights", type=int, default=0, help="evaluate multi-night histories of this many nights"
    )
    ap.add_argument("--first-seed", type=int, default=0, help="seeds FIRST .. FIRST+SEEDS-1 (untouched sets)")
    args = ap.parse_args(argv)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if args.nights:
        result = evaluate_nights(args.nights, seeds)
        print_nights(result)
        return 0

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


# --- Multi-night histories ------------------------------------------------------------------------


def prepare(samples: Samples) -> Samples:
    """The samples as the view hands them to the analysis: condensed (fleet.analysis.history)."""
    return condense(samples)


def checkpoints(nights: int) -> list[int]:
    """Nights after which the history is analysed: every night for two months, then weekly."""
    out = list(range(2, min(nights, 60) + 1))
    out += list(range(67, nights + 1, 7))
    if out[-1] != nights:
        out.append(nights)
    return out


def _loud(dev: DeviceAssessment) -> list[tuple[str, str]]:
    """(process or "device", kind) of every medium/high finding that is not context."""
    out = [("device", f.kind) for f in dev.findings if f.severity in ("medium", "high")]
    out += [(p.name, f.kind) for p in dev.processes for f in p.findings if f.severity in ("medium", "high")]
    return out


@dataclass
class NightRow:
    """One (pattern, rate) over every seed."""

    pattern: str
    rate: float
    unit: str
    kind: str | None
    histories: int = 0
    flagged: int = 0  # target flagged at the end of the history
    right_kind: int = 0  # ... with the expected kind at medium/high
    detect: list[int | None] = field(default_factory=list)  # first night flagged with the right kind
    into_boot: list[int] = field(default_factory=list)  # ... counted from the latest reboot or restart
    false_alarms: int = 0  # histories with a medium/high finding where nothing leaks (any checkpoint)
    other_loud: int = 0  # medium/high findings on other processes or the device (any checkpoint)
    watch: int = 0  # histories with a low finding on the target at the end
    examples: list[str] = field(default_factory=list)


def evaluate_nights(nights: int, seeds: range, patterns: Sequence[str] | None = None) -> list[NightRow]:
    """Every pattern at every leak rate, one ``nights``-night history per seed."""
    rows: list[NightRow] = []
    for pattern in patterns or NIGHT_PATTERNS:
        spec = NIGHT_PATTERNS[pattern]
        for rate in spec.rates:
            row = NightRow(pattern, rate, spec.unit, spec.kind)
            for seed in seeds:
                samples, truth = night_history(pattern, nights, 90_000 + 1000 * seed + len(rows), rate)
                _night_run(row, samples, nights, f"seed {seed} ({90_000 + 1000 * seed + len(rows)})")
                found = row.detect[-1] if row.detect else None
                if found is not None:
                    # nights k (0-based) < found were analysed; a reboot or restart on night e starts anew
                    starts = [e for e in (*truth.reboots, *truth.restarts) if e < found]
                    row.into_boot.append(found - max(starts, default=0))
            rows.append(row)
    return rows


def _night_run(row: NightRow, samples: Samples, nights: int, label: str) -> None:
    row.histories += 1
    found: int | None = None
    alarm = False
    for k in checkpoints(nights):
        if row.kind is not None and found is not None and k != nights:
            continue  # a leak found: only the end still counts
        dev = analyse_device("dev", prepare(samples[: 3 * k]))
        target = next(p for p in dev.processes if p.name == "target")
        loud = _loud(dev)
        # A leak's own consequences (MemAvailable falling, a 32-bit address space) are not false.
        own = {"mem_available_decline"} if row.kind == "heap_growth" else set()
        others = [(w, kd) for w, kd in loud if w != "target" and not (w == "device" and kd in own)]
        row.other_loud += len(others)
        if others and len(row.examples) < 3:
            row.examples.append(f"{label} night {k}: {others[0]}")
        if row.kind is None:
            if loud:
                alarm = True
                if len(row.examples) < 3:
                    row.examples.append(f"{label} night {k}: {loud[0]}")
        elif found is None and any(
            f.kind == row.kind and f.severity in ("medium", "high") for f in target.findings
        ):
            found = k
        if k == nights:
            row.flagged += target.leaking
            row.right_kind += any(
                f.kind == row.kind and f.severity in ("medium", "high") for f in target.findings
            )
            row.watch += any(f.severity == "low" and f.kind in LEAK_KINDS for f in target.findings)
    row.false_alarms += alarm
    if row.kind is not None:
        row.detect.append(found)


def night_totals(rows: Sequence[NightRow]) -> dict[str, float]:
    """Precision, recall and right kind over every history at its last night."""
    tp = sum(r.flagged for r in rows if r.kind)
    fn = sum(r.histories - r.flagged for r in rows if r.kind)
    fp = sum(r.flagged for r in rows if not r.kind)
    right = sum(r.right_kind for r in rows if r.kind)
    return {
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "right_kind": right / tp if tp else 1.0,
        "false_alarm_histories": float(sum(r.false_alarms for r in rows if not r.kind)),
        "other_loud": float(sum(r.other_loud for r in rows)),
    }


def _rate_text(row: NightRow) -> str:
    if row.kind is None:
        return "-"
    if row.unit == "MiB":
        return f"{row.rate / 1024 / 1024:g} MiB/day"
    return f"{row.rate:g} {row.unit}/day"


def print_nights(rows: Sequence[NightRow]) -> None:
    """The per-pattern table and the totals, as docs/method.md and benchmarks/README.md cite them."""
    tot = night_totals(rows)
    n = rows[0].histories if rows else 0
    print(f"# Multi-night evaluation ({n} histories per row; flagged = medium/high leak finding)\n")
    print(
        "| pattern | rate | histories | flagged at the end | right kind | nights to detection "
        "(median / worst) | ... of its boot or instance | medium/high where nothing leaks | low at the end |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.kind:
            got = [d for d in r.detect if d is not None]
            missed = len(r.detect) - len(got)
            det = f"{statistics.median(got):g} / {max(got)}" if got else "-"
            if missed:
                det += f" ({missed} never)"
            into = f"{statistics.median(r.into_boot):g} / {max(r.into_boot)}" if r.into_boot else "-"
        else:
            det = into = "-"
        alarms = str(r.false_alarms) if not r.kind else str(r.other_loud)
        print(f"| {r.pattern} | {_rate_text(r)} | {r.histories} | {r.flagged} | {r.right_kind} | {det} "
              f"| {into} | {alarms} | {r.watch} |")  # fmt: skip
    print(
        f"\nprecision {tot['precision']:.3f}, recall {tot['recall']:.3f}, right kind "
        f"{tot['right_kind']:.3f}; non-leak histories with a medium/high finding at any night: "
        f"{tot['false_alarm_histories']:.0f}"
    )
    for r in rows:
        for e in r.examples:
            print(f"  {r.pattern}: {e}")


if __name__ == "__main__":
    sys.exit(main())
