"""Identity over time: boots of a device, instances of a process, and lineages across restarts.

- A device *run* is one boot of one firmware: a new ``boot_id``, or (when the kernel gives none)
  uptime going backwards, starts a new run; so does a new firmware identity (capture format 6),
  even without a reboot seen: a new firmware is a new baseline, its trends never joined to the old.
- A process *instance* is (run, pid, start_time). The run is part of the key because embedded
  devices boot deterministically: the same pid and start time can come back after a reboot.
- A condensed point of a long history (``fleet.analysis.history``) stands for several samples:
  each process record carries its own time (``at``) and sample count (``represents``).
- A *lineage* chains instances with the same name and executable that never overlap in time, so a
  daemon restarted by a watchdog stays one series and its leak still shows.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from fleet.metrics.model import DeviceMetrics, Past, PastInstance, ProcessMetrics

USER_HZ = 100  # clock ticks a second of /proc/<pid>/stat start_time (the kernel's ABI value)


@dataclass
class Instance:
    """One process instance: its samples in time order.

    Its points in a device's condensed past, when it has some, are entries ``past_from`` to
    ``past_to`` of ``past``, read column by column; ``records`` are those of the samples after them.
    Ask for its columns and ends once every record is in.
    """

    run: int
    pid: int
    start_time: int
    times: list[float] = field(default_factory=list)
    records: list[ProcessMetrics] = field(default_factory=list)
    # When it started (unix seconds: its boot, from the device's uptime, plus start_time), None when
    # the device gave no uptime: how far into its life a condensed point of it is (its warm-up).
    started: float | None = None
    past: PastInstance | None = None
    past_from: int = 0
    past_to: int = 0
    _columns: dict[str, list[Any]] = field(default_factory=dict, repr=False, compare=False)

    def column(self, name: str) -> list[Any]:
        """A field's value at each of its samples, in time order (one of the fields a condensed
        past keeps as columns: fleet.store.codec.PROCESS_COLUMNS)."""
        col = self._columns.get(name)
        if col is None:
            col = [getattr(r, name) for r in self.records]
            if self.past is not None:
                col = self.past.columns[name][self.past_from : self.past_to] + col
            self._columns[name] = col
        return col

    @cached_property
    def first(self) -> ProcessMetrics:
        return self.past.record(self.past_from) if self.past is not None else self.records[0]

    @cached_property
    def last(self) -> ProcessMetrics:
        return self.records[-1] if self.records or self.past is None else self.past.record(self.past_to - 1)

    @property
    def name(self) -> str:
        return self.last.name

    @property
    def exe(self) -> str | None:
        return self.last.exe

    @cached_property
    def samples(self) -> int:
        """Samples of it, those behind condensed records included."""
        return sum(self.column("represents"))


@dataclass
class Lineage:
    """Instances of one program in time order; ``restarts`` counts new instances within a boot."""

    instances: list[Instance]

    @property
    def latest(self) -> Instance:
        return self.instances[-1]

    @property
    def restarts(self) -> int:
        """Restarts within one boot; after a reboot every process is new, which is the reboot's story.

        A chain of one-sample instances is a short-lived command (a shell, the capture itself)
        appearing in every sample, not a daemon restarting.
        """
        if all(i.samples < 2 for i in self.instances):
            return 0
        return sum(1 for a, b in zip(self.instances, self.instances[1:], strict=False) if a.run == b.run)

    @property
    def samples(self) -> int:
        return sum(i.samples for i in self.instances)


def _rebooted(prev: DeviceMetrics, dm: DeviceMetrics, dt: float) -> bool:
    """A new boot between two samples ``dt`` seconds apart: a new boot_id, else uptime went back."""
    if dm.boot_id is not None and prev.boot_id is not None:
        return dm.boot_id != prev.boot_id
    if dm.uptime is not None and prev.uptime is not None:
        # Without a reboot uptime advances with the wall clock; allow slack for clock drift.
        return dm.uptime + max(60.0, 0.01 * dt) < prev.uptime + dt
    return False


@dataclass(frozen=True)
class Boundaries:
    """Where a device's series breaks: the run index of every sample, and why runs began."""

    runs: list[int]
    reboots: int  # runs begun by a new boot
    # (time, old, new) of each firmware change: the first sample of the new identity. A sample
    # without one (captured before format 6, or the file unreadable) changes nothing.
    firmware_changes: list[tuple[float, str, str]]


def boundaries(samples: Sequence[tuple[float, DeviceMetrics]]) -> Boundaries:
    """Run index (0, 1, ...) of every sample: a reboot or a firmware change starts a run."""
    runs: list[int] = []
    run = reboots = 0
    changes: list[tuple[float, str, str]] = []
    prev: DeviceMetrics | None = None
    prev_t = 0.0
    firmware: str | None = None  # the last firmware identity seen
    for t, dm in samples:
        if prev is not None:
            rebooted = _rebooted(prev, dm, t - prev_t)
            changed = dm.firmware is not None and firmware is not None and dm.firmware != firmware
            reboots += rebooted
            if changed:
                changes.append((t, firmware or "", dm.firmware or ""))
            if rebooted or changed:
                run += 1
        runs.append(run)
        prev, prev_t = dm, t
        firmware = dm.firmware if dm.firmware is not None else firmware
    return Boundaries(runs, reboots, changes)


def boot_runs(samples: Sequence[tuple[float, DeviceMetrics]]) -> list[int]:
    """Run index (0, 1, ...) of every sample: a new boot_id, uptime going backwards or a new
    firmware identity starts a run."""
    return boundaries(samples).runs


Key = tuple[int, int, int]  # (run, pid, start_time): a process instance


def instances(
    samples: Sequence[tuple[float, DeviceMetrics]], runs: Sequence[int], past: Past | None = None
) -> list[Instance]:
    """Group process records by identity (run, pid, start_time); kernel threads are skipped.

    ``past``: the processes of the condensed points among ``samples`` (which then hold none),
    instance by instance. The instances come out as if every point held its records.
    """
    by_key: dict[Key, Instance] = {}
    first: dict[Key, tuple[int, int]] = {}  # where an instance is first seen: (sample, place)
    for n, ((t, dm), run) in enumerate(zip(samples, runs, strict=True)):
        for slot, pm in enumerate(dm.processes):
            if pm.kernel_thread:
                continue
            key = (run, pm.pid, pm.start_time)
            inst = by_key.get(key)
            if inst is None:
                inst = by_key[key] = Instance(
                    run, pm.pid, pm.start_time, started=_started(t, dm, pm.start_time)
                )
                first[key] = (n, slot)
            inst.times.append(t if pm.at is None else pm.at)
            inst.records.append(pm)
    if past is None or not past.instances:
        return list(by_key.values())
    for key, parts in _past_parts(past, samples, runs).items():
        later = by_key.get(key)
        part = parts[0]
        if len(parts) == 1 and (later is None or first[key][0] > part.places[-1]):
            p = part.inst
            inst = Instance(*key, p.times[part.k0 : part.k1], [], part.started, p, part.k0, part.k1)
            if later is not None:
                inst.times += later.times
                inst.records = later.records
        else:  # its records in the order the samples would hold them (a rare, hostile store's case)
            inst = _merged(key, parts, samples, runs)
        by_key[key] = inst
        first[key] = min(first.get(key, part.start), *(p.start for p in parts))
    return [by_key[key] for key in sorted(by_key, key=first.__getitem__)]


def _started(t: float, dm: DeviceMetrics, start_time: int) -> float | None:
    return None if dm.uptime is None else t - dm.uptime + start_time / USER_HZ


@dataclass(frozen=True)
class _Part:
    """Entries ``k0`` to ``k1`` of a past instance, of one run, at ``places`` among the samples."""

    inst: PastInstance
    k0: int
    k1: int
    places: list[int]
    started: float | None

    @property
    def start(self) -> tuple[int, int]:
        """(sample, place in it) of its first entry."""
        return self.places[0], self.inst.slots[self.k0]


def _past_parts(
    past: Past, samples: Sequence[tuple[float, DeviceMetrics]], runs: Sequence[int]
) -> dict[Key, list[_Part]]:
    """The past's instances split at the runs of ``samples`` (one part a run), by instance key."""
    at = past.places(samples)
    out: dict[Key, list[_Part]] = {}
    for p in past.instances:
        kept = bisect_left(p.points, past.dropped)
        places = [at[i - past.dropped] for i in p.points[kept:]]
        flips = p.changes is not None and any(c and "kernel_thread" in c for c in p.changes)
        if not places or (p.fields["kernel_thread"] and not flips):
            continue
        if flips:  # a record at a time, those of kernel threads left out (no real process does this)
            cuts = [(k, k + 1) for k in range(kept, len(p.points)) if not p.record(k).kernel_thread]
        elif runs[places[0]] == runs[places[-1]]:  # runs never go back: one run
            cuts = [(kept, len(p.points))]
        else:
            bounds = [j for j in range(1, len(places)) if runs[places[j]] != runs[places[j - 1]]]
            cuts = [(kept + a, kept + b) for a, b in itertools.pairwise([0, *bounds, len(places)])]
        for k0, k1 in cuts:
            mine = places[k0 - kept : k1 - kept]
            t, dm = samples[mine[0]]
            part = _Part(p, k0, k1, mine, _started(t, dm, p.start_time))
            out.setdefault((runs[mine[0]], p.pid, p.start_time), []).append(part)
    return out


def _merged(
    key: Key, parts: list[_Part], samples: Sequence[tuple[float, DeviceMetrics]], runs: Sequence[int]
) -> Instance:
    """One instance from its records, past and sampled, in the order of (sample, place)."""
    entries = [
        (n, part.inst.slots[k], part.inst.times[k], part.inst.record(k))
        for part in parts
        for k, n in zip(range(part.k0, part.k1), part.places, strict=True)
    ]
    for n, ((t, dm), run) in enumerate(zip(samples, runs, strict=True)):
        if run == key[0]:
            entries.extend(
                (n, slot, t if pm.at is None else pm.at, pm)
                for slot, pm in enumerate(dm.processes)
                if (pm.pid, pm.start_time) == key[1:] and not pm.kernel_thread
            )
    entries.sort(key=lambda e: e[:2])
    n, _, _, _ = entries[0]
    inst = Instance(*key, started=_started(samples[n][0], samples[n][1], key[2]))
    inst.times = [e[2] for e in entries]
    inst.records = [e[3] for e in entries]
    return inst


def lineages(insts: Sequence[Instance]) -> list[Lineage]:
    """Chain instances of the same (name, exe) that do not overlap in time.

    When several copies run at once (worker pools), each copy gets its own chain; a new instance
    continues the chain that ended most recently before it started (the first such chain on a tie).
    The chains' ends are kept sorted, so a device printing thousands of same-named processes in
    every sample costs n log n here, not n squared.
    """
    groups: dict[tuple[str, str | None], list[Instance]] = {}
    for inst in insts:
        groups.setdefault((inst.name, inst.exe), []).append(inst)
    out: list[Lineage] = []
    for members in groups.values():
        if len(members) == 1:
            out.append(Lineage(members))
            continue
        members.sort(key=lambda i: (i.times[0], i.run, i.start_time))
        chains: list[list[Instance]] = []
        ends: list[tuple[float, int]] = []  # (end of chain k, -k), ascending
        for inst in members:
            at = bisect_left(ends, (inst.times[0], -len(chains)))  # ends before this start: ends[:at]
            if at:
                _, minus_k = ends.pop(at - 1)
            else:
                minus_k = -len(chains)
                chains.append([])
            chains[-minus_k].append(inst)
            insort(ends, (inst.times[-1], minus_k))
        out.extend(Lineage(c) for c in chains)
    return out
