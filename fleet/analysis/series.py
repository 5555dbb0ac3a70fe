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

from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from fleet.metrics.model import DeviceMetrics, ProcessMetrics

USER_HZ = 100  # clock ticks a second of /proc/<pid>/stat start_time (the kernel's ABI value)


@dataclass
class Instance:
    """One process instance: its samples in time order."""

    run: int
    pid: int
    start_time: int
    times: list[float] = field(default_factory=list)
    records: list[ProcessMetrics] = field(default_factory=list)
    # When it started (unix seconds: its boot, from the device's uptime, plus start_time), None when
    # the device gave no uptime: how far into its life a condensed point of it is (its warm-up).
    started: float | None = None

    @property
    def name(self) -> str:
        return self.records[-1].name

    @property
    def exe(self) -> str | None:
        return self.records[-1].exe

    @cached_property
    def samples(self) -> int:
        """Samples of it, those behind condensed records included (asked once its records are all in)."""
        return sum(r.represents for r in self.records)


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


def instances(samples: Sequence[tuple[float, DeviceMetrics]], runs: Sequence[int]) -> list[Instance]:
    """Group process records by identity (run, pid, start_time); kernel threads are skipped."""
    by_key: dict[tuple[int, int, int], Instance] = {}
    for (t, dm), run in zip(samples, runs, strict=True):
        for pm in dm.processes:
            if pm.kernel_thread:
                continue
            key = (run, pm.pid, pm.start_time)
            inst = by_key.get(key)
            if inst is None:
                started = None if dm.uptime is None else t - dm.uptime + pm.start_time / USER_HZ
                inst = by_key[key] = Instance(run, pm.pid, pm.start_time, started=started)
            inst.times.append(t if pm.at is None else pm.at)
            inst.records.append(pm)
    return list(by_key.values())


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
