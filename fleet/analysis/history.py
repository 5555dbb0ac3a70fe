"""Long histories made short: old samples condensed to one point per bucket of time per boot.

A year of nightly sweeps is ~1,100 samples a device; analysing (and reading) all of them every
night costs time and memory growing with the history. The trends the analysis looks for need the
recent nights at full resolution and the past only as a level per night, week or month, so
:func:`condense` keeps

- the samples of the newest ``FULL_DAYS`` days as they are (3 nights: 9 samples of a 3-sample
  sweep; the nights a report is about, and those whose raw captures hold the maps evidence);
- older samples as one point per bucket and per boot, buckets growing with age (``TIERS``): a day
  for the last four weeks (a 2 MiB/day leak still rises night by night), a week for the last
  quarter, 28 days for the last year, 112 and then 448 days beyond. About 45 points a boot for a
  year, ~10 more for each four times longer history.

Buckets are fixed in time (days from 12:00 UTC, so a night's sweep in Europe, Africa or the
Americas falls in one day; the widths divide each other), so a stored point of a day is merged
into its week later and never re-cut. A point never spans a reboot (``fleet.analysis.series``
runs) nor a change of any field in ``IDENTITY_FIELDS``.

A point is a :class:`DeviceMetrics` at the time of its bucket's median sample (a real sample's
time). Its numbers are medians: per process instance (pid, start time) of its numeric fields, with
its other fields (name, exe, cmdline, thread names, maps classes) from its latest sample and
``at`` the time of its own median sample, so two instances of one program within a bucket stay
apart in time and their lineage and restarts survive; per device the medians of the memory
counters and of each slab cache, with boot id and kernel of the latest sample and the uptime of
the median one (uptime and time stay consistent, for reboots told by uptime alone).
``represents`` counts the samples behind a point (and each process record), ``first_at`` is when
the earliest was taken. Medians are weighted by ``represents``, so points are condensed again
into coarser ones with nearly the medians of the samples themselves.

Single-sample instances of one program in a row within a bucket (a command run in every sample,
a daemon crashing between every two samples) are kept as the latest of them, so such commands do
not grow the history; the analysis counts no restarts in a chain of single-sample instances.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from fleet.analysis.series import boot_runs
from fleet.metrics.model import DeviceMetrics, ProcessMetrics

DAY = 86400.0
ORIGIN = 12 * 3600.0  # days start at 12:00 UTC
FULL_DAYS = 3  # the newest days kept at full resolution
# (least age in days of a bucket's newest day, bucket width in days); each width divides the next.
TIERS: tuple[tuple[int, int], ...] = ((FULL_DAYS, 1), (28, 7), (91, 28), (364, 112), (1456, 448))
# Fields of a sample that a point never merges across (besides the boot: fleet.analysis.series).
IDENTITY_FIELDS: tuple[str, ...] = ("boot_id", "kernel", "kernel_version", "firmware")

PROCESS_MEDIANS = (
    "rss",
    "pss",
    "vm_size",
    "anon_private",
    "threads",
    "fds",
    "stack_count",
    "stack_bytes",
    "shm_count",
    "shm_bytes",
)
DEVICE_MEDIANS = ("load1", "mem_total", "mem_free", "mem_available", "kernel_threads")

Sample = tuple[float, DeviceMetrics]
Bucket = tuple[int, int]  # (first day, width in days)


def day(t: float) -> int:
    """The bucket day of a time: days since the epoch, each starting at 12:00 UTC."""
    return math.floor((t - ORIGIN) / DAY)


def bucket(t: float, newest_day: int) -> Bucket | None:
    """The bucket a sample taken at ``t`` is condensed into when the newest sample is of
    ``newest_day``; None: it is kept at full resolution."""
    d = day(t)
    chosen: Bucket | None = None
    for min_age, width in TIERS:
        start = d - d % width
        if newest_day - (start + width - 1) < min_age:
            break
        chosen = (start, width)
    return chosen


def bucket_span(b: Bucket) -> tuple[float, float]:
    """(start, end) in unix seconds of a bucket: start <= t < end."""
    start, width = b
    return ORIGIN + start * DAY, ORIGIN + (start + width) * DAY


def identity(dm: DeviceMetrics) -> tuple[Any, ...]:
    return tuple(getattr(dm, f, None) for f in IDENTITY_FIELDS)


def condense(samples: Sequence[Sample]) -> list[Sample]:
    """``samples`` (any order; samples or points made by this function) as the newest days at full
    resolution and older ones condensed, oldest first. Idempotent: condensing the result again
    gives it back."""
    ordered = sorted(samples, key=lambda s: s[0])
    if not ordered:
        return []
    newest = day(ordered[-1][0])
    full_from = ORIGIN + (newest - FULL_DAYS + 1) * DAY  # samples since are kept as they are
    buckets = [bucket(t, newest) for t, _ in ordered if t < full_from]
    if all(a != b for a, b in itertools.pairwise(buckets)):
        return ordered  # no two in a bucket in a row (a history read as rolled up): nothing to merge
    return condense_before(ordered, newest, boot_runs(ordered))


def condense_before(ordered: Sequence[Sample], newest_day: int, runs: Sequence[int]) -> list[Sample]:
    """:func:`condense` of time-ordered samples with their boot runs, as of ``newest_day`` (the
    store condenses part of a history with the runs of the whole)."""
    out: list[Sample] = []
    group: list[Sample] = []
    key: tuple[Any, ...] | None = None
    for (t, dm), run in zip(ordered, runs, strict=True):
        b = bucket(t, newest_day)
        k = None if b is None else (b, run, identity(dm))
        if group and k != key:
            out.append(point(group))
            group = []
        if k is None:
            out.append((t, dm))
        else:
            group.append((t, dm))
            key = k
    if group:
        out.append(point(group))
    return out


def point(group: Sequence[Sample]) -> Sample:
    """One point for time-ordered samples (or points) of one bucket, boot and identity."""
    if len(group) == 1:
        return group[0]
    mid = _median_index([dm.represents for _, dm in group])
    t_mid, dm_mid = group[mid]
    members = [dm for _, dm in group]
    values = _medians(members, DEVICE_MEDIANS, [dm.represents for dm in members])
    first_t, first = group[0]
    return t_mid, replace(
        members[-1],
        **values,
        uptime=dm_mid.uptime,
        slab=_slab(members),
        processes=_processes(group),
        represents=sum(dm.represents for dm in members),
        first_at=first.first_at if first.first_at is not None else first_t,
    )


def _slab(members: Sequence[DeviceMetrics]) -> dict[str, int]:
    """Median bytes of each cache over the members that read slabinfo."""
    values: dict[str, list[tuple[Any, int]]] = {}
    for dm in members:
        for cache, b in dm.slab.items():
            values.setdefault(cache, []).append((b, dm.represents))
    return {cache: _weighted_median(v) for cache, v in values.items()}


def _processes(group: Sequence[Sample]) -> tuple[ProcessMetrics, ...]:
    by_key: dict[tuple[int, int], list[tuple[float, ProcessMetrics]]] = {}
    for t, dm in group:
        for pm in dm.processes:
            by_key.setdefault((pm.pid, pm.start_time), []).append((pm.at if pm.at is not None else t, pm))
    records = sorted((_instance(m) for m in by_key.values()), key=lambda r: r.at or 0.0)
    kept: list[ProcessMetrics | None] = []
    single: dict[tuple[str, str | None], int] = {}  # program -> index in kept of its latest lone record
    for rec in records:
        program = (rec.name, rec.exe)
        if rec.represents > 1:
            single.pop(program, None)
        elif program in single:
            kept[single[program]] = None  # an earlier one of a row of single-sample instances
        if rec.represents == 1:
            single[program] = len(kept)
        kept.append(rec)
    return tuple(r for r in kept if r is not None)


def _instance(members: Sequence[tuple[float, ProcessMetrics]]) -> ProcessMetrics:
    """One record of one process instance: medians of its numbers, the rest from its latest."""
    if len(members) == 1:
        t, pm = members[0]
        return pm if pm.at == t else replace(pm, at=t)
    weights = [pm.represents for _, pm in members]
    at = members[_median_index(weights)][0]
    values = _medians([pm for _, pm in members], PROCESS_MEDIANS, weights)
    return replace(members[-1][1], **values, at=at, represents=sum(weights))


def _median_index(weights: Sequence[int]) -> int:
    """Index of the (lower) weighted median of items in order."""
    total = sum(weights)
    acc = 0
    for i, w in enumerate(weights):
        acc += w
        if 2 * acc >= total:
            return i
    return len(weights) - 1


def _medians(records: Sequence[Any], fields: Sequence[str], weights: Sequence[int]) -> dict[str, Any]:
    """Lower (weighted) median of each field's known values over ``records``; None if none is known."""
    uniform = all(w == 1 for w in weights)  # samples as taken: the plain median, much cheaper
    out: dict[str, Any] = {}
    for f in fields:
        values = [getattr(r, f) for r in records]
        if uniform:
            known = sorted(v for v in values if v is not None)
            out[f] = known[(len(known) - 1) // 2] if known else None
        else:
            out[f] = _weighted_median([(v, w) for v, w in zip(values, weights, strict=True) if v is not None])
    return out


def _weighted_median(values: Sequence[tuple[Any, int]]) -> Any:
    """Lower weighted median of (value, weight) pairs (a real value, never an average); None if none."""
    if not values:
        return None
    known = sorted(values)
    return known[_median_index([w for _, w in known])][0]


def samples_of(points: Sequence[Sample]) -> int:
    """How many samples a history of points stands for."""
    return sum(dm.represents for _, dm in points)


def first_of(points: Sequence[Sample]) -> float | None:
    """When the earliest sample behind a history of points was taken."""
    if not points:
        return None
    t, dm = min(points, key=lambda p: p[0])
    return dm.first_at if dm.first_at is not None else t
