"""Sweeps that found the device busy (its load average well above that of the nights around it):
a nightly history leaves their looks out; a session of samples minutes apart keeps them."""

from __future__ import annotations

from dataclasses import replace

from analysis_builder import MiB, device, proc

from fleet.analysis import analyse_device
from fleet.analysis.busy import busy_sweeps
from fleet.metrics.model import DeviceMetrics

DAY = 86400.0


def nightly(
    values: list[float], loads: list[float | None], per: int = 3
) -> list[tuple[float, DeviceMetrics]]:
    """``per`` samples a minute apart at 02:00 each night, the heap of one process given per night."""
    times = [k * DAY + 7200.0 + 60.0 * j for k in range(len(values)) for j in range(per)]
    rows = [[proc(300, "app", anon_private=int(v))] for v in values for _ in range(per)]
    out = device(rows, [1_767_225_600.0 + t for t in times])
    return [(t, replace(dm, load1=loads[i // per])) for i, (t, dm) in enumerate(out)]


def test_a_sweep_far_above_the_load_of_the_nights_around_it_is_busy() -> None:
    loads: list[float | None] = [0.3 + 0.02 * (k % 5) for k in range(21)]
    loads[10] = 2.6
    samples = nightly([10 * MiB] * 21, loads)
    busy = busy_sweeps(samples)
    assert busy == {t for t, _ in samples[30:33]}  # every sample of that sweep, no other


def test_a_lasting_rise_of_load_becomes_the_new_normal() -> None:
    """From night 10 the load stays at 3 (new firmware, or reclaim near exhaustion): only the first
    nights after the change, whose neighbours are still mostly quiet, can look busy."""
    loads: list[float | None] = [0.3] * 10 + [3.0] * 20
    busy = busy_sweeps(nightly([10 * MiB] * 30, loads))
    assert len(busy) <= 3 * 3  # at most the first three nights' samples
    assert not any(t > 1_767_225_600.0 + 14 * DAY for t in busy)


def test_too_few_sweeps_or_no_load_known_set_nothing_aside() -> None:
    assert not busy_sweeps(nightly([10 * MiB] * 6, [0.3, 0.3, 4.0, 0.3, 0.3, 0.3]))
    assert not busy_sweeps(nightly([10 * MiB] * 20, [None] * 20))
    low = [0.05, 0.1] * 10  # twice the usual is not busy without a whole task more
    low[7] = 0.6
    assert not busy_sweeps(nightly([10 * MiB] * 20, low))


def _slow_leak_with_usage_peaks(load_known: bool) -> list[tuple[float, DeviceMetrics]]:
    """Three weeks of a 0.5 MiB/day leak; every fifth night the sweep finds the device busy, its
    heap 2 to 8 MiB higher for that night."""
    values, loads = [], []
    for k in range(21):
        busy = k % 5 == 4
        values.append(
            20 * MiB + 0.5 * k * MiB + ((k * 7) % 5 - 2) * 0.4 * MiB + busy * ((k * 3) % 7 + 2) * MiB
        )
        loads.append((3.0 if busy else 0.4) if load_known else None)
    return nightly(values, loads)


def test_a_nightly_history_leaves_the_looks_of_busy_sweeps_out() -> None:
    """The usage peaks are noise the week-apart pairs must clear: with them the slow leak is only
    a watch item; known to be busy (load average 3 against 0.4), they are left out and it is found."""
    blind = analyse_device("cam", _slow_leak_with_usage_peaks(load_known=False)).processes[0]
    assert [(f.kind, f.severity) for f in blind.findings] == [("heap_growth", "low")]
    seen = analyse_device("cam", _slow_leak_with_usage_peaks(load_known=True)).processes[0]
    f = next(f for f in seen.findings if f.kind == "heap_growth")
    assert f.severity in ("medium", "high") and seen.leaking
    assert f.evidence["busy_nights_left_out"] == 4 and "over 21 nights (4 busy nights left out)" in f.summary


def test_a_history_that_is_not_nightly_keeps_its_busy_samples() -> None:
    """Samples two hours apart, a leak that grows only under load: the busy samples are known
    (each sample is a sweep of its own), and kept, as only a nightly history leaves them out."""
    n = 24
    loads = [3.0 if i % 4 == 3 else 0.3 for i in range(n)]
    heap = [10 * MiB + 4 * MiB * sum(1 for j in range(i + 1) if loads[j] > 1) for i in range(n)]
    samples = device([[proc(300, "app", anon_private=h)] for h in heap], interval=7200.0)
    samples = [(t, replace(dm, load1=loads[i])) for i, (t, dm) in enumerate(samples)]
    assert len(busy_sweeps(samples)) == n // 4
    p = analyse_device("cam", samples).processes[0]
    assert any(f.kind == "heap_growth" and f.severity in ("medium", "high") for f in p.findings)
