"""Condensed histories (issue 24): a year of nightly sweeps analysed as ~55 points a boot, with the
same verdicts, restarts, reboots and lineages as the full-resolution series."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from fleet.analysis import analyse_device
from fleet.analysis.history import FULL_DAYS, bucket, condense, day, first_of, samples_of
from fleet.analysis.model import DeviceAssessment, ProcessAssessment
from fleet.metrics.model import DeviceMetrics
from tests.support.synthetic import device_series, nightly_sweeps

Series = list[tuple[float, DeviceMetrics]]


def generated(pattern: str, n_nights: int, seed: int = 7, **kw: object) -> Series:
    rng = random.Random(seed)
    procs = [("target", pattern)] + [(f"daemon{k}", "steady") for k in range(4)]
    samples, _ = device_series(nightly_sweeps(n_nights, rng), rng, procs, **kw)  # type: ignore[arg-type]
    return samples


def target(a: DeviceAssessment) -> ProcessAssessment:
    return next(p for p in a.processes if p.name == "target")


def verdict(p: ProcessAssessment) -> tuple[bool, list[str]]:
    return p.leaking, sorted(f.kind for f in p.findings)


@pytest.mark.parametrize(("n_nights", "at_most"), [(10, 30), (100, 60), (365, 60), (1000, 80)])
def test_points_are_bounded_whatever_the_history(n_nights: int, at_most: int) -> None:
    """30 / 300 / 1,095 / 3,000 samples: at most ~60 points, ~80 for nearly three years."""
    full = generated("steady", n_nights)
    points = condense(full)
    assert len(full) == 3 * n_nights
    assert len(points) <= min(at_most, len(full))
    assert samples_of(points) == len(full)
    assert first_of(points) == full[0][0]
    newest = day(full[-1][0])
    recent = [s for s in full if newest - day(s[0]) < FULL_DAYS]
    assert points[-len(recent) :] == recent  # the newest days as they were


def test_condensing_again_changes_nothing() -> None:
    points = condense(generated("heap_leak", 200))
    assert condense(points) == points


def test_stored_points_merge_into_coarser_ones() -> None:
    """Condensed as of an earlier night, then with later samples: the same buckets and counts as
    condensing the samples all at once, and medians close to theirs."""
    full = generated("heap_leak", 200)
    cut = len(full) - 3 * 60
    merged = condense(condense(full[:cut]) + full[cut:])
    direct = condense(full)
    assert [(dm.represents, dm.first_at) for _, dm in merged] == [
        (dm.represents, dm.first_at) for _, dm in direct
    ]
    for (t1, m1), (t2, m2) in zip(merged, direct, strict=True):
        assert bucket(t1, day(full[-1][0])) == bucket(t2, day(full[-1][0]))
        assert m1.mem_available is not None and m2.mem_available is not None
        assert abs(m1.mem_available - m2.mem_available) < 4 * 2**20
    assert verdict(target(analyse_device("d", merged))) == verdict(target(analyse_device("d", direct)))


@pytest.mark.parametrize(
    "pattern",
    [
        "heap_leak",
        "slow_leak",
        "thread_leak",
        "unjoined_threads",
        "fd_leak",
        "shm_leak",
        "restart_leak",
        "sawtooth_rising",
        "steady",
        "noisy",
        "warmup",
        "sawtooth_flat",
        "restart_only",
    ],
)
@pytest.mark.parametrize("n_nights", [100, 365])
def test_condensed_verdict_is_the_full_one(pattern: str, n_nights: int) -> None:
    """Over four generated devices per pattern the verdict (leaking, finding kinds) is the same in
    at least three: trends near the bar may tip either way (condensed medians are less noisy)."""
    same = 0
    for seed in range(4):
        full = generated(pattern, n_nights, seed=seed)
        a, b = analyse_device("d", full), analyse_device("d", condense(full))
        same += verdict(target(b)) == verdict(target(a))
        assert (b.samples, b.first_sample, b.last_sample) == (a.samples, a.first_sample, a.last_sample)
        assert target(b).samples == target(a).samples
    assert same >= 3


def test_watchdog_restarted_leak_stays_one_lineage() -> None:
    """restart_leak restarts every 5-10 samples: a year of restarts, condensed, is still one
    lineage with every restart counted and the leak found across them."""
    full = generated("restart_leak", 365)
    points = condense(full)
    a, b = target(analyse_device("d", full)), target(analyse_device("d", points))
    assert len([p for p in analyse_device("d", points).processes if p.name == "target"]) == 1
    assert b.restarts == a.restarts > 100
    assert "heap_growth" in verdict(b)[1] and b.leaking
    restart = next(f for f in b.findings if f.kind == "restart")
    assert restart.evidence["samples"] == len(full)


@pytest.mark.parametrize("boot_id", [True, False])
def test_reboot_in_the_condensed_past_is_kept(boot_id: bool) -> None:
    """A reboot 200 nights ago (told by boot id, or by uptime alone) splits the buckets: the
    condensed history has the same two boots, and MemAvailable's decline is judged per boot (a
    decline that stays above zero: one that hit zero months ago and stayed there is a plateau)."""
    full = generated("heap_leak", 365, reboot_at=3 * 165, boot_id=boot_id, mem_decline=10.0)
    points = condense(full)
    a, b = analyse_device("d", full), analyse_device("d", points)
    assert a.boots == b.boots == 2
    reboot = next(f for f in b.findings if f.kind == "reboot")
    assert reboot.evidence["samples"] == len(full)
    assert reboot.evidence == next(f for f in a.findings if f.kind == "reboot").evidence
    assert {f.kind for f in b.findings} == {f.kind for f in a.findings}
    assert verdict(target(b)) == verdict(target(a))


@pytest.mark.parametrize("field", ["kernel", "kernel_version", "firmware"])
def test_a_change_of_identity_is_never_merged(field: str) -> None:
    """A kernel or firmware upgrade without a new boot id (an identity field) splits the bucket it
    falls in (a firmware change also starts a new run: fleet.analysis.series)."""
    full = generated("steady", 120)
    k = 3 * 40 + 1  # mid-night: a day bucket with samples of both versions
    changed = [(t, replace(m, **{field: "5.10" if i >= k else "5.4"})) for i, (t, m) in enumerate(full)]
    points = condense(changed)
    assert len(points) == len(condense(full)) + 1
    seen = [getattr(m, field) for _, m in points]
    assert seen == sorted(seen, key=lambda x: x == "5.10") and "5.10" in seen and "5.4" in seen


def test_a_point_is_of_real_samples() -> None:
    """The point's time is its median sample's, its numbers medians of the samples' (not means)."""
    full = generated("heap_leak", 40)
    points = condense(full)
    by_time = dict(full)
    for t, m in points:
        assert t in by_time
        if m.represents > 1:
            assert m.first_at is not None and m.first_at <= t
            assert m.uptime == by_time[t].uptime
            members = [
                s
                for s in full
                if m.first_at <= s[0] and bucket(s[0], day(full[-1][0])) == bucket(t, day(full[-1][0]))
            ]
            assert len(members) == m.represents
            values = sorted(x.mem_available or 0 for _, x in members)
            assert m.mem_available == values[(len(values) - 1) // 2]
            for p in m.processes:
                assert p.at is not None and p.at in by_time


def test_single_sample_commands_keep_one_record_a_bucket() -> None:
    """A command seen once in every sample (a new pid each time) is one record per bucket, not one
    per sample: its records do not grow with the history."""
    full = generated("steady", 200)
    with_shell = [
        (
            t,
            replace(
                m,
                processes=(
                    *m.processes,
                    replace(m.processes[0], pid=5000 + i, start_time=i, name="sh", exe="/bin/sh"),
                ),
            ),
        )
        for i, (t, m) in enumerate(full)
    ]
    points = condense(with_shell)
    shells = [p for _, m in points for p in m.processes if p.name == "sh"]
    assert len(shells) == len(points)
    sh = next(p for p in analyse_device("d", points).processes if p.name == "sh")
    assert sh.restarts == 0 and not sh.findings
