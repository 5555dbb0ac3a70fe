"""Sweeps that found the device busy: a usage peak at 02:00 lifts every process's memory, threads and
fds for that night only, noise that a nightly history is better off without.

A sweep is busy when its load average (``load1``, the median of its samples) stands well above that
of the sweeps around it: more than double theirs, at least ``BUSY_LOAD`` runnable tasks more, and
``BUSY_Z`` robust standard deviations clear of their spread. The baseline is local (``BUSY_WINDOW``
sweeps either side), so a lasting change of load (new firmware, a device nearing exhaustion, whose
reclaim keeps the CPU busy) becomes the new normal within days instead of hiding the nights after
it. Only the nightly analysis leaves busy sweeps out (fleet.analysis.stats); a session of samples
minutes apart keeps every one, as a leak may grow only under load.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleet.analysis.stats import BURST_GAP, median
from fleet.metrics.model import DeviceMetrics

BUSY_LOAD = 1.0  # runnable tasks above the usual: a whole core's worth
BUSY_Z = 4.0
BUSY_WINDOW = 7  # sweeps either side that make a sweep's baseline
BUSY_MIN_SWEEPS = 7  # fewer sweeps with a known load: no baseline, nothing set aside


def busy_sweeps(samples: Sequence[tuple[float, DeviceMetrics]]) -> frozenset[float]:
    """The times of the samples of every busy sweep (``samples`` in time order)."""
    sweeps: list[list[float]] = []  # sample times, sweep by sweep
    known: list[list[float]] = []  # their known loads
    last = None
    for t, dm in samples:
        if last is None or t - last > BURST_GAP:
            sweeps.append([])
            known.append([])
        last = t
        sweeps[-1].append(t)
        if dm.load1 is not None:
            known[-1].append(dm.load1)
    seen = [(k, median(x)) for k, x in enumerate(known) if x]
    if len(seen) < BUSY_MIN_SWEEPS:
        return frozenset()
    out: set[float] = set()
    for m, (k, load) in enumerate(seen):
        around = [x for _, x in seen[max(0, m - BUSY_WINDOW) : m + BUSY_WINDOW + 1]]
        usual = median(around)
        spread = 1.4826 * median([abs(x - usual) for x in around])
        if load - usual > max(BUSY_LOAD, usual, BUSY_Z * spread):
            out.update(sweeps[k])
    return frozenset(out)
