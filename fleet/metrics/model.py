"""Parsed metrics of one sample: the bridge between the /proc parsers and the analysis.

All sizes are bytes. ``None`` means "not known" (an old kernel without the field, an unreadable
file), never zero. These records are what the store indexes and what the analysis reads; the raw
capture they came from is kept beside them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProcessMetrics:
    """One process (pid + start time) at one sample."""

    pid: int
    start_time: int  # /proc/<pid>/stat field 22, clock ticks after boot: (pid, start_time) is identity
    name: str  # comm
    exe: str | None = None  # main executable path, from maps
    cmdline: str | None = None  # NULs turned into spaces
    rss: int | None = None  # VmRSS
    pss: int | None = None  # smaps_rollup Pss (Linux 4.15+); captures since format 3 skip it
    vm_size: int | None = None  # VmSize
    anon_private: int | None = None  # resident anon pages: statm resident - shared, status RssAnon (4.5+)
    threads: int | None = None  # live tasks (status Threads:, stat field 20, or the task list)
    stack_count: int = 0  # thread-stack mappings in maps (annotated or found by shape)
    stack_bytes: int = 0
    stack_size: int | None = None  # inferred size of one thread stack
    thread_names: Mapping[str, int] = field(default_factory=dict)  # comm -> live tasks with it
    fds: int | None = None
    shm_count: int = 0  # SYSV shm attachments (/SYSV........ (deleted))
    shm_bytes: int = 0
    class_counts: Mapping[str, int] = field(default_factory=dict)  # maps class -> mappings
    class_bytes: Mapping[str, int] = field(default_factory=dict)  # maps class -> bytes
    address_bits: int | None = None  # 32 or 64 when maps shows it; bounds a 32-bit process's growth
    # no maps, no VmSize: nothing of its own to leak. Kernel threads that stat marks as such
    # (PF_KTHREAD) are counted in DeviceMetrics.kernel_threads instead; this marks the rest.
    kernel_thread: bool = False
    maps_digest: str | None = None  # of the maps dump the fields above came from (fleet.extract)
    # In a condensed point of a long history (fleet.analysis.history): the time of this instance's
    # median sample within the point's bucket, and how many samples of it the record stands for.
    # None and 1 in a sample as captured.
    at: float | None = None
    represents: int = 1


# The ProcessMetrics fields computed from maps: copied as they are when a later sample's maps dump
# is the same (same digest).
MAPS_FIELDS = (
    "exe",
    "stack_count",
    "stack_bytes",
    "stack_size",
    "shm_count",
    "shm_bytes",
    "class_counts",
    "class_bytes",
    "address_bits",
)


@dataclass(frozen=True)
class DeviceMetrics:
    """One device at one sample."""

    boot_id: str | None = None
    kernel: str | None = None  # osrelease
    # Since capture format 6 (None before): /proc/version's line (the kernel's build), and the
    # firmware's version from the first of the inventory's firmware_files found (fleet.metrics.firmware).
    # Device text, at most MAX_FIRMWARE characters: a change is a new baseline (fleet.analysis.series).
    kernel_version: str | None = None
    firmware: str | None = None
    uptime: float | None = None  # seconds
    load1: float | None = None
    mem_total: int | None = None
    mem_free: int | None = None
    mem_available: int | None = None  # MemAvailable, or MemFree+Buffers+Cached before Linux 3.14
    mem_available_estimated: bool = False  # True when computed for an old kernel
    slab: Mapping[str, int] = field(default_factory=dict)  # cache name -> bytes (active_objs * objsize)
    # Kernel threads seen: counted, not recorded one by one; a device has 50-150 of them, nothing
    # of their own to leak, and the analysis skips them. Since capture format 4 the device counts
    # the pids without a program (no exe link) and reads nothing of them, so zombies are counted
    # here too; a shell that may not read exe links reads every stat, and PF_KTHREAD tells them.
    # None: not counted (samples stored before fleet counted them, which hold them as processes).
    kernel_threads: int | None = None
    processes: tuple[ProcessMetrics, ...] = ()  # user processes (kernel threads are only counted)
    problems: tuple[str, ...] = ()  # files that could not be parsed: "pid 412 maps: line 3: ..."
    # A condensed point of a long history (fleet.analysis.history) stands for ``represents``
    # samples, the earliest taken at ``first_at``; a sample as captured stands for itself (1, None).
    represents: int = 1
    first_at: float | None = None

    @property
    def partial(self) -> bool:
        """True when some file of the capture could not be parsed."""
        return bool(self.problems)


@dataclass(frozen=True)
class PastInstance:
    """One process instance of a device's condensed past (``fleet.store.codec``), column by column.

    The analysis reads a year's ~45 points of each process as lists: building a record a point,
    then regrouping the records by instance, cost more than the rest of its reading together. A
    record is made only where one is asked for (:meth:`record`: the first and the last, evidence).
    """

    pid: int
    start_time: int
    points: list[int]  # the past's points it is in (indices, oldest first)
    slots: list[int]  # its place among the processes of each of those points
    columns: Mapping[str, list[Any]]  # the fields that differ from point to point: one value a point
    times: list[float]  # its own time at each point (``at``, else the point's)
    fields: Mapping[str, Any]  # its other fields, as they are at its first point
    changes: list[Mapping[str, Any] | None] | None  # a point's other fields that differ; None: none do

    def record(self, k: int) -> ProcessMetrics:
        """Its record at its ``k``-th point (fields checked when the past was read)."""
        pm = object.__new__(ProcessMetrics)
        f = pm.__dict__
        f.update(self.fields)
        for name, column in self.columns.items():
            f[name] = column[k]
        change = self.changes[k] if self.changes is not None else None
        if change:
            f.update(change)
        return pm


@dataclass(frozen=True)
class Past:
    """A device's condensed past as the analysis reads it (``fleet.store.Store.analysed_history``):
    its points, with no processes, and its processes instance by instance. ``dropped``: the oldest
    points left out (a size budget); an instance's point ``i`` is ``points[i - dropped]``."""

    points: list[tuple[float, DeviceMetrics]]
    instances: list[PastInstance]
    dropped: int = 0

    def places(self, samples: Sequence[tuple[float, DeviceMetrics]]) -> list[int]:
        """Where each of its points sits in ``samples`` (a history holding them, sorted by time)."""
        where = {id(dm): n for n, (_, dm) in enumerate(samples)}
        return [where[id(dm)] for _, dm in self.points]
