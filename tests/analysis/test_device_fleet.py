"""Device forecast and slab findings, the ranking over generated scenarios, and the fleet view."""

from __future__ import annotations

import random

import pytest
from analysis_builder import MiB, device, proc

from fleet.analysis import DeviceAssessment, analyse_device, fleet_findings
from tests.support.synthetic import LEAKS, NON_LEAKS, PATTERNS, device_series, scenario, schedule

ORDER = ["info", "low", "medium", "high"]


@pytest.mark.parametrize("sched", ["regular", "irregular", "nightly"])
def test_mem_available_forecast_matches_true_slope(sched: str) -> None:
    rng = random.Random(11)
    times = schedule(sched, 20, rng)
    rate = 2 * MiB / (times[1] - times[0])
    samples, truth = device_series(times, rng, [("d", "steady")], mem_decline=rate)
    dev = analyse_device("gw", samples)
    assert truth.exhausted_in_s is not None and dev.memory_exhausted_in_s is not None
    assert abs(dev.memory_exhausted_in_s - truth.exhausted_in_s) < 0.1 * truth.exhausted_in_s
    assert dev.forecast_uncertainty_s is not None and dev.forecast_uncertainty_s > 0
    f = next(f for f in dev.findings if f.kind == "mem_available_decline")
    assert f.severity == "high" and "reaches 0" in f.summary


def test_flat_memory_has_no_forecast() -> None:
    rng = random.Random(12)
    samples, _ = device_series(schedule("regular", 30, rng), rng, [("d", "steady")])
    dev = analyse_device("gw", samples)
    assert dev.memory_exhausted_in_s is None and dev.findings == ()


def test_estimated_mem_available_is_said() -> None:
    rng = random.Random(13)
    times = schedule("regular", 12, rng)
    samples, _ = device_series(times, rng, [("d", "steady")], mem_decline=5000.0, estimated=True)
    f = analyse_device("old", samples).findings[0]
    assert "MemFree+Buffers+Cached" in f.summary and f.evidence["estimated"] == "yes"


def test_slab_growth_names_the_cache() -> None:
    slab = [{"dentry": 3 * MiB, "kmalloc-256": 2 * MiB + i * 512 * 1024} for i in range(15)]
    dev = analyse_device("cam", device([[proc(1, "init")]] * 15, slab=slab))
    f = next(f for f in dev.findings if f.kind == "slab_growth")
    assert f.evidence["cache"] == "kmalloc-256" and f.severity == "high"
    assert "/sys/kernel/slab/kmalloc-256/alloc_calls" in f.summary


def test_samples_without_slabinfo_are_gaps_not_zeros() -> None:
    """``--maps-every`` samples leave slabinfo out ({}): a growing cache is still found from the
    samples that read it, and the gaps never read as a cache dropping to zero and coming back."""
    growing = [
        {"kmalloc-256": 2 * MiB + i * 512 * 1024, "dentry": 3 * MiB} if i % 3 == 0 else {} for i in range(30)
    ]
    dev = analyse_device("cam", device([[proc(1, "init")]] * 30, slab=growing))
    f = next(f for f in dev.findings if f.kind == "slab_growth")
    assert f.evidence["cache"] == "kmalloc-256" and f.severity == "high"
    flat = [{"dentry": 3 * MiB} if i % 3 == 0 else {} for i in range(30)]
    assert not analyse_device("cam", device([[proc(1, "init")]] * 30, slab=flat)).findings


def _pool(n: int, sched: str, seed: int) -> list[DeviceAssessment]:
    return [analyse_device(p, scenario(p, n, sched, seed * 100 + k)[0]) for k, p in enumerate(PATTERNS)]


@pytest.mark.parametrize(("n", "sched"), [(12, "regular"), (12, "irregular"), (30, "lab"), (14, "nightly")])
def test_every_leak_outranks_every_non_leak(n: int, sched: str) -> None:
    for seed in range(3):
        scored = []
        for dev in _pool(n, sched, seed):
            for p in dev.processes:
                leak = p.name == "target" and PATTERNS[dev.name].leak
                scored.append((p.score, leak, dev.name, p))
        # sawtooth_rising needs several cycles (see its own test); here it may only be a watch item.
        # So does restart_leak on nightly looks: two weeks of a daemon restarted every 5-10 nights
        # are two or three short instances, which a warm-up after every restart imitates.
        hard = {"sawtooth_rising", "restart_leak"} if sched == "nightly" else {"sawtooth_rising"}
        clear = [s for s, leak, name, _ in scored if leak and name not in hard]
        quiet = [s for s, leak, _, _ in scored if not leak]
        assert min(clear) > max(quiet), (sched, seed)
        for _, leak, name, p in scored:
            if leak and name not in hard:
                assert set(PATTERNS[name].kinds) <= {f.kind for f in p.findings}, (name, p.findings)
            if not leak:
                assert all(ORDER.index(f.severity) <= 1 for f in p.findings), (name, p.findings)


def test_no_non_leak_pattern_is_medium_or_high_at_any_length() -> None:
    for pattern in NON_LEAKS:
        for n in (3, 5, 8, 20, 30):
            for seed in range(3):
                dev = analyse_device(pattern, scenario(pattern, n, "irregular", seed)[0])
                for p in dev.processes:
                    assert not p.leaking, (pattern, n, seed, p.findings)
                    if pattern == "restart_only":
                        assert {f.kind for f in p.findings} <= {"restart"}


def test_three_samples_never_high_for_any_pattern() -> None:
    for k, pattern in enumerate(PATTERNS):
        dev = analyse_device(pattern, scenario(pattern, 3, "regular", k)[0])
        assert all(f.severity in ("low", "info") for p in dev.processes for f in p.findings)


def test_slow_leak_on_sparse_nightly_samples() -> None:
    """12 nights, not 10: nightly looks must also rise between nights a week apart (a log buffer
    cleared every Sunday rises all week), which ten nights give six pairs of, too few to tell."""
    for seed in range(3):
        dev = analyse_device("cam", scenario("slow_leak", 12, "nightly", seed)[0])
        assert dev.processes[0].name == "target" and dev.processes[0].leaking
        short = analyse_device("cam", scenario("slow_leak", 8, "nightly", seed)[0])
        assert not short.processes[0].leaking


def test_sawtooth_with_rising_minima_is_found_over_enough_cycles() -> None:
    hits = sum(analyse_device("c", scenario("sawtooth_rising", 40, "regular", s)[0]).processes[0].leaking
               for s in range(5))  # fmt: skip
    assert hits >= 4


def test_device_score_follows_its_worst_process() -> None:
    leaky = analyse_device("a", scenario("thread_leak", 12, "regular", 1)[0])
    calm = analyse_device("b", scenario("steady", 12, "regular", 1)[0])
    assert leaky.score > 0.75 > calm.score
    assert leaky.processes[0].score == max(p.score for p in leaky.processes)


def test_fleet_finding_counts_devices_in_the_group() -> None:
    devices, groups = [], {}
    for d in range(8):
        rng = random.Random(d)
        pattern = "thread_leak" if d < 6 else "steady"
        samples, _ = device_series(schedule("regular", 12, rng), rng, [("AiApp", pattern), ("sh", "steady")])
        devices.append(analyse_device(f"cam-{d:03d}", samples))
        groups[f"cam-{d:03d}"] = ["cameras"]
    rng = random.Random(99)
    gw, _ = device_series(schedule("regular", 12, rng), rng, [("AiApp", "thread_leak")])
    devices.append(analyse_device("gw-01", gw))
    groups["gw-01"] = ["gateways"]
    found = fleet_findings(devices, groups)
    f = next(f for f in found if f.kind == "thread_leak")
    assert f.process == "AiApp" and len(f.devices) == 7
    assert f.summary.startswith("rtsp_worker thread leak in AiApp on 6 of 8 devices in group cameras")
    assert set(f.to_json()) >= {"kind", "process", "devices", "summary"}
    assert not any(f.kind == "thread_leak" and f.process == "sh" for f in found)
    assert len(fleet_findings(devices[:1])) == 0


def test_leak_patterns_are_all_labelled() -> None:
    assert set(LEAKS) | set(NON_LEAKS) == set(PATTERNS)


def test_reclaimable_cache_growth_is_a_note_not_an_alarm() -> None:
    """proc_inode_cache grows just from reading /proc (our own capture does it): never above low."""
    slab = [{"proc_inode_cache": 7 * MiB + i * MiB, "kmalloc-256": 2 * MiB} for i in range(15)]
    dev = analyse_device("cam", device([[proc(1, "init")]] * 15, slab=slab))
    f = next(f for f in dev.findings if f.kind == "slab_growth")
    assert f.severity in ("info", "low") and f.evidence["reclaimable"] == "yes"
    assert "reclaimable" in f.summary and "alloc_calls" not in f.summary
    assert dev.score < 0.5


def test_low_items_on_many_devices_are_a_watch_list_not_a_verdict() -> None:
    """200 steady devices of 3 samples each whose shared kernel's slab cache creeps: a low item on
    each device is listed once (severity low), never as "one firmware bug"."""
    devices = []
    for d in range(200):
        slab = [{"kmalloc-cg-1k": 4 * MiB + i * (d % 4 + 1) * 300 * 1024} for i in range(3)]
        devices.append(analyse_device(f"dev-{d:03d}", device([[proc(1, "init")]] * 3, slab=slab)))
    assert all(f.severity == "low" for dev in devices for f in dev.findings)
    found = fleet_findings(devices)
    assert found and all(f.severity == "low" for f in found)
    for f in found:
        assert "firmware bug" not in f.summary and "watch list" in f.summary, f.summary
    assert found[0].process == "slab:kmalloc-cg-1k" and len(found[0].devices) == 200
